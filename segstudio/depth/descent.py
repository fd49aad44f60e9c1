"""The body-part forest's per-pixel descent, laid out for depth features: fewer numpy passes per level.

``Forest.predict_proba_lazy`` is generic: per tree level it drops the (pixel, tree) pairs that
reached a leaf, looks up each pair's feature, asks a feature function for the values (which
gathers the pixel's position and the feature's offsets again) and compares. Here the forest's nodes
carry their offsets directly ((4, nodes): u row, v row, u col, v col) and every leaf points to
itself with an infinite threshold, so a pair that reached its leaf stays there with no bookkeeping:
one level is about a dozen whole-array numpy calls on (4, pairs) arrays. Finished pairs are dropped
every ``COMPACT_EVERY`` levels, when enough of them have. A large body is split into blocks of
pixels that descend on threads, one per core (the whole-array numpy calls release the GIL).

The arithmetic is ``features._Probes``' (float32 products, ``np.rint``, clamping into the padded
frame, one flat gather per probe), in the same order, so every comparison and hence every leaf is
the one ``Forest.predict_proba_lazy`` reaches: probabilities are bit-identical (tests/depth).
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from segstudio.core.forest import Forest
from segstudio.depth.features import FeatureBank, _Probes

COMPACT_EVERY = 4
"""Levels between checks for finished (pixel, tree) pairs to drop."""
COMPACT_FRACTION = 0.25
"""Drop finished pairs once at least this fraction of the live ones has reached a leaf."""
MAX_WORKERS = 4
"""Most threads one frame's descent uses (one per core; a body of ~15k pixels gains little more)."""
MIN_BLOCK_PIXELS = 2048
"""Fewest pixels worth a thread of their own: below that, thread hand-offs cost more than they save."""


@dataclass(frozen=True, eq=False)
class DepthDescent:
    """A forest over a feature bank, node by node: ``offsets`` (4, nodes) float32 pixel-metres of
    the node's probe pair, rows then columns (u row, v row, u col, v col; zero at leaves),
    ``threshold`` (+inf at leaves), ``left`` the left child (the node itself at leaves),
    ``leaf_row`` the row of ``leaf_proba`` at leaves."""

    offsets: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    leaf_row: np.ndarray
    roots: np.ndarray
    leaf_proba: np.ndarray
    depth: int

    @classmethod
    def build(cls, forest: Forest, bank: FeatureBank) -> DepthDescent:
        inner = forest.child >= 0
        feature = np.where(inner, forest.feature, 0)
        u, v = bank.u[feature], bank.v[feature]
        offsets = np.stack([u[:, 0], v[:, 0], u[:, 1], v[:, 1]]).astype(np.float32)  # (4, nodes)
        offsets[:, ~inner] = 0.0
        nodes = np.arange(forest.n_nodes, dtype=np.int32)
        return cls(
            offsets=np.ascontiguousarray(offsets),
            threshold=np.where(inner, forest.threshold, np.float32(np.inf)).astype(np.float32),
            left=np.where(inner, forest.child, nodes).astype(np.int32),
            leaf_row=np.where(inner, -1, ~forest.child).astype(np.int32),
            roots=forest.roots.astype(np.int32),
            leaf_proba=forest.leaf_proba,
            depth=forest.depth,
        )

    def predict_proba(self, depth_m: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """(N, C) float32 mean leaf distribution of foreground ``pixels`` (N, 2) of a metre frame;
        large inputs descend in ``_workers()`` blocks of pixels on threads (numpy releases the GIL
        in its whole-array calls)."""
        probes = _Probes(depth_m, pixels)
        n, n_trees = len(probes), self.roots.size
        blocks = np.linspace(0, n, min(_workers(), max(1, n // MIN_BLOCK_PIXELS)) + 1).astype(int)
        spans = list(zip(blocks[:-1], blocks[1:], strict=True))
        if len(spans) > 1:
            parts = list(_pool().map(lambda span: self._leaves(probes, *span), spans))
        else:
            parts = [self._leaves(probes, 0, n)]
        leaves = np.concatenate(parts, axis=1)  # (trees, n)
        proba = np.zeros((n, self.leaf_proba.shape[1]), np.float32)
        for tree in range(n_trees):  # tree by tree: the same float32 sums as predict_proba_lazy
            proba += np.take(self.leaf_proba, leaves[tree], axis=0)
        proba /= np.float32(n_trees)
        return proba

    def _leaves(self, probes: _Probes, start: int, stop: int) -> np.ndarray:
        """Leaf row of every (tree, pixel) pair of pixels ``start .. stop - 1``: (trees, pixels)."""
        n, n_trees = stop - start, self.roots.size
        rows, cols = probes.rows[start:stop], probes.cols[start:stop]
        node = np.repeat(self.roots, n)
        base = np.tile(np.stack([rows, rows, cols, cols]), n_trees)  # (4, trees * n)
        inv_depth = np.tile(probes.inv_depth[start:stop], n_trees)
        limit = np.array([probes.last_row] * 2 + [probes.last_col] * 2, base.dtype)[:, None]
        stride = base.dtype.type(probes.last_col + 1)
        slot = np.arange(node.size)
        leaf_node = np.empty(node.size, np.int32)
        for level in range(self.depth):
            if level and level % COMPACT_EVERY == 0:
                done = self.left[node] == node
                if done.sum() >= COMPACT_FRACTION * node.size:
                    leaf_node[slot[done]] = node[done]
                    live = ~done
                    node, base, inv_depth, slot = node[live], base[:, live], inv_depth[live], slot[live]
            probe = np.take(self.offsets, node, axis=1).astype(base.dtype, copy=False)
            probe *= inv_depth
            np.rint(probe, out=probe)
            probe += base
            np.clip(probe, 0, limit, out=probe)
            index = probe[:2] * stride  # u and v: row * stride + col
            index += probe[2:]
            values = np.take(probes.flat, index.astype(np.intp))
            node = self.left[node] + (values[0] - values[1] > self.threshold[node])
        leaf_node[slot] = node
        return self.leaf_row[leaf_node].reshape(n_trees, n)


def _workers() -> int:
    """Threads for one frame's descent: the CPU cores, at most ``MAX_WORKERS``."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """One process-wide pool: threads are started once, not per frame."""
    return ThreadPoolExecutor(_workers(), thread_name_prefix="depth-descent")
