"""Split search of the level-wise trainer: features computed per (node, candidate) from the crops,
never stored as a matrix. Compiled kernels (``level_split_jit``) on one thread per core where Numba
loads, else their numpy twins here, which choose the same splits (tests/depth).

A task is one candidate offset pair of one node. Its thresholds are the feature values of
``picks`` (uniform in 0..1, times the node's size) of the node's samples: random thresholds that
follow the node's data, as ``ForestParams(thresholds="sample")``. A split sends ``value <=
threshold`` left; its cost is the children's summed ``n H`` (``xlogx(n_l) + xlogx(n_r) - sum_c
xlogx(n_c)``), summed over classes in class order in both paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from segstudio.depth.jit import Kernel
from segstudio.depth.level_images import PackedImages, SampleSet
from segstudio.depth.workers import run_blocks, spans, workers

if TYPE_CHECKING:
    from segstudio.depth.level_split_jit import SplitKernels

BLOCK_VALUES = 1 << 27
"""Candidate values (float32: 512 MB) of one block of samples, made before their histograms."""
MIN_BLOCK_SAMPLES = 1024
"""Fewest samples worth a thread of their own when a block's values are made."""


@dataclass(frozen=True)
class Tasks:
    """Nodes with their sample ranges ``first .. stop - 1`` and offsets (float32): ``(nodes,)`` for
    one pair per node, ``(nodes, candidates)`` for candidates."""

    first: np.ndarray
    stop: np.ndarray
    u_row: np.ndarray
    u_col: np.ndarray
    v_row: np.ndarray
    v_col: np.ndarray

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.first, self.stop, self.u_row, self.u_col, self.v_row, self.v_col


class Search(NamedTuple):
    """What a level's split search reads: crops, samples, candidates and thresholds' samples
    (``best_splits``), and the rules of a split's cost."""

    images: PackedImages
    samples: SampleSet
    tasks: Tasks
    pick_index: np.ndarray
    xlogx: np.ndarray
    n_classes: int
    min_leaf: int


def best_splits(
    images: PackedImages,
    samples: SampleSet,
    tasks: Tasks,
    pick_index: np.ndarray,
    xlogx: np.ndarray,
    n_classes: int,
    min_leaf: int,
    use_jit: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each node's best candidate (``tasks`` offsets ``(nodes, K)``; ``pick_index`` ``(nodes, K,
    T)`` int32: the samples whose values are the candidates' thresholds): its cost (float64,
    ``inf`` where no threshold leaves ``min_leaf`` samples on both sides), its index in ``0 .. K -
    1`` and its threshold (float32); the first best in candidate order. Compiled, the nodes are
    searched in blocks of whole nodes of up to ``block_samples(K)`` samples, values first, sample
    by sample in image order; a larger node a block of its samples at a time."""
    n_nodes, k = tasks.u_row.shape
    kernels = _split_kernels() if use_jit else None
    if kernels is None:
        cost, threshold = np.full((n_nodes, k), np.inf), np.zeros((n_nodes, k), np.float32)
        for j in range(n_nodes):
            for c in range(k):
                cost[j, c], threshold[j, c] = _task_split(
                    images, samples, tasks, (j, c), pick_index[j, c], xlogx, n_classes, min_leaf
                )
        best = np.argmin(cost, axis=1)
        rows = np.arange(n_nodes)
        return cost[rows, best], best, threshold[rows, best]
    search = Search(images, samples, tasks, pick_index, xlogx, n_classes, min_leaf)
    found = (np.full(n_nodes, np.inf), np.full(n_nodes, -1, np.int64), np.zeros(n_nodes, np.float32))
    sizes = tasks.stop - tasks.first
    most = block_samples(k)
    for j in np.flatnonzero(sizes > most):
        _large_node(kernels, search, int(j), most, found)
    small = np.flatnonzero(sizes <= most)
    for lo, hi in _runs(sizes[small], most):
        _small_nodes(kernels, search, small[lo:hi], found)
    return found


def block_samples(candidates: int) -> int:
    """Most samples of a block: their values, ``candidates`` float32 each, fill ``BLOCK_VALUES``."""
    return max(1, BLOCK_VALUES // max(1, candidates))


def _runs(sizes: np.ndarray, most: int) -> list[tuple[int, int]]:
    """``0 .. len(sizes)`` in consecutive runs whose sizes sum to at most ``most`` (each size is)."""
    runs, start, total = [], 0, 0
    for i, size in enumerate(sizes.tolist()):
        if total + size > most:
            runs.append((start, i))
            start, total = i, 0
        total += size
    if start < len(sizes):
        runs.append((start, len(sizes)))
    return runs


def _candidate_values(
    kernels: SplitKernels, search: Search, sample: np.ndarray, task: np.ndarray
) -> np.ndarray:
    """(len(sample), K) float32: every candidate of node ``task[r]`` at sample ``sample[r]``, made
    on the threads by runs of rows in image order."""
    image = search.samples.image[sample]
    order = np.argsort(image.astype(np.uint16) if image.max(initial=0) < 1 << 16 else image, kind="stable")
    values = np.empty((sample.size, search.tasks.u_row.shape[1]), np.float32)
    reads = (*search.images.arrays(), *search.samples.arrays()[:4], sample, task, order)
    arguments = (*reads, *search.tasks.arrays()[2:], values)
    run_blocks(
        lambda lo, hi: kernels.image_values(*arguments, lo, hi),
        spans(sample.size, sample.size // MIN_BLOCK_SAMPLES),
    )
    return values


def _small_nodes(
    kernels: SplitKernels, search: Search, nodes: np.ndarray, found: tuple[np.ndarray, ...]
) -> None:
    """The best splits of a block of ``nodes`` into ``found`` (cost, candidate, threshold): their
    samples' candidate values, then on the threads by nodes their thresholds, histograms, costs."""
    tasks = search.tasks
    sizes = tasks.stop[nodes] - tasks.first[nodes]
    n = int(sizes.sum())
    row_of = np.zeros(tasks.first.size, np.int64)
    row_of[nodes] = np.cumsum(sizes) - sizes
    sample = np.repeat(tasks.first[nodes] - row_of[nodes], sizes) + np.arange(n)
    values = _candidate_values(kernels, search, sample, np.repeat(nodes.astype(np.int64), sizes))
    rules = (search.xlogx, search.n_classes, search.min_leaf)
    arguments = (
        values,
        search.samples.label,
        tasks.first,
        tasks.stop,
        row_of,
        search.pick_index,
        *rules,
        nodes,
        *found,
    )
    run_blocks(lambda lo, hi: kernels.value_scores(*arguments, lo, hi), _balanced_blocks(sizes))


def _large_node(
    kernels: SplitKernels, search: Search, node: int, most: int, found: tuple[np.ndarray, ...]
) -> None:
    """The best split of a node of more than ``most`` samples into ``found``: its thresholds from
    the values at its picked samples, then its histograms ``most`` samples at a time, each over
    the threads by candidates."""
    picks = search.pick_index[node].astype(np.int64)  # (K, T)
    k, n_thresholds = picks.shape
    at_picks = _candidate_values(kernels, search, picks.ravel(), np.full(picks.size, node, np.int64))
    thresholds = np.sort(
        at_picks[np.arange(picks.size), np.repeat(np.arange(k), n_thresholds)].reshape(k, -1), axis=1
    )
    histogram = np.zeros((search.n_classes, k, n_thresholds + 1), np.int32)
    first, stop = int(search.tasks.first[node]), int(search.tasks.stop[node])
    for lo in range(first, stop, most):
        rows = np.arange(lo, min(stop, lo + most))
        values = _candidate_values(kernels, search, rows, np.full(rows.size, node, np.int64))
        arguments = (values, 0, search.samples.label, lo, rows.size, thresholds, histogram)
        run_blocks(partial(kernels.counts, *arguments), spans(k, k))
    best = kernels.best_split(histogram, thresholds, search.xlogx, stop - first, search.min_leaf)
    found[0][node], found[1][node], found[2][node] = best


def node_values(images: PackedImages, samples: SampleSet, tasks: Tasks, use_jit: bool = True) -> np.ndarray:
    """Float32 feature of every sample of ``tasks``' ranges (one task per node) for its node's offsets."""
    out = np.zeros(len(samples), np.float32)
    kernel = _values_kernel() if use_jit else None
    if kernel is None:
        for t in range(tasks.first.size):
            span = slice(tasks.first[t], tasks.stop[t])
            out[span] = images.features(samples.take(np.arange(span.start, span.stop)), *_offsets(tasks, t))
        return out
    arguments = (*images.arrays(), *samples.arrays()[:4], *tasks.arrays(), out)
    run_blocks(lambda lo, hi: kernel(*arguments, lo, hi), _balanced_blocks(tasks.stop - tasks.first))
    return out


def _offsets(tasks: Tasks, t: int | tuple[int, int]) -> tuple[np.float32, ...]:
    return tasks.u_row[t], tasks.u_col[t], tasks.v_row[t], tasks.v_col[t]


def _task_split(
    images: PackedImages,
    samples: SampleSet,
    tasks: Tasks,
    t: tuple[int, int],
    pick_index: np.ndarray,
    xlogx: np.ndarray,
    n_classes: int,
    min_leaf: int,
) -> tuple[float, np.float32]:
    """The numpy twin of ``level_split_jit._scores`` for candidate ``t[1]`` of node ``t[0]``."""
    node = samples.take(np.arange(tasks.first[t[0]], tasks.stop[t[0]]))
    n = len(node)
    values = images.features(node, *_offsets(tasks, t))
    thresholds = np.sort(values[pick_index - tasks.first[t[0]]])
    position = np.searchsorted(thresholds, values, side="left")  # thresholds below each value
    histogram = np.bincount(position * n_classes + node.label, minlength=(pick_index.size + 1) * n_classes)
    left = np.cumsum(histogram.reshape(-1, n_classes), axis=0)[:-1]
    right = np.bincount(node.label, minlength=n_classes)[None, :] - left
    n_left = left.sum(axis=1)
    n_right = n - n_left
    s_left, s_right = np.zeros(left.shape[0]), np.zeros(left.shape[0])
    for c in range(n_classes):
        s_left = s_left + xlogx[left[:, c]]
    for c in range(n_classes):
        s_right = s_right + xlogx[right[:, c]]
    cost = (xlogx[n_left] + xlogx[n_right]) - (s_left + s_right)
    cost[(n_left < min_leaf) | (n_right < min_leaf)] = np.inf
    best = int(np.argmin(cost))
    if not np.isfinite(cost[best]):
        return np.inf, np.float32(0.0)
    return float(cost[best]), thresholds[best]


def _balanced_blocks(work: np.ndarray) -> list[tuple[int, int]]:
    """``0 .. len(work)`` in up to ``workers()`` consecutive blocks of about equal summed work."""
    if work.size == 0:
        return [(0, 0)]
    count = max(1, min(workers(), work.size))
    total = np.cumsum(work, dtype=np.float64)
    cuts = np.searchsorted(total, total[-1] * np.arange(1, count) / count, side="right")
    bounds = np.unique(np.r_[0, cuts, work.size])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _split_kernels() -> SplitKernels | None:
    from segstudio.depth.level_split_jit import split_kernels  # imports Numba: only when training

    return split_kernels()


def _values_kernel() -> Kernel | None:
    from segstudio.depth.level_split_jit import values_kernel

    return values_kernel()
