"""The scribble pixel classifier on generated scenes with known answers: a few strokes segment textures
and colours, a new class appears when scribbled, one class gives a trivial model, the fast prediction
equals the forest's own, and training is skipped when nothing it learns from changed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segstudio.core.features import FeatureConfig, compute_features
from segstudio.core.forest import ForestParams
from segstudio.core.pixel_classifier import (
    ClassifierParams,
    _blown_up,
    predict,
    predict_pixels,
    train_from_scribbles,
    training_set,
    uncertainty,
)

SIZE = 128


def textured_scene(size: int = SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Left half fine grey noise (1), right half horizontal stripes (2), both mid grey on average,
    and a reddish disk (3) across the middle: texture and colour both have to be learnt."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    truth = np.where(xx < size // 2, 1, 2).astype(np.uint8)
    disk = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.22 * size) ** 2
    truth[disk] = 3
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)), (0, 0), 1.0)
    grey = 128 + np.where(truth == 1, 40 * noise / noise.std(), 0)
    grey += np.where(truth == 2, 40 * np.sign(np.sin(2 * np.pi * yy / 6)), 0)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[disk] = (200, 90, 60) + rng.normal(0, 4, (int(disk.sum()), 3))
    return np.clip(rgb, 0, 255).astype(np.uint8), truth


def scene_scribbles(truth: np.ndarray, classes: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """Strokes a user would draw: beside the middle line and around the disk, inside each region."""
    size = truth.shape[0]
    centre, radius = size // 2, int(0.22 * size)
    strokes = np.zeros_like(truth)
    cv2.circle(strokes, (centre, centre), radius + 5, 9, 1)
    cv2.circle(strokes, (centre, centre), radius - 5, 9, 1)
    cv2.line(strokes, (centre - 5, 5), (centre - 5, size - 6), 9, 1)
    cv2.line(strokes, (centre + 5, 5), (centre + 5, size - 6), 9, 1)
    scribbles = np.where(strokes > 0, truth, 0).astype(np.uint8)
    scribbles[~np.isin(scribbles, classes)] = 0
    return scribbles


def iou(labels: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(((labels == k) & (truth == k)).sum() / ((labels == k) | (truth == k)).sum())


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image, truth = textured_scene()
    return compute_features(image), truth, scene_scribbles(truth)


@pytest.mark.parametrize("stride", [1, 3])
def test_a_few_strokes_segment_the_scene(scene, stride: int) -> None:
    features, truth, scribbles = scene
    assert (scribbles > 0).mean() < 0.1
    labels, proba = predict(train_from_scribbles(features, scribbles), features, stride=stride)
    assert labels.shape == truth.shape and labels.dtype == scribbles.dtype
    assert proba.shape == (*truth.shape, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=2), 1.0, atol=1e-5)
    for k in (1, 2, 3):
        assert iou(labels, truth, k) >= 0.9, k


def test_scribbling_a_new_class_adds_it(scene) -> None:
    features, truth, scribbles = scene
    two = scene_scribbles(truth, classes=(1, 2))
    labels, _ = predict(train_from_scribbles(features, two), features)
    assert set(np.unique(labels)) == {1, 2}
    labels, _ = predict(train_from_scribbles(features, scribbles), features)
    assert set(np.unique(labels)) == {1, 2, 3} and iou(labels, truth, 3) >= 0.9


def test_class_values_are_kept_not_renumbered(scene) -> None:
    features, truth, scribbles = scene
    relabelled = np.array([0, 7, 40, 200], np.uint8)[scribbles]
    model = train_from_scribbles(features, relabelled)
    labels, _ = predict(model, features)
    assert model.classes.tolist() == [7, 40, 200] and set(np.unique(labels)) == {7, 40, 200}
    assert iou(labels, np.array([0, 7, 40, 200])[truth], 40) >= 0.9


def test_one_class_gives_a_trivial_model(scene) -> None:
    features, truth, _ = scene
    scribbles = np.zeros_like(truth)
    scribbles[10:20, 10:20] = 5
    labels, proba = predict(train_from_scribbles(features, scribbles), features)
    assert (labels == 5).all() and (proba == 1).all() and proba.shape[2] == 1
    assert (uncertainty(proba) == 0).all()


def test_bad_scribbles_are_refused(scene) -> None:
    features, truth, _ = scene
    with pytest.raises(ValueError, match="no scribbles"):
        train_from_scribbles(features, np.zeros_like(truth))
    with pytest.raises(ValueError, match="scribbles are"):
        train_from_scribbles(features, np.ones((5, 5), np.uint8))
    with pytest.raises(ValueError, match=">= 0"):
        train_from_scribbles(features, -np.ones(truth.shape, np.int32))
    with pytest.raises(ValueError, match="float32"):
        train_from_scribbles(features.astype(np.float64), truth)


def test_fast_prediction_equals_the_forest(scene) -> None:
    features, _, scribbles = scene
    params = ClassifierParams(forest=ForestParams(n_trees=7, max_depth=9, seed=4))
    model = train_from_scribbles(features, scribbles, params)
    pixels = np.random.default_rng(0).choice(SIZE * SIZE, 5000, replace=False)
    expected = model.forest.predict_proba(features.reshape(features.shape[0], -1)[:, pixels].T)
    np.testing.assert_array_equal(predict_pixels(model, features, pixels, threads=1), expected)
    np.testing.assert_array_equal(predict_pixels(model, features, pixels, threads=3), expected)
    labels, proba = predict(model, features, stride=1)
    dense = model.forest.predict_proba(features.reshape(features.shape[0], -1).T)
    np.testing.assert_array_equal(proba.reshape(-1, 3), dense)
    np.testing.assert_array_equal(labels.ravel(), model.classes[dense.argmax(axis=1)])


def test_coarse_to_fine_is_exact_where_classes_meet(scene) -> None:
    features, _, scribbles = scene
    model = train_from_scribbles(features, scribbles)
    exact, _ = predict(model, features, stride=1)
    coarse, _ = predict(model, features, stride=3)
    assert (coarse == exact).mean() > 0.99
    boundary = cv2.morphologyEx(exact, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    assert (coarse[boundary] == exact[boundary]).mean() > 0.98


def test_class_balanced_sample() -> None:
    scribbles = np.zeros((60, 60), np.int64)
    scribbles[:50, :] = 1  # 3000 pixels
    scribbles[55:, :10] = 4  # 50 pixels
    pixels, y, classes = training_set(scribbles, samples_per_class=400, seed=0)
    assert classes.tolist() == [1, 4] and np.all(np.diff(pixels) > 0)
    assert np.bincount(y).tolist() == [400, 50]
    assert (classes[y] == scribbles.ravel()[pixels]).all()


def test_retrains_only_when_the_training_set_changes(scene) -> None:
    features, truth, scribbles = scene
    model = train_from_scribbles(features, scribbles)
    assert train_from_scribbles(features, scribbles.copy(), previous=model) is model
    more = scribbles.copy()
    more[2:4, 2:30] = truth[2:4, 2:30]
    assert train_from_scribbles(features, more, previous=model) is not model
    other_params = ClassifierParams(samples_per_class=100)
    assert train_from_scribbles(features, scribbles, other_params, previous=model) is not model
    image, _ = textured_scene(seed=1)  # other pixels under the same strokes
    other_features = compute_features(image, FeatureConfig())
    assert train_from_scribbles(other_features, scribbles, previous=model) is not model


def test_uncertainty_is_the_margin() -> None:
    proba = np.array([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.6, 0.1, 0.3]]], np.float32)
    np.testing.assert_allclose(uncertainty(proba), [[0.0, 1.0, 0.7]], atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_splits_sit_halfway_between_the_scribbles(seed: int) -> None:
    """Two flat colours, one stroke each far from their border, smoothed colour features only (each a
    smooth step across the border): a single split puts the border halfway between the strokes'
    values, near the real one, not against one stroke's value (which hands that class a band)."""
    image = np.zeros((64, 8, 3), np.uint8)
    image[:32], image[32:] = (40, 60, 200), (50, 170, 60)
    scribbles = np.zeros((64, 8), np.uint8)
    scribbles[4], scribbles[59] = 1, 2
    config = FeatureConfig()
    colour = [i for i, name in enumerate(config.names) if name.split("@")[0] in ("L", "a", "b")]
    features = np.ascontiguousarray(compute_features(image, config)[colour])
    stump = ClassifierParams(forest=ForestParams(n_trees=1, max_depth=1, bootstrap=False, seed=seed))
    labels, _ = predict(train_from_scribbles(features, scribbles, stump), features, stride=1)
    border = int(np.argmax(labels[:, 4] == 2))
    assert (labels[:border] == 1).all() and (labels[border:] == 2).all()
    assert 26 <= border <= 38, border


@pytest.mark.parametrize("shape", [(5, 7), (4, 6, 3)])
def test_blocks_are_blown_up_as_np_repeat_does(shape) -> None:
    blocks = np.random.default_rng(0).random(shape).astype(np.float32)
    expected = np.repeat(np.repeat(blocks, 3, axis=0), 3, axis=1)
    assert np.array_equal(_blown_up(blocks, 3), expected)
    assert np.array_equal(_blown_up(blocks > 0.5, 3), expected > 0.5)
