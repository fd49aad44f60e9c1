"""Depth-gated window sums of part probabilities compiled by Numba, for ``depth.model.smooth``.

The body's box is cut into cells of ``CELL`` x ``CELL`` pixels, read through an index map of the
box (the row of the probabilities at each place, -1 for none). The row pass sums each cell's
pixels' 31 probabilities ``p`` and ``p * z`` (``z`` their depth), then runs along the row of cells
(a cell entering the window added, one leaving it subtracted); the column pass runs down each
column of those row sums and, as each cell's window is complete, weighs every part's window mass
for each of the cell's pixels by how near the pixel's depth is to that part's mean depth there
(``depth.model.gated_probabilities``). Each pass runs in blocks of rows or columns on the frame's
threads. Rows and cells are addressed by index, never as row views: Numba builds and
reference-counts a view object each time, which cost more than the sums (row pass 1.4 -> 0.6 ms
on a 13k-pixel body). Sums are float32, so they differ from OpenCV's box filter (the numpy twin in
``depth.model``) in the last bits (tests/depth/test_smoothing.py holds the two within 1e-5).
"""

from __future__ import annotations

import functools

import numpy as np

from segstudio.depth.jit import Kernel, compiled
from segstudio.depth.workers import run_blocks, spans

CELL = 2
"""Side of the cells the window sums run over, in pixels: a quarter of the work of per-pixel
sums, and no change to the held-out accuracy (windows are 10-30 pixels wide)."""


def depth_gated_means(
    index: np.ndarray, proba: np.ndarray, depth: np.ndarray, radius: int, inv_scale2: float
) -> np.ndarray | None:
    """(N, C) smoothed probabilities of ``proba`` (N, C) float32 over windows of ``2 * radius + 1``
    cells; ``index`` (h, w), both multiples of ``CELL``: the row of ``proba`` at each place of the
    body's box, -1 for none; ``depth`` (N,) float32 metres (centred: the sums of ``p * z`` keep
    their precision); ``inv_scale2``: one over the squared depth gap at which a part's weight falls
    to a quarter. ``None`` where Numba is missing or fails."""
    kernels = _kernels()
    if kernels is None:
        return None
    row_sums_of, column_means_of = kernels
    height, width = index.shape[0] // CELL, index.shape[1] // CELL
    row_sums = np.empty((height, width, 2 * proba.shape[1]), np.float32)
    out = np.empty_like(proba)
    run_blocks(
        lambda start, stop: row_sums_of(index, proba, depth, radius, row_sums, start, stop),
        spans(height, height),
    )
    scale = np.float32(inv_scale2)
    run_blocks(
        lambda start, stop: column_means_of(index, depth, radius, row_sums, scale, out, start, stop),
        spans(width, width),
    )
    return out


def _row_sums(
    index: np.ndarray,
    proba: np.ndarray,
    depth: np.ndarray,
    radius: int,
    row_sums: np.ndarray,
    start: int,
    stop: int,
) -> None:
    """``row_sums[y, x]``: ``p`` then ``p * z`` summed over the pixels of cells ``x - radius ..
    x + radius`` of cell row ``y``, for rows ``start .. stop - 1``: each row's cells summed first,
    then running sums, a cell entering added, one leaving subtracted."""
    width, channels = row_sums.shape[1], row_sums.shape[2]
    parts = channels // 2
    cells = np.zeros((width, channels), np.float32)
    total = np.zeros(channels, np.float32)
    for y in range(start, stop):
        cells[:] = 0
        for dy in range(CELL):
            for col in range(width * CELL):
                pixel = index[y * CELL + dy, col]
                if pixel >= 0:  # indices, not row views: a view per pixel costs more than its sums
                    cell = col // CELL
                    z = depth[pixel]
                    for c in range(parts):
                        p = proba[pixel, c]
                        cells[cell, c] += p
                        cells[cell, parts + c] += p * z
        total[:] = 0
        for x in range(-radius, width):
            if x + radius < width:
                for c in range(channels):
                    total[c] += cells[x + radius, c]
            if x - radius - 1 >= 0:
                for c in range(channels):
                    total[c] -= cells[x - radius - 1, c]
            if x >= 0:
                for c in range(channels):
                    row_sums[y, x, c] = total[c]


def _column_means(
    index: np.ndarray,
    depth: np.ndarray,
    radius: int,
    row_sums: np.ndarray,
    inv_scale2: np.float32,
    out: np.ndarray,
    start: int,
    stop: int,
) -> None:
    """``out`` at the body pixels of cell columns ``start .. stop - 1``: the row sums summed over
    cell rows ``y - radius .. y + radius`` (running sums again, all the block's columns a row at
    a time, so memory is read in order), then each of the cell's pixels' parts weighed by depth:
    ``depth.model.gated_probabilities`` in the same float32 steps."""
    height, channels = row_sums.shape[0], row_sums.shape[2]
    parts = channels // 2
    tiny = np.float32(1e-30)  # an empty part: 0 / tiny, not 0 / 0
    total = np.zeros((stop - start, channels), np.float32)
    for y in range(-radius, height):
        if y + radius < height:
            for x in range(start, stop):
                for c in range(channels):
                    total[x - start, c] += row_sums[y + radius, x, c]
        if y - radius - 1 >= 0:
            for x in range(start, stop):
                for c in range(channels):
                    total[x - start, c] -= row_sums[y - radius - 1, x, c]
        if y < 0:
            continue
        for x in range(start, stop):
            column = x - start
            for dy in range(CELL):
                for dx in range(CELL):
                    pixel = index[y * CELL + dy, x * CELL + dx]
                    if pixel < 0:
                        continue
                    z = depth[pixel]
                    norm = np.float32(0.0)
                    for c in range(parts):  # one division: mass * (1 + (z - M / mass)**2 * s)**-2
                        mass = max(total[column, c], np.float32(0.0))
                        gap_mass = z * mass - total[column, parts + c]
                        mass2 = mass * mass
                        near = mass2 / (mass2 + gap_mass * gap_mass * inv_scale2 + tiny)
                        weighted = mass * near * near
                        out[pixel, c] = weighted
                        norm += weighted
                    inv_norm = np.float32(1.0) / norm
                    for c in range(parts):
                        out[pixel, c] *= inv_norm


@functools.cache
def _kernels() -> tuple[Kernel, Kernel] | None:
    """``_row_sums`` and ``_column_means`` compiled, or ``None`` where Numba is missing or fails."""
    row_sums = compiled(_row_sums, _warm_up_rows)
    column_means = compiled(_column_means, _warm_up_columns)
    return None if row_sums is None or column_means is None else (row_sums, column_means)


def _warm_up_rows(kernel: Kernel) -> None:
    """One body pixel in a one-cell box, in the argument types of ``depth_gated_means``."""
    index, depth = np.full((CELL, CELL), -1, np.int32), np.zeros(1, np.float32)
    index[0, 0] = 0
    kernel(index, np.ones((1, 2), np.float32), depth, 1, np.empty((1, 1, 4), np.float32), 0, 1)


def _warm_up_columns(kernel: Kernel) -> None:
    """One body pixel in a one-cell box, in the argument types of ``depth_gated_means``."""
    index, depth = np.full((CELL, CELL), -1, np.int32), np.zeros(1, np.float32)
    index[0, 0] = 0
    sums = np.ones((1, 1, 4), np.float32)
    kernel(index, depth, 1, sums, np.float32(1.0), np.empty((1, 2), np.float32), 0, 1)
