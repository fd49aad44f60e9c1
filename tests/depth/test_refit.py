"""Refitting a forest's leaves (``depth.refit``): the counting is exact (a tree's own training
pixels give its leaves back), deterministic, keeps the trees, and mixes old and new as documented."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from segstudio.core.forest import Forest
from segstudio.depth.body import render_frame
from segstudio.depth.features import depth_in_metres
from segstudio.depth.model import BodyPartModel
from segstudio.depth.refit import LeafCounts, every_body_pixel, leaf_trees, refit_leaves
from segstudio.depth.training import (
    TrainingParams,
    refit_body_parts,
    train_body_parts,
    training_samples,
)

TINY = TrainingParams(
    frames=4, pixels_per_frame=150, features=60, candidate_features=10, min_samples_leaf=4, trees=2, depth=6,
    refit_frames=0,
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny() -> BodyPartModel:
    return train_body_parts(TINY)


def test_a_trees_own_training_pixels_give_back_its_leaves(tiny: BodyPartModel) -> None:
    trees = leaf_trees(tiny.forest)
    for tree, share in enumerate(TINY.tree_shares()):
        counts = LeafCounts(tiny)
        n_pixels = 0
        for frame, pixels, labels in training_samples(share):  # the trainer's draws
            counts.add(frame.depth, pixels, labels)
            n_pixels += len(pixels)
        own = counts.flush()
        rows = trees == tree
        assert own[rows].sum() == n_pixels  # each pixel counted once per tree
        assert (own[rows].sum(axis=1) >= TINY.min_samples_leaf).all()  # every leaf holds its pixels
        refit = refit_leaves(tiny.forest, own)
        np.testing.assert_allclose(refit.leaf_proba[rows], tiny.forest.leaf_proba[rows], atol=1e-3)
        assert np.abs(refit.leaf_proba[~rows] - tiny.forest.leaf_proba[~rows]).max() > 0.05


def test_leaf_rows_are_the_leaves_the_prediction_averages(tiny: BodyPartModel) -> None:
    frame = render_frame(11)
    pixels, _, _ = every_body_pixel(frame.parts)
    rows = tiny.descent.leaf_rows(depth_in_metres(frame.depth), pixels)
    assert rows.shape == (2, len(pixels))
    np.testing.assert_array_equal(
        tiny.forest.leaf_proba[rows].mean(axis=0), tiny.predict_pixels(frame.depth, pixels)
    )
    assert (leaf_trees(tiny.forest)[rows] == np.arange(2)[:, None]).all()


def test_refit_is_deterministic_and_keeps_the_trees(tiny: BodyPartModel) -> None:
    params = replace(TINY, refit_frames=2, refit_first_frame=50)
    first, second = refit_body_parts(tiny, params), refit_body_parts(tiny, params)
    np.testing.assert_array_equal(first.forest.leaf_proba, second.forest.leaf_proba)
    for name in ("feature", "threshold", "child", "roots"):
        np.testing.assert_array_equal(getattr(first.forest, name), getattr(tiny.forest, name))
    assert not np.array_equal(first.forest.leaf_proba, tiny.forest.leaf_proba)
    sampled = refit_body_parts(tiny, replace(params, refit_pixels=100))
    assert not np.array_equal(sampled.forest.leaf_proba, first.forest.leaf_proba)


def _stump() -> Forest:
    """One tree: a root split into two leaves over 3 classes, and a second tree that is one leaf."""
    return Forest(
        feature=np.array([0, -1, -1, -1], np.int32),
        threshold=np.array([0.5, 0, 0, 0], np.float32),
        child=np.array([1, ~0, ~1, ~2], np.int32),
        roots=np.array([0, 3], np.int32),
        leaf_proba=np.array([[0.5, 0.5, 0], [0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], np.float32),
        n_features=1,
    )


def test_counts_are_balanced_per_tree_and_mixed_with_the_old_leaves() -> None:
    forest = _stump()
    np.testing.assert_array_equal(leaf_trees(forest), [0, 0, 1])
    counts = np.array([[30, 10, 0], [0, 0, 0], [6, 2, 0]])  # leaf 1 unreached; tree 1: 6:2 as tree 0
    refit = refit_leaves(forest, counts)
    # tree 0's frequencies are 3/4, 1/4: divided out, leaf 0 is 1:1; the unreached leaf is unchanged.
    np.testing.assert_allclose(refit.leaf_proba, [[0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0.5, 0]], atol=1e-7)
    mixed = refit_leaves(forest, counts, prior=8.0)  # old weighs 8 pixels against the leaf's 8 in tree 1
    np.testing.assert_allclose(
        mixed.leaf_proba[2], [(4 + 8 / 3) / 16, (4 + 8 / 3) / 16, (8 / 3) / 16], atol=1e-6
    )
    with pytest.raises(ValueError, match="shape"):
        refit_leaves(forest, counts[:2])


def test_training_refits_when_asked_and_records_it() -> None:
    params = replace(TINY, refit_frames=None)
    model = train_body_parts(params)
    plain = train_body_parts(TINY)
    for name in ("feature", "threshold", "child", "roots"):
        np.testing.assert_array_equal(getattr(model.forest, name), getattr(plain.forest, name))
    assert not np.array_equal(model.forest.leaf_proba, plain.forest.leaf_proba)
    assert (model.info.refit_frames, model.info.refit_first_frame, model.info.refit_pixels) == (4, 0, 0)
    # training then refitting equals refitting the stored, unrefit model (what ``depth refit`` does)
    np.testing.assert_array_equal(
        refit_body_parts(plain, params).compact().forest.leaf_proba, model.forest.leaf_proba
    )
    fresh = train_body_parts(replace(TINY, refit_frames=3, refit_first_frame=10)).info
    assert fresh.frame_seeds == range(0, 13)


def test_balanced_weights_are_the_samplers_expected_draws() -> None:
    parts = render_frame(3).parts
    pixels, labels, weights = every_body_pixel(parts, 0.5)
    assert weights is not None and weights.sum() == pytest.approx(len(pixels))
    per_part = np.bincount(labels, weights, minlength=31)
    sizes = np.bincount(labels, minlength=31)
    seen = sizes > 0
    # a part of n pixels weighs n ** 0.5 in all: the share the trainer's draws give it on average
    np.testing.assert_allclose(
        per_part[seen] / per_part[seen].sum(), sizes[seen] ** 0.5 / (sizes[seen] ** 0.5).sum()
    )
    assert every_body_pixel(parts)[2] is None
