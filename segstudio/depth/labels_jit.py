"""Each pixel's part, the argmax of its probabilities, compiled by Numba.

numpy's ``argmax(axis=1)`` on (pixels, 31) float32 runs its inner loop once per 31-value row: ~1.3
ms for a 16k-pixel body, as much as smoothing's row pass; one compiled loop takes ~0.25 ms. The
labels are numpy's: the first largest value, a NaN counting as larger than any number. Where
Numba is missing or fails (``depth.jit``), numpy's argmax runs.
"""

from __future__ import annotations

import functools

import numpy as np

from segstudio.depth.jit import Kernel, compiled


def part_labels(proba: np.ndarray) -> np.ndarray:
    """(N,) uint8: the column of each row's largest value in ``proba`` (N, C), ``C`` <= 256."""
    proba = np.asarray(proba)
    if proba.ndim == 2 and proba.shape[1] > 256:
        raise ValueError(f"at most 256 parts fit a uint8 label; got {proba.shape[1]}")
    kernel = _kernel() if proba.ndim == 2 and proba.shape[1] > 0 and proba.dtype == np.float32 else None
    if kernel is None:
        return proba.argmax(axis=1).astype(np.uint8)
    labels = np.empty(proba.shape[0], np.uint8)
    kernel(proba, labels)
    return labels


def _argmax_rows(proba: np.ndarray, labels: np.ndarray) -> None:
    """``labels[i]``: the first column of row ``i``'s largest value, or of its first NaN."""
    for i in range(proba.shape[0]):
        best, value = 0, proba[i, 0]
        if value != value:
            labels[i] = 0
            continue
        for c in range(1, proba.shape[1]):
            x = proba[i, c]
            if x != x:  # NaN: numpy's argmax stops at the first
                best = c
                break
            if x > value:
                best, value = c, x
        labels[i] = best


@functools.cache
def _kernel() -> Kernel | None:
    """``_argmax_rows`` compiled, or ``None`` where Numba is missing or fails."""
    return compiled(_argmax_rows, _warm_up)


def _warm_up(kernel: Kernel) -> None:
    """One row, in the argument types of ordinary frames (C-contiguous float32)."""
    kernel(np.zeros((1, 31), np.float32), np.empty(1, np.uint8))
