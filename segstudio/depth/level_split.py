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

import numpy as np

from segstudio.depth.jit import Kernel
from segstudio.depth.level_images import PackedImages, SampleSet
from segstudio.depth.workers import run_blocks, spans, workers

CANDIDATE_SPLIT_BELOW = 16
"""Levels of fewer nodes than this split each node's candidates into groups, so that every thread
has work (a root is one node)."""
BLOCK_VALUES = 1 << 27
"""Candidate values (float32: 512 MB) of one block of small nodes, made before their histograms;
nodes with more samples than a block holds are searched node by node."""
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
    1`` and its threshold (float32); the first best in candidate order. Compiled, nodes of more
    than ``block_samples(K)`` samples are searched node by node (``level_split_jit._scores``), the
    others in blocks of whole nodes, values first, sample by sample in image order."""
    n_nodes, k = tasks.u_row.shape
    kernels = (_scores_kernel(), _image_kernels()) if use_jit else (None, None)
    if None in kernels:
        cost, threshold = np.full((n_nodes, k), np.inf), np.zeros((n_nodes, k), np.float32)
        for j in range(n_nodes):
            for c in range(k):
                cost[j, c], threshold[j, c] = _task_split(
                    images, samples, tasks, (j, c), pick_index[j, c], xlogx, n_classes, min_leaf
                )
        best = np.argmin(cost, axis=1)
        rows = np.arange(n_nodes)
        return cost[rows, best], best, threshold[rows, best]
    found = (np.full(n_nodes, np.inf), np.full(n_nodes, -1, np.int64), np.zeros(n_nodes, np.float32))
    sizes = tasks.stop - tasks.first
    most = block_samples(k)
    scores, image_kernels = kernels
    big = np.flatnonzero(sizes > most)
    if big.size:
        _node_by_node(scores, images, samples, tasks, pick_index, (xlogx, n_classes, min_leaf), big, found)
    small = np.flatnonzero(sizes <= most)
    for lo, hi in _runs(sizes[small], most):
        rules = (xlogx, n_classes, min_leaf)
        _by_image(image_kernels, images, samples, tasks, pick_index, rules, small[lo:hi], found)
    return found


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


def block_samples(candidates: int) -> int:
    """Most samples of a block of small nodes: their values, ``candidates`` float32 each, fill
    ``BLOCK_VALUES``."""
    return max(1, BLOCK_VALUES // max(1, candidates))


def _node_by_node(
    kernel: Kernel,
    images: PackedImages,
    samples: SampleSet,
    tasks: Tasks,
    pick_index: np.ndarray,
    rules: tuple[np.ndarray, int, int],
    nodes: np.ndarray,
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """The best splits of ``nodes`` into ``found`` (cost, candidate, threshold), each node's
    candidates in groups when there are few nodes, so that every thread has work."""
    k = tasks.u_row.shape[1]
    groups = max(1, min(k, -(-CANDIDATE_SPLIT_BELOW // nodes.size)))
    bounds = np.linspace(0, k, groups + 1).astype(np.int64)
    task_node = np.repeat(nodes.astype(np.int64), groups)
    task_low, task_high = np.tile(bounds[:-1], nodes.size), np.tile(bounds[1:], nodes.size)
    cost, candidate = np.full(task_node.size, np.inf), np.zeros(task_node.size, np.int64)
    threshold = np.zeros(task_node.size, np.float32)
    arguments = (*images.arrays(), *samples.arrays(), *tasks.arrays(), pick_index, *rules)
    outputs = (task_node, task_low, task_high, cost, candidate, threshold)
    work = (tasks.stop - tasks.first)[task_node] * (task_high - task_low)
    run_blocks(lambda lo, hi: kernel(*arguments, *outputs, lo, hi), _balanced_blocks(work))
    cost, candidate, threshold = (a.reshape(nodes.size, groups) for a in (cost, candidate, threshold))
    best = np.argmin(cost, axis=1)
    rows = np.arange(nodes.size)
    found[0][nodes], found[1][nodes], found[2][nodes] = (
        cost[rows, best],
        candidate[rows, best],
        threshold[rows, best],
    )


def _by_image(
    kernels: tuple[Kernel, Kernel],
    images: PackedImages,
    samples: SampleSet,
    tasks: Tasks,
    pick_index: np.ndarray,
    rules: tuple[np.ndarray, int, int],
    nodes: np.ndarray,
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """The best splits of a block of small ``nodes`` into ``found``: every candidate's value at
    every sample of the block, on the threads by runs of samples in image order, then the nodes'
    thresholds, histograms and costs from them, on the threads by nodes."""
    image_values, value_scores = kernels
    sizes = tasks.stop[nodes] - tasks.first[nodes]
    n = int(sizes.sum())
    row_of = np.zeros(tasks.first.size, np.int64)
    row_of[nodes] = np.cumsum(sizes) - sizes
    sample = np.repeat(tasks.first[nodes] - row_of[nodes], sizes) + np.arange(n)
    task = np.repeat(nodes.astype(np.int64), sizes)
    image = samples.image[sample]
    order = np.argsort(image.astype(np.uint16) if image.max(initial=0) < 1 << 16 else image, kind="stable")
    values = np.empty((n, tasks.u_row.shape[1]), np.float32)
    arguments = (*images.arrays(), *samples.arrays()[:4], sample, task, order, *tasks.arrays()[2:], values)
    run_blocks(lambda lo, hi: image_values(*arguments, lo, hi), spans(n, n // MIN_BLOCK_SAMPLES))
    arguments = (values, samples.label, tasks.first, tasks.stop, row_of, pick_index, *rules, nodes, *found)
    run_blocks(lambda lo, hi: value_scores(*arguments, lo, hi), _balanced_blocks(sizes))


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


def _scores_kernel() -> Kernel | None:
    from segstudio.depth.level_split_jit import scores_kernel  # imports Numba: only when training

    return scores_kernel()


def _image_kernels() -> tuple[Kernel, Kernel] | None:
    from segstudio.depth.level_split_jit import image_kernels

    return image_kernels()


def _values_kernel() -> Kernel | None:
    from segstudio.depth.level_split_jit import values_kernel

    return values_kernel()
