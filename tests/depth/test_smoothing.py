"""Posterior smoothing (``depth.model.smooth``): strays outvoted, depth edges respected, and the
compiled window sums equal to the OpenCV twin."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.depth.body import render_frame
from segstudio.depth.model import BodyPartModel, bundled_model_path, smooth
from segstudio.depth.parts import BACKGROUND, N_PARTS, Part
from segstudio.depth.smoothing_jit import CELL, _kernels

PATHS = pytest.mark.parametrize("compiled", [False, True], ids=["opencv", "compiled"])


@PATHS
def test_smoothing_outvotes_a_stray_pixel_and_keeps_distributions(compiled: bool) -> None:
    depth = np.full((9, 9), 2000, np.uint16)
    pixels = np.argwhere(depth > 0)
    proba = np.zeros((len(pixels), N_PARTS), np.float32)
    proba[:, 4] = 1.0
    stray = 40  # the centre pixel, (4, 4): cell (2, 2) of 2 x 2 pixels
    proba[stray] = 0.0
    proba[stray, 7] = 1.0
    smoothed = smooth(pixels, proba, depth, window_px_m=6.0, compiled=compiled)  # 3 cells at 2 m
    assert CELL == 2
    assert smoothed.argmax(axis=1).tolist() == [4] * len(pixels)
    np.testing.assert_allclose(smoothed.sum(axis=1), 1.0, atol=1e-6)
    assert smoothed[stray, 7] == pytest.approx(1 / 36)  # cells 1..3: pixels 2..7 of both axes
    corner = 0  # cell (0, 0): its window is cells 0..1, pixels 0..3, the stray not among them
    assert smoothed[corner, 7] == 0.0
    np.testing.assert_array_equal(smooth(pixels, proba, depth, window_px_m=0.0), proba)


def _forearm_over_torso() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A torso at 2.5 m whose pixels the forest calls torso, crossed by a forearm 4 pixels wide
    at 2.2 m whose pixels it calls forearm, but only just (0.55 against 0.45 torso): the depth
    frame, the pixels, their probabilities and which pixels are the forearm."""
    depth = np.full((40, 40), 2500, np.uint16)
    depth[18:22, :] = 2200
    pixels = np.argwhere(depth > 0)
    forearm = depth[pixels[:, 0], pixels[:, 1]] == 2200
    proba = np.zeros((len(pixels), N_PARTS), np.float32)
    proba[~forearm, Part.LU_TORSO] = 1.0
    proba[forearm, Part.L_ELBOW] = 0.55
    proba[forearm, Part.LU_TORSO] = 0.45
    return depth, pixels, proba, forearm


@PATHS
def test_smoothing_respects_depth_edges(compiled: bool) -> None:
    """The square window alone lets the torso behind outvote the forearm in front of it; weighted
    by depth, the forearm keeps its part and the torso keeps its own."""
    depth, pixels, proba, forearm = _forearm_over_torso()
    window = 40.0  # 16 pixels at 2.5 m: the forearm is a quarter of a window at most
    box = smooth(pixels, proba, depth, window, depth_scale_m=0.0, compiled=compiled).argmax(axis=1)
    assert (box[forearm] == Part.LU_TORSO).all()  # what the box mean did
    gated = smooth(pixels, proba, depth, window, compiled=compiled)
    assert (gated[forearm].argmax(axis=1) == Part.L_ELBOW).all()
    assert (gated[~forearm].argmax(axis=1) == Part.LU_TORSO).all()
    assert gated[forearm, Part.L_ELBOW].min() > 0.9  # the torso behind hardly counts
    np.testing.assert_allclose(gated.sum(axis=1), 1.0, atol=1e-6)


def test_compiled_smoothing_matches_the_opencv_twin() -> None:
    """The compiled running sums and OpenCV's box filter give the same probabilities on held-out
    frames near and far (the window's side changes with the median depth), on a ragged body, at
    the box's edges, with and without the depth weights."""
    assert _kernels() is not None  # Numba is a dependency: the fast path must load
    model = BodyPartModel.load(bundled_model_path())
    for seed in (2_000_000, 2_000_003):
        frame = render_frame(seed)
        pixels = np.argwhere(frame.parts != BACKGROUND)
        raw = model.predict_pixels(frame.depth, pixels)
        for scale in (0.07, 0.0):
            expected = smooth(pixels, raw, frame.depth, depth_scale_m=scale, compiled=False)
            got = smooth(pixels, raw, frame.depth, depth_scale_m=scale)
            # float32 sums in two orders; the depth gate's ``z * mass - sum(p * z)`` cancels, so a
            # rare small probability differs by ~1e-5 (1 of 315,797 values reached 1.08e-5)
            np.testing.assert_allclose(got, expected, atol=2e-5)
            assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.9999
        sparse, sparse_raw = pixels[::7], raw[::7]  # windows with holes, pixels alone in theirs
        expected = smooth(sparse, sparse_raw, frame.depth, compiled=False)
        np.testing.assert_allclose(smooth(sparse, sparse_raw, frame.depth), expected, atol=1e-5)
