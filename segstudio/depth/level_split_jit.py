"""The level-wise trainer's hot loops compiled by Numba, with the numpy path's float32 probe
arithmetic and the same summation order, so splits are identical to ``level_split``'s numpy twin
(tests/depth). Imported only by training (it imports Numba at once); ``None`` kernels where Numba is
missing or fails.

``image_values``: every candidate offset pair's feature at every sample of a block, sample by
sample in image order: the ~250 samples an image has in a level read its crop while it is in
cache. (Searched node by node, as before issue 19's eighth stop, the deep levels' nodes hold one
or two samples of an image each, so nearly every probe missed the cache: growing cost ~2.6x the
CPU.) ``value_scores``: from those values, node by node, thresholds picked among the node's
values, one class histogram per threshold gap (``_count``) and the lowest split cost (children's
summed ``n H``, ``_best_split``) with its threshold. A node larger than a block is counted a
block of its samples at a time, its candidates split over the threads (``counts``).
``values``: the winning feature of each node at its samples, to send them to the children.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from segstudio.depth.features import BACKGROUND_DEPTH_M
from segstudio.depth.jit import Kernel, compiled

try:
    import numba
except ImportError:  # the numpy twin in level_split runs instead
    numba = None


def _index_py(
    top: int,
    left: int,
    height: int,
    width: int,
    last_row: np.float32,
    last_col: np.float32,
    row: np.float32,
    col: np.float32,
    inv: np.float32,
    d_row: np.float32,
    d_col: np.float32,
) -> int:
    """Index in its crop of the pixel a probe of offset ``(d_row, d_col)`` reads, -1 off the crop
    (``level_images._read``). Scalars only: calls between compiled functions that pass arrays pay
    reference counting per call, which was 5x the probe itself."""
    r = min(max(row + np.rint(d_row * inv), np.float32(0.0)), last_row)
    c = min(max(col + np.rint(d_col * inv), np.float32(0.0)), last_col)
    in_row = int(r) - 1 - top
    in_col = int(c) - 1 - left
    if in_row < 0 or in_row >= height or in_col < 0 or in_col >= width:
        return -1
    return in_row * width + in_col


def _metres_py(mm: int, index: int) -> np.float32:
    """What the probe at crop ``index`` reads, given the millimetres there (``BACKGROUND_DEPTH_M``
    off the crop; a crop's invalid pixels hold ``level_images.BACKGROUND_MM``, which reads as it)."""
    if index < 0:
        return np.float32(BACKGROUND_DEPTH_M)
    return np.float32(mm) * np.float32(0.001)


_index = numba.njit(nogil=True, inline="always")(_index_py) if numba is not None else _index_py
_metres = numba.njit(nogil=True, inline="always")(_metres_py) if numba is not None else _metres_py


def _best_split_py(
    histogram: np.ndarray, thresholds: np.ndarray, xlogx: np.ndarray, n: int, min_leaf: int
) -> tuple[float, int, np.float32]:
    """The lowest cost over ``histogram``'s (class, candidate, threshold gap) counts of a node of
    ``n`` samples, its candidate (the first best, in candidate then threshold order) and threshold;
    ``inf`` and -1 where no threshold leaves ``min_leaf`` samples on both sides."""
    n_classes, n_k, n_gaps = histogram.shape[0], histogram.shape[1], histogram.shape[2]
    best, best_k, best_threshold = np.inf, -1, np.float32(0.0)
    total = np.zeros(n_classes, np.int64)
    left_counts = np.zeros(n_classes, np.int64)
    for k in range(n_k):
        total[:] = 0
        for p in range(n_gaps):
            for c in range(n_classes):
                total[c] += histogram[c, k, p]
        left_counts[:] = 0
        n_left = 0
        for p in range(n_gaps - 1):
            for c in range(n_classes):
                left_counts[c] += histogram[c, k, p]
                n_left += histogram[c, k, p]
            n_right = n - n_left
            if n_left < min_leaf or n_right < min_leaf:
                continue
            s_left, s_right = 0.0, 0.0
            for c in range(n_classes):
                s_left += xlogx[left_counts[c]]
            for c in range(n_classes):
                s_right += xlogx[total[c] - left_counts[c]]
            cost = (xlogx[n_left] + xlogx[n_right]) - (s_left + s_right)
            if cost < best:
                best, best_k, best_threshold = cost, k, thresholds[k, p]
    return best, best_k, best_threshold


_best_split = numba.njit(nogil=True, inline="always")(_best_split_py) if numba is not None else _best_split_py


def _count_py(
    values: np.ndarray,
    first_row: int,
    labels: np.ndarray,
    first_label: int,
    n: int,
    thresholds: np.ndarray,
    k_low: int,
    k_high: int,
    histogram: np.ndarray,
) -> None:
    """Add ``n`` samples (their values from row ``first_row`` of ``values``, their labels from
    ``first_label``) to ``histogram[label, k, thresholds below the value]`` for candidates
    ``k_low .. k_high - 1``. Class first: a sample's increments for all its candidates land in one
    class's (candidates x gaps) block, 11 KB that stays in L1, where candidate first spread them
    over the whole 340 KB histogram, a cache line each."""
    n_thresholds = thresholds.shape[1]
    for s in range(n):
        label = labels[first_label + s]
        for k in range(k_low, k_high):
            value = values[first_row + s, k]
            below = 0
            for p in range(n_thresholds):  # thresholds below the value, without branches
                below += thresholds[k, p] < value
            histogram[label, k, below] += 1


_count = numba.njit(nogil=True, inline="always")(_count_py) if numba is not None else _count_py


def _counts(values, first_row, labels, first_label, n, thresholds, histogram, lo, hi) -> None:
    """(A Numba kernel.) ``_count`` for candidates ``lo .. hi - 1``: a large node's histogram,
    its candidates split over the threads."""
    _count(values, first_row, labels, first_label, n, thresholds, lo, hi, histogram)


def _image_values(
    depth,
    start,
    top,
    left,
    height,
    width,
    last_row,
    last_col,
    s_image,
    s_row,
    s_col,
    s_inv,
    sample,
    task,
    order,
    u_row,
    u_col,
    v_row,
    v_col,
    out,
    lo,
    hi,
) -> None:
    """(Untyped arguments: a Numba kernel, called from ``level_split.best_splits`` only.) Row ``r``
    of ``out``: every candidate of node ``task[r]`` at sample ``sample[r]``, for the rows
    ``order[lo .. hi - 1]`` (grouped by image: each crop is read while it is in cache)."""
    zero, milli, background = np.float32(0.0), np.float32(0.001), np.float32(BACKGROUND_DEPTH_M)
    n_k = u_row.shape[1]
    for o in range(lo, hi):
        r = order[o]
        i, j = sample[r], task[r]
        image, row, col, inv = s_image[i], s_row[i], s_col[i], s_inv[i]
        base, tp, lf, hg, wd = start[image], top[image], left[image], height[image], width[image]
        lr, lc = last_row[image], last_col[image]
        for k in range(n_k):
            value = zero
            for side in range(2):  # u, then v: ``_index`` and ``_metres`` written out (the hot loop)
                d_row, d_col = (u_row[j, k], u_col[j, k]) if side == 0 else (v_row[j, k], v_col[j, k])
                y = int(min(max(row + np.rint(d_row * inv), zero), lr)) - 1 - tp
                x = int(min(max(col + np.rint(d_col * inv), zero), lc)) - 1 - lf
                probe = background
                if y >= 0 and y < hg and x >= 0 and x < wd:  # no test for 0 mm: BACKGROUND_MM reads so
                    probe = np.float32(depth[base + y * wd + x]) * milli
                value = probe if side == 0 else value - probe
            out[r, k] = value


def _value_scores(
    values,
    s_label,
    first,
    stop,
    row_of,
    pick_index,
    xlogx,
    n_classes,
    min_leaf,
    nodes,
    cost_out,
    candidate_out,
    threshold_out,
    lo,
    hi,
) -> None:
    """(Untyped arguments: a Numba kernel.) Best split of ``nodes[lo .. hi - 1]`` from their
    samples' candidate values (``_image_values``: node ``j``'s sample ``first[j] + s`` is row
    ``row_of[j] + s``): thresholds at the picked samples, one class histogram per threshold gap,
    the lowest cost, as ``_scores``."""
    n_k, n_thresholds = pick_index.shape[1], pick_index.shape[2]
    for t in range(lo, hi):
        j = nodes[t]
        a, n, base = first[j], stop[j] - first[j], row_of[j]
        thresholds = np.empty((n_k, n_thresholds), np.float32)
        for k in range(n_k):
            for p in range(n_thresholds):
                thresholds[k, p] = values[base + pick_index[j, k, p] - a, k]
            thresholds[k].sort()
        histogram = np.zeros((n_classes, n_k, n_thresholds + 1), np.int32)
        _count(values, base, s_label, a, n, thresholds, 0, n_k, histogram)
        cost_out[j], candidate_out[j], threshold_out[j] = _best_split(
            histogram, thresholds, xlogx, n, min_leaf
        )


def _values(
    depth,
    start,
    top,
    left,
    height,
    width,
    last_row,
    last_col,
    s_image,
    s_row,
    s_col,
    s_inv,
    first,
    stop,
    u_row,
    u_col,
    v_row,
    v_col,
    out,
    lo,
    hi,
) -> None:
    """Node ``j``'s feature (offsets ``u[j]``, ``v[j]``) at its samples ``first[j] .. stop[j] - 1``."""
    for j in range(lo, hi):
        for i in range(first[j], stop[j]):
            image, row, col, inv = s_image[i], s_row[i], s_col[i], s_inv[i]
            base, tp, lf, hg, wd = start[image], top[image], left[image], height[image], width[image]
            lr, lc = last_row[image], last_col[image]
            iu = _index(tp, lf, hg, wd, lr, lc, row, col, inv, u_row[j], u_col[j])
            iv = _index(tp, lf, hg, wd, lr, lc, row, col, inv, v_row[j], v_col[j])
            out[i] = _metres(depth[base + max(iu, 0)], iu) - _metres(depth[base + max(iv, 0)], iv)


def _tiny_arguments() -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """One 1x1 crop and one sample, in the argument types of ``level_split``."""
    i64, f32 = np.zeros(1, np.int64), np.ones(1, np.float32)
    images = (np.ones(1, np.uint16), i64, i64, i64, i64 + 1, i64 + 1, f32 * 2, f32 * 2)
    samples = (np.zeros(1, np.int32), f32, f32, f32, np.zeros(1, np.uint8))
    return images, samples


def _warm_values(kernel: Kernel) -> None:
    images, samples = _tiny_arguments()
    f32, i64 = np.zeros(1, np.float32), np.array([0], np.int64)
    kernel(*images, *samples[:4], i64, i64 + 1, f32, f32, f32, f32, np.zeros(1, np.float32), 0, 1)


def _warm_image_values(kernel: Kernel) -> None:
    images, samples = _tiny_arguments()
    f32, i64 = np.zeros((1, 1), np.float32), np.array([0], np.int64)
    kernel(*images, *samples[:4], i64, i64, i64, f32, f32, f32, f32, np.zeros((1, 1), np.float32), 0, 1)


def _warm_value_scores(kernel: Kernel) -> None:
    i64, picks = np.array([0], np.int64), np.zeros((1, 1, 2), np.int32)
    out = (np.zeros(1), np.zeros(1, np.int64), np.zeros(1, np.float32))
    values, labels = np.zeros((1, 1), np.float32), np.zeros(1, np.uint8)
    kernel(values, labels, i64, i64 + 1, i64, picks, np.zeros(3), 2, 1, i64, *out, 0, 1)


def _warm_counts(kernel: Kernel) -> None:
    values, thresholds = np.zeros((1, 1), np.float32), np.zeros((1, 2), np.float32)
    kernel(values, 0, np.zeros(1, np.uint8), 0, 1, thresholds, np.zeros((2, 1, 3), np.int32), 0, 1)


def _warm_best_split(kernel: Kernel) -> None:
    kernel(np.zeros((2, 1, 3), np.int32), np.zeros((1, 2), np.float32), np.zeros(3), 2, 1)


class SplitKernels(NamedTuple):
    """The compiled split search (``level_split.best_splits``)."""

    image_values: Kernel
    value_scores: Kernel
    counts: Kernel
    best_split: Callable[..., tuple[float, int, np.float32]]


@functools.cache
def split_kernels() -> SplitKernels | None:
    """The split search's kernels compiled, or ``None`` where Numba is missing or fails."""
    if numba is None:
        return None
    found = (
        compiled(_image_values, _warm_image_values),
        compiled(_value_scores, _warm_value_scores),
        compiled(_counts, _warm_counts),
        compiled(_best_split_py, _warm_best_split),
    )
    return None if None in found else SplitKernels(*found)


@functools.cache
def values_kernel() -> Kernel | None:
    """``_values`` compiled, or ``None`` where Numba is missing or fails."""
    return compiled(_values, _warm_values) if numba is not None else None
