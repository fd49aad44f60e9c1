"""Window sums of part probabilities compiled by Numba, for ``depth.model.smooth``.

OpenCV's box filter over the body's bounding box (31 channels, sums in float64) was the slowest
step of smoothing, before the copies into and out of that box. Here the sums run straight from the
(N, 31) probabilities through an index map of the box: running sums along each row (a pixel
entering the window added, one leaving it subtracted), stored column by column, then running sums
down each column, normalised and written only at body pixels. Sums are float32, so they differ
from OpenCV's in the last bits (below 1e-6 of a pixel's probabilities; tests/depth).
"""

from __future__ import annotations

import functools

import numpy as np

from segstudio.depth.jit import Kernel, compiled


def _window_means(
    index: np.ndarray, proba: np.ndarray, radius: int, row_sums: np.ndarray, out: np.ndarray
) -> None:
    """``out[k]``: the probabilities summed over the ``2 * radius + 1`` square window around pixel
    ``k``, divided by their total. ``index`` (h, w): the pixel at each place of the box, -1 for
    none; ``row_sums`` (w, h, C): scratch."""
    height, width = index.shape
    channels = proba.shape[1]
    total = np.zeros(channels, np.float32)
    for y in range(height):  # row sums over x - radius .. x + radius
        total[:] = 0
        for x in range(-radius, width):
            enter = index[y, x + radius] if x + radius < width else -1
            leave = index[y, x - radius - 1] if x - radius - 1 >= 0 else -1
            for c in range(channels):
                if enter >= 0:
                    total[c] += proba[enter, c]
                if leave >= 0:
                    total[c] -= proba[leave, c]
            if x >= 0:
                row_sums[x, y] = total
    for x in range(width):  # column sums of the row sums over y - radius .. y + radius
        total[:] = 0
        for y in range(-radius, height):
            enter, leave = y + radius, y - radius - 1
            for c in range(channels):
                if enter < height:
                    total[c] += row_sums[x, enter, c]
                if leave >= 0:
                    total[c] -= row_sums[x, leave, c]
            pixel = index[y, x] if y >= 0 else -1
            if pixel >= 0:
                norm = total.sum()
                for c in range(channels):
                    out[pixel, c] = total[c] / norm


@functools.cache
def window_means_kernel() -> Kernel | None:
    """``_window_means`` compiled, or ``None`` where Numba is missing or fails."""
    return compiled(_window_means, _warm_up)


def _warm_up(kernel: Kernel) -> None:
    """One body pixel in a one-pixel box, in the argument types of ``smooth``."""
    proba = np.ones((1, 2), np.float32)
    kernel(np.zeros((1, 1), np.int32), proba, 1, np.empty((1, 1, 2), np.float32), np.empty_like(proba))
