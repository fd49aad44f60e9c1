"""The dense training matrix of ``FeatureBank.evaluate`` compiled by Numba.

The numpy path makes ~12 passes over (pixels x features) temporaries per chunk; here each value is
read straight from the padded image, with the numpy path's float32 operations (probe offset times
inverse depth, ``rint``, clamp, flat index), so the matrix is bit-identical (tests/depth). Blocks
of pixels run on ``depth.workers``' threads.
"""

from __future__ import annotations

import functools

import numpy as np

from segstudio.depth.jit import Kernel, compiled
from segstudio.depth.workers import run_blocks, spans


def dense_features(
    flat: np.ndarray,
    last: tuple[np.float32, np.float32],
    pixels: tuple[np.ndarray, np.ndarray, np.ndarray],
    offsets: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray | None:
    """``(N, M)`` float32 features of the ``pixels`` (padded rows, cols, inverse depths; float32) for
    the ``offsets`` (u rows, u cols, v rows, v cols; float32 (M,)) on the padded image ``flat``
    whose last row and column are ``last``; ``None`` where Numba is missing or fails."""
    kernel = _kernel()
    if kernel is None:
        return None
    rows, cols, inv_depth = pixels
    out = np.empty((rows.size, offsets[0].size), np.float32)
    run_blocks(
        lambda start, stop: kernel(flat, last[0], last[1], rows, cols, inv_depth, *offsets, out, start, stop),
        spans(rows.size, rows.size // 256 + 1),
    )
    return out


def _dense(
    flat: np.ndarray,
    last_row: np.float32,
    last_col: np.float32,
    rows: np.ndarray,
    cols: np.ndarray,
    inv_depth: np.ndarray,
    u_row: np.ndarray,
    u_col: np.ndarray,
    v_row: np.ndarray,
    v_col: np.ndarray,
    out: np.ndarray,
    start: int,
    stop: int,
) -> None:
    """``out[i, j]`` for pixels ``start .. stop - 1``: the probe at ``u[j]`` minus the one at ``v[j]``."""
    stride = last_col + np.float32(1.0)
    zero = np.float32(0.0)
    for i in range(start, stop):
        row, col, inv = rows[i], cols[i], inv_depth[i]
        for j in range(u_row.size):
            r = min(max(row + np.rint(u_row[j] * inv), zero), last_row)
            c = min(max(col + np.rint(u_col[j] * inv), zero), last_col)
            probe_u = flat[int(r * stride + c)]
            r = min(max(row + np.rint(v_row[j] * inv), zero), last_row)
            c = min(max(col + np.rint(v_col[j] * inv), zero), last_col)
            out[i, j] = probe_u - flat[int(r * stride + c)]


@functools.cache
def _kernel() -> Kernel | None:
    """``_dense`` compiled, or ``None`` where Numba is missing or fails."""
    return compiled(_dense, _warm_up)


def _warm_up(kernel: Kernel) -> None:
    """One pixel, one feature, in the argument types of ``dense_features``."""
    one, zero = np.ones(1, np.float32), np.float32(0)
    kernel(one, zero, zero, one, one, one, one, one, one, one, np.empty((1, 1), np.float32), 0, 1)
