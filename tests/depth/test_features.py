"""Depth comparison features on hand-made depth images: values worked out by hand, the background
constant off the image and on invalid pixels, depth invariance, and lazy forest prediction on depth
features equal to dense prediction."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core.forest import ForestParams, train_forest
from segstudio.depth.features import (
    BACKGROUND_DEPTH_M,
    FeatureBank,
    depth_in_metres,
    foreground_pixels,
    mask_pixels,
)


def bank(*pairs: tuple[tuple[float, float], tuple[float, float]]) -> FeatureBank:
    """A hand-written bank: one ((u_row, u_col), (v_row, v_col)) per feature, in pixel-metres."""
    u = np.array([p[0] for p in pairs], np.float32)
    v = np.array([p[1] for p in pairs], np.float32)
    return FeatureBank(u, v)


@pytest.fixture
def step_edge() -> np.ndarray:
    """10 x 20 image: 2 m left of column 10, 3 m from column 10 on; row 0 is invalid (0)."""
    depth = np.full((10, 20), 2.0, np.float32)
    depth[:, 10:] = 3.0
    depth[0] = 0.0
    return depth


def test_step_edge_by_hand(step_edge: np.ndarray) -> None:
    features = bank(
        ((0, 4), (0, 0)),  # at 2 m: 2 px right -> column 10 (3 m), minus the pixel itself (2 m)
        ((0, -4), (0, 0)),  # at 2 m: 2 px left, still 2 m
        ((0, -9), (0, 3)),  # at 3 m: 3 px left (2 m) minus 1 px right (3 m)
    )
    pixels = np.array([[5, 8], [5, 12]])
    values = features.evaluate(step_edge, pixels)
    # pixel (5, 8), depth 2: feature 0 -> d(5,10) - d(5,8) = 1; feature 1 -> d(5,6) - d(5,8) = 0;
    # feature 2 -> d(5, 8-4.5->4) - d(5, 8+1.5->10 (rint half to even: 1.5 -> 2)) = 2 - 3.
    # pixel (5, 12), depth 3: feature 0 -> d(5, 13) - 3 = 0; feature 1 -> d(5, 11) - 3 = 0;
    # feature 2 -> d(5, 9) - d(5, 13) = 2 - 3.
    np.testing.assert_array_equal(values, [[1.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    assert values.dtype == np.float32


def test_tilted_plane_by_hand() -> None:
    """depth = 2 + 0.01 * column; at (5, 10) depth is 2.1 m, so 4.2 px-m is 2 px and -8.4 is -4 px."""
    depth = (2.0 + 0.01 * np.arange(20, dtype=np.float32))[None, :].repeat(10, axis=0)
    value = bank(((0, 4.2), (0, -8.4))).evaluate(depth, np.array([[5, 10]]))[0, 0]
    assert value == pytest.approx(0.06, abs=1e-6)
    assert value == depth[5, 12] - depth[5, 6]


def test_probes_off_the_image_or_on_invalid_pixels_read_the_constant(step_edge: np.ndarray) -> None:
    features = bank(
        ((0, 40), (0, 0)),  # 20 px right: off the image
        ((-20, 0), (0, 0)),  # 10 px up: off the image
        ((-10, 0), (0, 0)),  # 5 px up: row 0, depth 0 (invalid)
        ((0, 60), (-40, 0)),  # both probes off the image: constant minus constant
    )
    values = features.evaluate(step_edge, np.array([[5, 8]]))[0]
    np.testing.assert_array_equal(values, [BACKGROUND_DEPTH_M - 2.0] * 3 + [0.0])


def _square_scene(wall: float, square: float, half_size: int) -> np.ndarray:
    """200 x 200 image, principal point (100, 100): a fronto-parallel square in front of a wall."""
    depth = np.full((200, 200), wall, np.float32)
    depth[100 - half_size : 100 + half_size, 100 - half_size : 100 + half_size] = square
    return depth


def _offsets_in_multiples_of_4(n: int, seed: int) -> FeatureBank:
    """Offsets that divide exactly by 2 m and by 4 m, so rounding plays no part."""
    rng = np.random.default_rng(seed)
    u, v = (4.0 * rng.integers(-18, 19, (n, 2)) for _ in range(2))
    v[: n // 4] = 0.0
    return FeatureBank(u.astype(np.float32), v.astype(np.float32))


def test_depth_invariance_when_the_body_moves_back() -> None:
    """Moving a square from 2 m to 4 m (and the wall behind it from 3 m to 5 m) halves its image; a
    feature at corresponding pixels - (100 + 2a, 100 + 2b) near, (100 + a, 100 + b) far - probes the
    same points of the scene and reads the same depth differences."""
    near = _square_scene(wall=3.0, square=2.0, half_size=20)
    far = _square_scene(wall=5.0, square=4.0, half_size=10)
    a, b = (g.ravel() for g in np.mgrid[-10:10, -10:10])
    features = _offsets_in_multiples_of_4(60, seed=0)
    near_values = features.evaluate(near, np.stack([100 + 2 * a, 100 + 2 * b], axis=1))
    far_values = features.evaluate(far, np.stack([100 + a, 100 + b], axis=1))
    np.testing.assert_array_equal(near_values, far_values)
    assert set(np.unique(near_values)) == {-1.0, 0.0, 1.0}  # square-wall, same surface, wall-square


def test_scaling_all_depths_scales_the_features() -> None:
    """The same scene with every depth doubled (square at 4 m, half the size): values double."""
    near = _square_scene(wall=3.0, square=2.0, half_size=20)
    doubled = _square_scene(wall=6.0, square=4.0, half_size=10)
    a, b = (g.ravel() for g in np.mgrid[-10:10, -10:10])
    features = _offsets_in_multiples_of_4(60, seed=1)
    near_values = features.evaluate(near, np.stack([100 + 2 * a, 100 + 2 * b], axis=1))
    doubled_values = features.evaluate(doubled, np.stack([100 + a, 100 + b], axis=1))
    np.testing.assert_array_equal(doubled_values, 2 * near_values)


def test_pairs_match_the_dense_matrix_and_a_subset_of_features(step_edge: np.ndarray) -> None:
    features = FeatureBank.random(50, max_offset=30.0, seed=4)
    pixels = foreground_pixels(step_edge)
    dense = features.evaluate(step_edge, pixels)
    assert dense.shape == (len(pixels), 50)
    chosen = np.random.default_rng(0).integers(0, 50, len(pixels))
    np.testing.assert_array_equal(
        features.evaluate_pairs(step_edge, pixels, chosen), dense[np.arange(len(pixels)), chosen]
    )
    np.testing.assert_array_equal(features.evaluate(step_edge, pixels, [7, 3]), dense[:, [7, 3]])


def test_lazy_forest_prediction_on_depth_equals_dense() -> None:
    """A forest trained on the dense matrix, predicted lazily with the bank's pair reader."""
    depth = np.zeros((120, 160), np.float32)
    rows, cols = np.mgrid[0:120, 0:160]
    body = ((rows - 60) / 50) ** 2 + ((cols - 80) / 30) ** 2 < 1
    depth[body] = (2.5 - 0.2 * np.sqrt(np.clip(1 - ((rows - 60) / 50) ** 2, 0, 1)))[body]
    parts = (rows // 30) + 4 * (cols > 80)  # four bands, left and right: 8 "body parts"
    pixels = foreground_pixels(depth)
    features = FeatureBank.random(200, seed=0)
    X = features.evaluate(depth, pixels)
    y = parts[pixels[:, 0], pixels[:, 1]]
    forest = train_forest(X, y, ForestParams(n_trees=3, max_depth=12, seed=0))
    lazy = forest.predict_proba_lazy(len(pixels), features.pair_reader(depth, pixels))
    np.testing.assert_array_equal(lazy, forest.predict_proba(X))
    assert (lazy.argmax(axis=1) == y).mean() > 0.9


def test_random_bank_is_seeded_and_within_the_disc() -> None:
    first, again = FeatureBank.random(500, max_offset=100.0, seed=3), FeatureBank.random(500, 100.0, seed=3)
    np.testing.assert_array_equal(first.u, again.u)
    np.testing.assert_array_equal(first.v, again.v)
    assert not np.array_equal(first.u, FeatureBank.random(500, 100.0, seed=4).u)
    assert len(first) == 500 and first.u.dtype == np.float32
    assert max(np.hypot(*first.u.T).max(), np.hypot(*first.v.T).max()) <= 100.0 + 1e-4
    unary = np.all(first.v == 0, axis=1).mean()
    assert 0.1 < unary < 0.3  # about the default unary fraction of 0.2


def test_reference_pixels_must_be_valid_foreground(step_edge: np.ndarray) -> None:
    features = FeatureBank.random(5, seed=0)
    with pytest.raises(ValueError, match="foreground"):
        features.evaluate(step_edge, np.array([[0, 3]]))  # row 0 has depth 0
    with pytest.raises(ValueError, match="inside"):
        features.evaluate(step_edge, np.array([[10, 3]]))
    with pytest.raises(ValueError, match="2-D"):
        features.evaluate(step_edge[None], np.array([[1, 3]]))


def test_foreground_pixels_and_millimetres() -> None:
    depth_mm = np.array([[0, 1500], [2000, 0]], np.uint16)
    depth = depth_in_metres(depth_mm)
    np.testing.assert_allclose(depth, [[0, 1.5], [2.0, 0]])
    np.testing.assert_array_equal(foreground_pixels(depth), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(foreground_pixels(depth, mask=np.array([[1, 0], [1, 1]])), [[1, 0]])


@pytest.mark.parametrize("shape", [(480, 640), (1, 7), (7, 1), (0, 5), (33, 17)])
def test_mask_pixels_are_argwheres(shape: tuple[int, int]) -> None:
    """OpenCV's findNonZero, in np.argwhere's order and dtype, on sparse, dense, empty and full
    masks, and on a strided (non-contiguous) view."""
    rng = np.random.default_rng(sum(shape))
    for density in (0.0, 0.02, 0.5, 1.0):
        mask = rng.random(shape) < density
        got = mask_pixels(mask)
        assert got.dtype == np.int64 and got.shape[1] == 2
        np.testing.assert_array_equal(got, np.argwhere(mask))
    wide = rng.random((shape[0], 2 * shape[1])) < 0.3
    np.testing.assert_array_equal(mask_pixels(wide[:, ::2]), np.argwhere(wide[:, ::2]))
    with pytest.raises(ValueError, match="2-D"):
        mask_pixels(np.ones((2, 2, 2), bool))
