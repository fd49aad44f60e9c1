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
from segstudio.depth.workers import run_blocks, workers

CANDIDATE_SPLIT_BELOW = 16
"""Levels of fewer nodes than this split each node's candidates into groups, so that every thread
has work (a root is one node)."""


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
    picks: np.ndarray,
    xlogx: np.ndarray,
    n_classes: int,
    min_leaf: int,
    use_jit: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each node's best candidate (``tasks`` offsets ``(nodes, K)``, ``picks`` ``(nodes, K, T)``):
    its cost (float64, ``inf`` where no threshold leaves ``min_leaf`` samples on both sides), its
    index in ``0 .. K - 1`` and its threshold (float32); the first best in candidate order."""
    n_nodes, k = tasks.u_row.shape
    kernel = _scores_kernel() if use_jit else None
    if kernel is None:
        cost, threshold = np.full((n_nodes, k), np.inf), np.zeros((n_nodes, k), np.float32)
        for j in range(n_nodes):
            for c in range(k):
                cost[j, c], threshold[j, c] = _task_split(
                    images, samples, tasks, (j, c), picks[j, c], xlogx, n_classes, min_leaf
                )
        best = np.argmin(cost, axis=1)
        rows = np.arange(n_nodes)
        return cost[rows, best], best, threshold[rows, best]
    groups = max(1, min(k, -(-CANDIDATE_SPLIT_BELOW // max(1, n_nodes))))  # few nodes: split candidates
    bounds = np.linspace(0, k, groups + 1).astype(np.int64)
    task_node = np.repeat(np.arange(n_nodes, dtype=np.int64), groups)
    task_low, task_high = np.tile(bounds[:-1], n_nodes), np.tile(bounds[1:], n_nodes)
    cost, candidate = np.full(task_node.size, np.inf), np.zeros(task_node.size, np.int64)
    threshold = np.zeros(task_node.size, np.float32)
    arguments = (*images.arrays(), *samples.arrays(), *tasks.arrays(), picks, xlogx, n_classes, min_leaf)
    outputs = (task_node, task_low, task_high, cost, candidate, threshold)
    work = (tasks.stop - tasks.first)[task_node] * (task_high - task_low)
    run_blocks(lambda lo, hi: kernel(*arguments, *outputs, lo, hi), _balanced_blocks(work))
    cost, candidate, threshold = (a.reshape(n_nodes, groups) for a in (cost, candidate, threshold))
    best = np.argmin(cost, axis=1)
    rows = np.arange(n_nodes)
    return cost[rows, best], candidate[rows, best], threshold[rows, best]


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
    picks: np.ndarray,
    xlogx: np.ndarray,
    n_classes: int,
    min_leaf: int,
) -> tuple[float, np.float32]:
    """The numpy twin of ``level_split_jit._scores`` for candidate ``t[1]`` of node ``t[0]``."""
    node = samples.take(np.arange(tasks.first[t[0]], tasks.stop[t[0]]))
    n = len(node)
    values = images.features(node, *_offsets(tasks, t))
    thresholds = np.sort(values[(picks * n).astype(np.int64)])
    position = np.searchsorted(thresholds, values, side="left")  # thresholds below each value
    histogram = np.bincount(position * n_classes + node.label, minlength=(picks.size + 1) * n_classes)
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


def _values_kernel() -> Kernel | None:
    from segstudio.depth.level_split_jit import values_kernel

    return values_kernel()
