"""Window sums of part probabilities compiled by Numba, for ``depth.model.smooth``.

OpenCV's box filter over the body's bounding box (31 channels, sums in float64) was the slowest
step of smoothing, before the copies into and out of that box. Here the sums run straight from the
(N, 31) probabilities through an index map of the box: running sums along each row (a pixel
entering the window added, one leaving it subtracted), stored column by column, then running sums
down each column, normalised and written only at body pixels; each pass in blocks of rows or
columns on the frame's threads. Sums are float32, so they differ from OpenCV's in the last bits
(below 2e-6 of a pixel's probabilities; tests/depth).
"""

from __future__ import annotations

import functools

import numpy as np

from segstudio.depth.jit import Kernel, compiled
from segstudio.depth.workers import run_blocks, spans


def window_means(index: np.ndarray, proba: np.ndarray, radius: int) -> np.ndarray | None:
    """(N, C) each pixel's probabilities summed over the ``2 * radius + 1`` square window around
    it and divided by their total; ``index`` (h, w): the row of ``proba`` at each place of the
    body's box, -1 for none. Rows, then columns, in blocks on ``depth.workers``' threads. ``None``
    where Numba is missing or fails."""
    kernels = _kernels()
    if kernels is None:
        return None
    row_sums_of, column_means_of = kernels
    height, width = index.shape
    row_sums = np.empty((height, width, proba.shape[1]), np.float32)
    out = np.empty_like(proba)
    run_blocks(
        lambda start, stop: row_sums_of(index, proba, radius, row_sums, start, stop), spans(height, height)
    )
    run_blocks(
        lambda start, stop: column_means_of(index, radius, row_sums, out, start, stop), spans(width, width)
    )
    return out


def _row_sums(
    index: np.ndarray, proba: np.ndarray, radius: int, row_sums: np.ndarray, start: int, stop: int
) -> None:
    """``row_sums[y, x]``: the probabilities summed over ``x - radius .. x + radius`` of box row
    ``y``, for rows ``start .. stop - 1``: running sums, a pixel entering added, one leaving
    subtracted."""
    width = index.shape[1]
    total = np.zeros(proba.shape[1], np.float32)
    for y in range(start, stop):
        total[:] = 0
        for x in range(-radius, width):
            enter = index[y, x + radius] if x + radius < width else -1
            if enter >= 0:
                for c in range(total.size):
                    total[c] += proba[enter, c]
            leave = index[y, x - radius - 1] if x - radius - 1 >= 0 else -1
            if leave >= 0:
                for c in range(total.size):
                    total[c] -= proba[leave, c]
            if x >= 0:
                row_sums[y, x] = total


def _column_means(
    index: np.ndarray, radius: int, row_sums: np.ndarray, out: np.ndarray, start: int, stop: int
) -> None:
    """``out`` at the body pixels of box columns ``start .. stop - 1``: the row sums summed over
    ``y - radius .. y + radius`` (running sums again, all the block's columns a row at a time, so
    memory is read in order), divided by their total."""
    height = index.shape[0]
    total = np.zeros((stop - start, row_sums.shape[2]), np.float32)
    channels = total.shape[1]
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
            pixel = index[y, x]
            if pixel >= 0:
                norm = total[x - start].sum()
                for c in range(channels):
                    out[pixel, c] = total[x - start, c] / norm


@functools.cache
def _kernels() -> tuple[Kernel, Kernel] | None:
    """``_row_sums`` and ``_column_means`` compiled, or ``None`` where Numba is missing or fails."""
    row_sums = compiled(_row_sums, _warm_up_rows)
    column_means = compiled(_column_means, _warm_up_columns)
    return None if row_sums is None or column_means is None else (row_sums, column_means)


def _warm_up_rows(kernel: Kernel) -> None:
    """One body pixel in a one-pixel box, in the argument types of ``window_means``."""
    kernel(np.zeros((1, 1), np.int32), np.ones((1, 2), np.float32), 1, np.empty((1, 1, 2), np.float32), 0, 1)


def _warm_up_columns(kernel: Kernel) -> None:
    """One body pixel in a one-pixel box, in the argument types of ``window_means``."""
    kernel(np.zeros((1, 1), np.int32), 1, np.ones((1, 1, 2), np.float32), np.empty((1, 2), np.float32), 0, 1)
