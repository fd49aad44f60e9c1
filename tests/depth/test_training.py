"""Training the body-part forest: pixel sampling, mirrored frames, determinism, and a tiny model that
clearly beats chance on held-out frames."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core.forest import Forest
from segstudio.depth.body import render_frame
from segstudio.depth.evaluation import EVAL_FIRST_SEED, mean_class_accuracy, part_confusion
from segstudio.depth.parts import BACKGROUND, N_PARTS, swap_left_right
from segstudio.depth.training import (
    TrainingParams,
    balanced_leaves,
    sample_pixels,
    train_body_parts,
    training_frames,
)

TINY = TrainingParams(
    frames=3, pixels_per_frame=150, features=50, candidate_features=None, min_samples_leaf=2, trees=2, depth=6
)


@pytest.mark.parametrize("level_wise", [True, False], ids=["level-wise", "dense"])
def test_training_is_deterministic_for_a_seed(level_wise: bool) -> None:
    tiny = TrainingParams(**{**TINY.__dict__, "level_wise": level_wise})
    first, second = train_body_parts(tiny), train_body_parts(tiny)
    for name in ("feature", "threshold", "child", "roots", "leaf_proba"):
        np.testing.assert_array_equal(getattr(first.forest, name), getattr(second.forest, name))
    np.testing.assert_array_equal(first.bank.u, second.bank.u)
    np.testing.assert_array_equal(first.bank.v, second.bank.v)
    other = train_body_parts(TrainingParams(**{**tiny.__dict__, "seed": 1}))
    assert other.forest.n_nodes != first.forest.n_nodes or not np.array_equal(
        other.forest.threshold, first.forest.threshold
    )


def test_model_records_how_it_was_trained() -> None:
    info = train_body_parts(TINY).info
    assert (info.frames, info.pixels_per_frame, info.trees, info.depth, info.features) == (3, 150, 2, 6, 50)
    assert info.frame_seeds == range(0, 3) and info.mirrored


def test_training_frames_add_mirror_images() -> None:
    frames = list(training_frames(TrainingParams(frames=2)))
    assert len(frames) == 4
    original, mirrored = frames[0], frames[1]
    np.testing.assert_array_equal(mirrored.depth, original.depth[:, ::-1])
    np.testing.assert_array_equal(mirrored.parts, swap_left_right(original.parts[:, ::-1]))
    assert len(list(training_frames(TrainingParams(frames=2, mirror=False)))) == 2


def test_sample_pixels_are_distinct_body_pixels() -> None:
    parts = render_frame(0).parts
    pixels, labels = sample_pixels(parts, 500, np.random.default_rng(0))
    assert len(pixels) == 500 == len(np.unique(pixels, axis=0))
    np.testing.assert_array_equal(parts[pixels[:, 0], pixels[:, 1]], labels)
    assert (labels != BACKGROUND).all()
    everything, _ = sample_pixels(parts, 10**7, np.random.default_rng(0))
    assert len(everything) == (parts != BACKGROUND).sum()
    empty, empty_labels = sample_pixels(np.full((4, 4), BACKGROUND, np.uint8), 10, np.random.default_rng(0))
    assert empty.shape == (0, 2) and empty_labels.size == 0


def test_balanced_sampling_evens_out_the_parts() -> None:
    parts = render_frame(0).parts

    def spread(balance: float) -> float:
        _, labels = sample_pixels(parts, 2000, np.random.default_rng(0), balance)
        counts = np.bincount(labels, minlength=N_PARTS)
        counts = counts[counts > 0]
        return counts.max() / counts.min()

    assert spread(1.0) < spread(0.5) < spread(0.0)


def test_balanced_leaves_divide_out_the_part_frequencies() -> None:
    """A lone leaf that saw part 0 three times as often as part 1, in data where part 0 is three
    times as common: balanced, the leaf is undecided."""
    leaf = np.zeros((1, N_PARTS), np.float32)
    leaf[0, :2] = 0.75, 0.25
    stump = Forest(
        np.array([-1], np.int32),
        np.zeros(1, np.float32),
        np.array([-1], np.int32),
        np.array([0], np.int32),
        leaf,
        n_features=1,
    )
    balanced = balanced_leaves(stump, np.array([0, 0, 0, 1]))
    np.testing.assert_allclose(balanced.leaf_proba[0, :2], [0.5, 0.5])
    assert balanced.leaf_proba.sum() == pytest.approx(1.0) and balanced.leaf_proba.dtype == np.float32


@pytest.mark.parametrize(
    "bad",
    [
        {"frames": 0},
        {"pixels_per_frame": 0},
        {"features": 0},
        {"balance": 1.5},
        {"first_frame": -1},
        {"refit_frames": -1},
        {"refit_first_frame": -1},
        {"refit_pixels": -1},
        {"refit_balance": -0.5},
        {"refit_prior": -1.0},
    ],
)
def test_bad_parameters_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        TrainingParams(**bad)


def test_a_tiny_model_clearly_beats_chance_on_held_out_frames() -> None:
    params = TrainingParams(
        frames=12,
        pixels_per_frame=300,
        features=100,
        candidate_features=20,
        min_samples_leaf=5,
        trees=3,
        depth=12,
    )
    model = train_body_parts(params)
    confusion = np.zeros((N_PARTS, N_PARTS + 1), np.int64)
    for seed in range(EVAL_FIRST_SEED, EVAL_FIRST_SEED + 3):
        frame = render_frame(seed)
        confusion += part_confusion(frame.parts, model.predict(frame.depth, frame.parts != BACKGROUND).parts)
    assert mean_class_accuracy(confusion) > 4.0 / N_PARTS  # chance is 1/31


def test_disjoint_trees_each_learn_from_their_own_frames() -> None:
    params = TrainingParams(
        frames=5, pixels_per_frame=120, features=40, min_samples_leaf=2, trees=2, depth=6, disjoint_trees=True
    )
    shares = params.tree_shares()
    assert [(s.first_frame, s.frames, s.trees) for s in shares] == [(0, 2, 1), (2, 3, 1)]
    assert len({s.seed for s in shares}) == 2
    model = train_body_parts(params)
    assert model.forest.n_trees == 2 and model.info.disjoint_trees
    assert model.info.frame_seeds == range(0, 5)
    again = train_body_parts(params)
    np.testing.assert_array_equal(model.forest.threshold, again.forest.threshold)
    with pytest.raises(ValueError, match="frame per tree"):
        TrainingParams(frames=2, trees=3, disjoint_trees=True).tree_shares()
