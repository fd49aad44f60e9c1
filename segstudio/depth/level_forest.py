"""Grow one body-part tree breadth-first, a level at a time, from depth crops instead of a feature
matrix (issue 19): memory holds the crops and the samples, not (samples x offset pairs), so the bank
of offset pairs, the candidates per node and the pixels per frame are bounded by time only.

Each level: class counts per node, then for every node that may split ``candidates`` offset pairs
drawn from the bank (with replacement) and ``thresholds`` sample-value thresholds each
(``level_split``), the lowest-cost one kept (a node of more than ``search_samples`` samples is
searched on that many, evenly spread: the first levels' nodes hold millions, far more than it
takes to rank a few thousand splits, and searching them all was half the growing); its threshold
is stored halfway to the next value up among the node's samples (as ``core.forest`` does), and the
samples are sent to the children in a stable order (within a node they stay in image order, so
probes walk one crop at a time). The tree is a ``core.forest.Forest`` of the usual layout
(children after their parent, right child next to the left), its features indices into the bank:
the descent stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstudio.core.forest import Forest, level_children
from segstudio.depth.features import FeatureBank
from segstudio.depth.level_images import PackedImages, SampleSet
from segstudio.depth.level_split import Tasks, best_splits, block_samples, node_values

TASK_CHUNK = 1 << 18
"""(node, candidate) tasks whose candidates, then thresholds, are drawn in one batch: the order of
the random draws, kept so that a recipe grows the same trees as before the splits were searched a
level at a time."""


@dataclass(frozen=True)
class LevelParams:
    """How one tree grows."""

    max_depth: int = 20
    min_samples_leaf: int = 20
    candidates: int = 200
    thresholds: int = 16
    use_jit: bool = True
    """Compiled split kernels where Numba loads (``False``: the numpy twins, same tree)."""
    search_samples: int | None = None
    """Most samples a node's split search reads: a larger node's best split is chosen on this many
    of its samples, spread evenly over them (see ``search_rows``), then all of them are sent to the
    children; ``None``: all samples."""

    def __post_init__(self) -> None:
        if self.max_depth < 0 or self.min_samples_leaf < 1 or self.candidates < 1 or self.thresholds < 1:
            raise ValueError(
                f"need max_depth >= 0 and min_samples_leaf, candidates, thresholds >= 1; got {self}"
            )
        if self.search_samples is not None and self.search_samples < 2 * self.min_samples_leaf:
            raise ValueError(f"search_samples must be at least 2 * min_samples_leaf; got {self}")


def grow_tree(
    images: PackedImages,
    samples: SampleSet,
    bank: FeatureBank,
    params: LevelParams,
    n_classes: int,
    rng: np.random.Generator,
) -> Forest:
    """One tree on ``samples`` (labels ``0 .. n_classes - 1``) probing ``images``; leaves hold the
    class frequencies of their samples."""
    if len(samples) == 0:
        raise ValueError("no training samples")
    offsets = tuple(np.ascontiguousarray(a[:, i], np.float32) for a in (bank.u, bank.v) for i in (0, 1))
    xlogx = _xlogx(np.arange(len(samples) + 1))
    node = np.zeros(len(samples), np.int64)
    features, thresholds, children, leaf_probas = [], [], [], []
    n_level, level_start, n_leaves = 1, 0, 0
    for depth in range(params.max_depth + 1):
        counts = np.bincount(node * n_classes + samples.label, minlength=n_level * n_classes)
        counts = counts.reshape(n_level, n_classes)
        sizes = counts.sum(axis=1)
        bounds = np.r_[0, np.cumsum(sizes)]
        feature = np.full(n_level, -1, np.int64)
        raw = np.zeros(n_level, np.float32)
        splittable = (
            (depth < params.max_depth) & (sizes >= 2 * params.min_samples_leaf) & (counts.max(axis=1) < sizes)
        )
        ids = np.flatnonzero(splittable)
        if ids.size:
            found, chosen, threshold = _split_nodes(
                images, samples, offsets, bounds, ids, params, xlogx, n_classes, rng
            )
            feature[ids[found]], raw[ids[found]] = chosen[found], threshold[found]
        is_split = feature >= 0
        threshold = np.zeros(n_level, np.float32)
        right = np.zeros(len(samples), bool)
        if is_split.any():
            split_ids = np.flatnonzero(is_split)
            tasks = _tasks(offsets, bounds, split_ids, feature[split_ids])
            values = node_values(images, samples, tasks, params.use_jit)
            right = values > raw[node]
            right &= is_split[node]
            above = np.minimum.reduceat(np.where(right, values, np.float32(np.inf)), bounds[:-1])
            threshold[is_split] = _halfway(raw[is_split], above[is_split])
        n_split = int(is_split.sum())
        child = level_children(is_split, level_start, n_leaves)
        leaf_probas.append(counts[~is_split] / sizes[~is_split, None])
        features.append(feature)
        thresholds.append(threshold)
        children.append(child)
        n_leaves += n_level - n_split
        if n_split == 0:
            break
        keep = np.flatnonzero(is_split[node])
        next_node = (2 * (np.cumsum(is_split) - 1)[node] + right)[keep]
        order = np.argsort(next_node, kind="stable")
        samples, node = samples.take(keep[order]), next_node[order]
        level_start += n_level
        n_level = 2 * n_split
    return Forest(
        feature=np.concatenate(features).astype(np.int32),
        threshold=np.concatenate(thresholds),
        child=np.concatenate(children).astype(np.int32),
        roots=np.zeros(1, np.int32),
        leaf_proba=np.concatenate(leaf_probas).astype(np.float32),
        n_features=len(bank),
    )


def _split_nodes(
    images: PackedImages,
    samples: SampleSet,
    offsets: tuple[np.ndarray, ...],
    bounds: np.ndarray,
    nodes: np.ndarray,
    params: LevelParams,
    xlogx: np.ndarray,
    n_classes: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best candidate of each node of a level: found (bool), bank index and raw threshold. The
    candidates and thresholds are drawn ``TASK_CHUNK`` tasks at a time and searched a group of
    chunks at a time, a group holding at least a block of samples (``best_splits`` groups its
    nodes' samples by image, so a crop is read while in cache), on at most
    ``params.search_samples`` samples of each node (``search_rows``). Searching by groups keeps the
    draws (14 KB a node) of a level's many small nodes from filling memory: the same splits."""
    searched = search_rows(bounds, nodes, params.search_samples)
    if searched is not None:  # the split search reads these samples only, packed node after node
        rows, bounds = searched
        samples = samples.take(rows)
    found = np.zeros(nodes.size, bool), np.zeros(nodes.size, np.int64), np.zeros(nodes.size, np.float32)
    per_chunk = max(1, TASK_CHUNK // params.candidates)
    group: list[tuple[np.ndarray, np.ndarray]] = []
    group_start = group_samples = 0
    for lo in range(0, nodes.size, per_chunk):
        chunk = nodes[lo : lo + per_chunk]
        candidates = rng.integers(0, offsets[0].size, (chunk.size, params.candidates))
        picks = rng.random((chunk.size, params.candidates, params.thresholds))
        first, size = bounds[chunk][:, None, None], (bounds[chunk + 1] - bounds[chunk])[:, None, None]
        group.append((candidates, (first + (picks * size).astype(np.int64)).astype(np.int32)))
        group_samples += int(size.sum())
        if group_samples >= block_samples(params.candidates) or lo + per_chunk >= nodes.size:
            stop = lo + chunk.size
            _search_group(
                images,
                samples,
                offsets,
                bounds,
                nodes[group_start:stop],
                group,
                params,
                xlogx,
                n_classes,
                found,
                group_start,
            )
            group, group_start, group_samples = [], stop, 0
    return found


def _search_group(
    images: PackedImages,
    samples: SampleSet,
    offsets: tuple[np.ndarray, ...],
    bounds: np.ndarray,
    nodes: np.ndarray,
    draws: list[tuple[np.ndarray, np.ndarray]],
    params: LevelParams,
    xlogx: np.ndarray,
    n_classes: int,
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
    at: int,
) -> None:
    """The best splits of ``nodes`` for their drawn candidates and threshold picks into ``found``
    (rows ``at ..``)."""
    chosen = np.concatenate([candidates for candidates, _ in draws])
    pick_index = np.concatenate([picks for _, picks in draws])
    tasks = _tasks(offsets, bounds, nodes, chosen)
    cost, best, threshold = best_splits(
        images, samples, tasks, pick_index, xlogx, n_classes, params.min_samples_leaf, params.use_jit
    )
    rows = slice(at, at + nodes.size)
    found[0][rows], found[1][rows], found[2][rows] = (
        np.isfinite(cost),
        chosen[np.arange(nodes.size), best],
        threshold,
    )


def search_rows(
    bounds: np.ndarray, nodes: np.ndarray, most: int | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows a capped split search reads and the level's bounds among them (nodes not in
    ``nodes`` empty), or ``None`` when no node of ``nodes`` holds more than ``most`` samples. A node
    of ``n > most`` samples is searched on ``most`` of them, every ``n / most``-th from the middle
    of its stride: its samples lie in image order, so this spreads the search over all its
    images, and it needs no random draws (the candidates and thresholds are drawn as uncapped)."""
    sizes = bounds[nodes + 1] - bounds[nodes]
    if most is None or not (sizes > most).any():
        return None
    kept = np.minimum(sizes, most)
    level_sizes = np.zeros(bounds.size - 1, np.int64)
    level_sizes[nodes] = kept
    packed = np.r_[0, np.cumsum(level_sizes)]
    position = np.arange(int(kept.sum())) - np.repeat(packed[nodes], kept)  # 0 .. kept - 1 per node
    size, count = np.repeat(sizes, kept), np.repeat(kept, kept)
    rows = np.repeat(bounds[nodes], kept) + ((2 * position + 1) * size) // (2 * count)
    return rows, packed


def _tasks(
    offsets: tuple[np.ndarray, ...], bounds: np.ndarray, nodes: np.ndarray, features: np.ndarray
) -> Tasks:
    """Tasks probing bank pairs ``features`` on the samples of ``nodes``."""
    return Tasks(
        bounds[nodes], bounds[nodes + 1], *(np.ascontiguousarray(column[features]) for column in offsets)
    )


def _xlogx(x: np.ndarray) -> np.ndarray:
    """``x log x`` for counts ``x >= 0`` (0 at 0), float64."""
    x = np.asarray(x, np.float64)
    return x * np.log(np.maximum(x, 1.0))


def _halfway(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """float32 midpoints of ``low < high``, or ``low`` where the midpoint rounds up to ``high``."""
    middle = ((low.astype(np.float64) + high) / 2).astype(np.float32)
    return np.where(middle < high, middle, low)
