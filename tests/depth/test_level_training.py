"""The level-wise trainer: crop features equal the dense matrix's bit for bit, the compiled split
kernels and their numpy twins grow the same tree, and a grown tree's leaves hold the classes of the
training pixels that the model's own descent (on dense features) sends there."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from segstudio.depth import level_split
from segstudio.depth.features import FeatureBank
from segstudio.depth.level_forest import LevelParams, grow_tree
from segstudio.depth.level_images import BACKGROUND_MM, CroppedImages
from segstudio.depth.level_split_jit import split_kernels, values_kernel
from segstudio.depth.parts import N_PARTS
from segstudio.depth.training import TrainingParams, cropped_training_set, train_body_parts, training_set

PARAMS = TrainingParams(frames=3, pixels_per_frame=300, features=200, trees=1, level_wise=True)


@pytest.fixture(scope="module")
def data() -> tuple:
    bank = FeatureBank.random(PARAMS.features, seed=3)
    images, samples = cropped_training_set(PARAMS, bank)
    X, y = training_set(PARAMS, bank)
    return bank, images, samples, X, y


def test_crops_read_the_dense_features_bit_for_bit(data: tuple) -> None:
    bank, images, samples, X, y = data
    np.testing.assert_array_equal(samples.label, y)
    for j in range(len(bank)):
        values = images.features(samples, bank.u[j, 0], bank.u[j, 1], bank.v[j, 0], bank.v[j, 1])
        np.testing.assert_array_equal(values, X[:, j])
    whole_frames = 2 * PARAMS.frames * 480 * 640 * 2
    assert images.depth.nbytes < whole_frames  # crops, not frames
    # the frames' invalid pixels (many: the background around the body) read as the background
    # constant because the crops hold BACKGROUND_MM there, never 0
    assert (images.depth == BACKGROUND_MM).mean() > 0.1 and not (images.depth == 0).any()


def test_a_crop_leaves_the_callers_frame_as_it_was() -> None:
    depth = np.zeros((40, 5), np.uint16)
    depth[10:30] = 2000  # a crop of whole rows: the slice is contiguous memory, a view if not copied
    crops = CroppedImages.for_bank(FeatureBank.random(20, max_offset=4.0, seed=0))
    crops.add(depth, np.array([[11, 2]]), np.array([1]))  # reaches 3 rows up: background rows
    images, _ = crops.packed()
    assert (depth[:10] == 0).all() and (depth[30:] == 0).all()
    assert set(np.unique(images.depth)) == {2000, BACKGROUND_MM}


def test_the_kernels_load() -> None:
    assert split_kernels() is not None and values_kernel() is not None


@pytest.mark.parametrize("block_samples", [None, 100], ids=["one-block", "large-nodes-and-blocks"])
def test_compiled_and_numpy_splits_grow_the_same_tree(
    data: tuple, block_samples: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled, nodes are searched in blocks of whole nodes and a node larger than a block a block
    of its samples at a time: blocks of 100 samples make the first levels' nodes large and split
    the rest into many blocks."""
    bank, images, samples, _, _ = data
    params = LevelParams(max_depth=7, min_samples_leaf=4, candidates=24, thresholds=8)
    if block_samples is not None:
        monkeypatch.setattr(level_split, "BLOCK_VALUES", block_samples * params.candidates)
        assert (level_split.block_samples(params.candidates) == block_samples) and len(
            samples
        ) > 10 * block_samples
    trees = [
        grow_tree(images, samples, bank, replace(params, use_jit=jit), N_PARTS, np.random.default_rng(5))
        for jit in (True, False)
    ]
    assert trees[0].n_nodes > 40
    for name in ("feature", "threshold", "child", "leaf_proba"):
        np.testing.assert_array_equal(getattr(trees[0], name), getattr(trees[1], name))


def test_leaves_hold_the_classes_the_descent_sends_there(data: tuple) -> None:
    bank, images, samples, X, y = data
    params = LevelParams(max_depth=10, min_samples_leaf=5, candidates=16)
    tree = grow_tree(images, samples, bank, params, N_PARTS, np.random.default_rng(0))
    n_leaves = tree.leaf_proba.shape[0]
    leaf_of = replace(tree, leaf_proba=np.eye(n_leaves, dtype=np.float32)).predict_proba(X).argmax(axis=1)
    counts = np.bincount(leaf_of * N_PARTS + y, minlength=n_leaves * N_PARTS).reshape(n_leaves, N_PARTS)
    assert counts.sum(axis=1).min() >= 5  # every leaf keeps min_samples_leaf training pixels
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), tree.leaf_proba, rtol=1e-6)


def test_level_wise_training_needs_disjoint_trees() -> None:
    with pytest.raises(ValueError, match="disjoint"):
        TrainingParams(trees=2, disjoint_trees=False, level_wise=True)
    assert TrainingParams(trees=2, disjoint_trees=False, level_wise=False).trees == 2


def test_a_level_wise_model_beats_chance_on_its_training_pixels() -> None:
    params = TrainingParams(
        frames=4, pixels_per_frame=200, features=300, candidate_features=30, trees=2, depth=8
    )
    model = train_body_parts(params)
    assert model.forest.n_trees == 2 and model.forest.depth <= 8
    X, y = training_set(replace(params, trees=1, disjoint_trees=False, frames=2), model.bank)
    assert (model.forest.predict(X) == y).mean() > 0.15  # chance: 1/31
