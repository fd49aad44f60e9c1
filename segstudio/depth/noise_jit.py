"""Kinect noise (``depth.noise.kinect_noise``) in one pass compiled by Numba, for training's renders.

The numpy path makes ~25 whole-frame float64 passes (shadows, disparity, axial noise, quantisation,
range, dropouts); here each pixel is done in one go, row by row, with the numpy path's operations in
its order (no fused multiply-adds: Numba leaves fast-math off), so the reading is bit-identical
(tests/depth). The random numbers are drawn by the caller with numpy, in the numpy path's order.
"""

from __future__ import annotations

import functools

import numpy as np

from segstudio.depth.jit import Kernel, compiled


def noisy_reading(
    depth: np.ndarray, normal: np.ndarray, drop: np.ndarray, edge_drop: np.ndarray, settings: np.ndarray
) -> np.ndarray | None:
    """uint16 mm reading of clean ``depth`` (float64 metres, 0 = none) given the draws (float64
    arrays of its shape; an unused term's draw may be any array of that shape) and ``settings``
    (float64: focal, baseline, subpixel, min, max, shadows, axial, dropout, edge_dropout,
    edge_jump, the frame column of ``depth``'s first column); ``None`` where Numba is missing or
    fails."""
    kernel = _kernel()
    if kernel is None:
        return None
    out = np.empty(depth.shape, np.uint16)
    kernel(depth, normal, drop, edge_drop, settings, out)
    return out


def _noise(
    depth: np.ndarray,
    normal: np.ndarray,
    drop: np.ndarray,
    edge_drop: np.ndarray,
    settings: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out``: the reading, row by row (see ``depth.noise`` for the model)."""
    focal, baseline, subpixel, near, far = settings[0], settings[1], settings[2], settings[3], settings[4]
    shadows, axial, dropout = settings[5], settings[6], settings[7]
    edge_dropout, jump, first_column = settings[8], settings[9], settings[10]
    fb = focal * baseline
    step_scale = subpixel * focal * baseline
    height, width = depth.shape
    shadowed = np.zeros(width, np.bool_)
    for y in range(height):
        if shadows != 0.0:  # projector columns must stay below every one to their right
            right_min = np.inf
            for x in range(width - 1, -1, -1):
                d = depth[y, x]
                column = (x + first_column) - fb / d if d > 0 else np.inf
                shadowed[x] = d > 0 and column > right_min
                right_min = min(right_min, column)
        for x in range(width):
            d = depth[y, x]
            valid = d > 0 and not (shadows != 0.0 and shadowed[x])
            z = d if valid else 1.0
            disparity = fb / z
            if axial != 0.0:
                step = z * z / step_scale if step_scale != 0.0 else np.inf  # numpy's x / 0 (z > 0)
                t = z - 0.4
                sigma = 0.0012 + 0.0019 * (t * t)
                gauss = np.sqrt(max(sigma * sigma - step * step / 12, (0.25 * step) * (0.25 * step)))
                disparity = disparity + normal[y, x] * gauss * fb / (z * z)
            if subpixel != 0.0:
                disparity = np.rint(disparity * subpixel) / subpixel
            z = fb / disparity if disparity > 0 else 0.0
            valid = valid and near <= z <= far
            if dropout != 0.0:
                valid = valid and drop[y, x] >= dropout
            if edge_dropout != 0.0 and edge_drop[y, x] < edge_dropout:
                edge = (
                    (x + 1 < width and abs(depth[y, x + 1] - d) > jump)
                    or (x > 0 and abs(d - depth[y, x - 1]) > jump)
                    or (y + 1 < height and abs(depth[y + 1, x] - d) > jump)
                    or (y > 0 and abs(d - depth[y - 1, x]) > jump)
                )
                valid = valid and not edge
            out[y, x] = np.uint16(np.rint(z * 1000.0)) if valid else 0


@functools.cache
def _kernel() -> Kernel | None:
    """``_noise`` compiled, or ``None`` where Numba is missing or fails."""
    return compiled(_noise, _warm_up)


def _warm_up(kernel: Kernel) -> None:
    """A 2x2 frame in the argument types of ``noisy_reading``."""
    frame = np.ones((2, 2))
    kernel(frame, frame, frame, frame, np.ones(11), np.empty((2, 2), np.uint16))
