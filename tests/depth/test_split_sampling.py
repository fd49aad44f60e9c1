"""Cheaper training, same kind of trees: a large node's split searched on evenly spread samples
(``level_forest.search_rows``), training pixels drawn by exponential keys (``training.sample_pixels``)
with the distribution of one-by-one weighted draws, and crops made in the render workers equal to
crops made in the trainer."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from segstudio.depth import level_forest, level_images, training
from segstudio.depth.features import FeatureBank
from segstudio.depth.level_forest import LevelParams, grow_tree, search_rows
from segstudio.depth.parts import BACKGROUND, N_PARTS
from segstudio.depth.training import TrainingParams, cropped_training_set, sample_pixels

PARAMS = TrainingParams(frames=3, pixels_per_frame=300, features=200, trees=1, level_wise=True)


@pytest.fixture(scope="module")
def data() -> tuple:
    bank = FeatureBank.random(PARAMS.features, seed=3)
    return (bank, *cropped_training_set(PARAMS, bank))


def test_search_rows_spread_a_large_node_over_its_range() -> None:
    bounds = np.array([0, 10, 1010, 1015, 1300])  # nodes of 10, 1000, 5 and 285 samples
    rows, packed = search_rows(bounds, np.array([1, 2, 3]), 100)
    np.testing.assert_array_equal(packed, [0, 0, 100, 105, 205])  # node 0 is not searched
    large = rows[:100]
    assert large.min() >= 10 and large.max() < 1010 and np.all(np.diff(large) == 10)  # every 10th
    assert large[0] == 15  # from the middle of its stride
    np.testing.assert_array_equal(rows[100:105], np.arange(1010, 1015))  # small nodes: all samples
    assert np.all(np.diff(rows[105:]) >= 2) and rows[105] >= 1015 and rows[-1] < 1300
    assert search_rows(bounds, np.array([0, 2]), 100) is None  # nothing to cap
    assert search_rows(bounds, np.array([1]), None) is None


def test_a_cap_above_every_node_grows_the_uncapped_tree(data: tuple) -> None:
    bank, images, samples = data
    params = LevelParams(max_depth=8, min_samples_leaf=4, candidates=24, thresholds=8)
    trees = [
        grow_tree(
            images, samples, bank, replace(params, search_samples=cap), N_PARTS, np.random.default_rng(5)
        )
        for cap in (None, len(samples))
    ]
    for name in ("feature", "threshold", "child", "leaf_proba"):
        np.testing.assert_array_equal(getattr(trees[0], name), getattr(trees[1], name))


def test_a_capped_search_grows_a_tree_as_good_on_its_pixels(data: tuple) -> None:
    """Searched on 200 of the root's 1,800 samples (and of every node above 200), the tree differs
    but separates the training pixels about as well, and its leaves still hold every pixel."""
    bank, images, samples = data
    params = LevelParams(max_depth=10, min_samples_leaf=5, candidates=24, thresholds=8)
    full, capped = (
        grow_tree(
            images, samples, bank, replace(params, search_samples=cap), N_PARTS, np.random.default_rng(5)
        )
        for cap in (None, 200)
    )
    assert not np.array_equal(full.feature[:3], capped.feature[:3]) or full.n_nodes != capped.n_nodes
    X = np.stack(
        [
            images.features(samples, bank.u[j, 0], bank.u[j, 1], bank.v[j, 0], bank.v[j, 1])
            for j in range(len(bank))
        ],
        axis=1,
    )
    accuracy = [(tree.predict(X) == samples.label).mean() for tree in (full, capped)]
    assert accuracy[1] > 0.6 and accuracy[1] > accuracy[0] - 0.05, accuracy


def test_search_samples_must_leave_room_for_two_leaves() -> None:
    with pytest.raises(ValueError, match="search_samples"):
        LevelParams(min_samples_leaf=20, search_samples=39)
    with pytest.raises(ValueError, match="search_samples"):
        TrainingParams(min_samples_leaf=20, search_samples=10)


def test_exponential_keys_draw_like_one_by_one_weighted_draws() -> None:
    """Two of four pixels of parts 0, 0, 0, 1, balance 1 (weights 1/3, 1/3, 1/3, 1): the chance of
    each pair, drawn one by one in proportion to the weights left, against 40,000 samplings."""
    parts = np.array([[0, 0, 0, 1]], np.uint8)
    weight = np.array([1 / 3, 1 / 3, 1 / 3, 1.0])
    exact = {}
    for first, second in itertools.permutations(range(4), 2):
        p = weight[first] / weight.sum() * weight[second] / (weight.sum() - weight[first])
        key = tuple(sorted((first, second)))
        exact[key] = exact.get(key, 0.0) + p
    rng, n = np.random.default_rng(7), 40_000
    seen: dict[tuple[int, ...], int] = {}
    for _ in range(n):
        pixels, labels = sample_pixels(parts, 2, rng, balance=1.0)
        assert (parts[pixels[:, 0], pixels[:, 1]] == labels).all()
        key = tuple(pixels[:, 1].tolist())
        seen[key] = seen.get(key, 0) + 1
    assert set(seen) == set(exact)
    for key, p in exact.items():
        assert abs(seen[key] / n - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-3, (key, seen[key] / n, p)
    assert BACKGROUND not in parts  # every pixel is body here


def test_crops_made_in_render_workers_equal_the_trainers(
    monkeypatch: pytest.MonkeyPatch, data: tuple
) -> None:
    bank, images, samples = data
    monkeypatch.setattr(training, "_processes", lambda params: 2)  # real forked render workers
    pooled_images, pooled_samples = cropped_training_set(PARAMS, bank)
    for a, b in zip(images.arrays(), pooled_images.arrays(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(samples.arrays(), pooled_samples.arrays(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_searching_a_level_by_groups_of_nodes_grows_the_same_tree(
    data: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A level's nodes searched a few at a time (their draws held a group at a time, not all at
    once) or all together: the same draws, the same splits."""
    bank, images, samples = data
    params = LevelParams(max_depth=9, min_samples_leaf=4, candidates=24, thresholds=8)
    monkeypatch.setattr(level_forest, "TASK_CHUNK", 24 * 3)  # three nodes' draws per chunk
    trees = []
    for most in (1, 10**9):  # a group per chunk, or the whole level in one group
        monkeypatch.setattr(level_forest, "block_samples", lambda candidates, most=most: most)
        trees.append(grow_tree(images, samples, bank, params, N_PARTS, np.random.default_rng(2)))
    assert trees[0].n_nodes > 100
    for name in ("feature", "threshold", "child", "leaf_proba"):
        np.testing.assert_array_equal(getattr(trees[0], name), getattr(trees[1], name))


@pytest.mark.parametrize("expected", [None, 40], ids=["doubling", "sized-for-the-expected"])
def test_crops_packed_from_their_growing_buffer_are_the_crops(
    expected: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(level_images, "FIRST_CAPACITY", 50)
    images = level_images.CroppedImages(4.0, expected)
    rng = np.random.default_rng(0)
    crops = [rng.integers(1, 9000, int(rng.integers(1, 120)), dtype=np.uint16) for _ in range(40)]
    for i, depth in enumerate(crops):
        one = np.ones(1, np.float32)
        images.append(
            level_images.FrameCrop(
                depth, (0, 0, 1, depth.size, 1, depth.size), one, one, one, np.full(1, i % 31, np.uint8)
            )
        )
    packed, samples = images.packed()
    np.testing.assert_array_equal(packed.depth, np.concatenate(crops))
    np.testing.assert_array_equal(packed.start, np.r_[0, np.cumsum([c.size for c in crops])[:-1]])
    np.testing.assert_array_equal(samples.image, np.arange(40))
    assert images.nbytes == packed.depth.nbytes
