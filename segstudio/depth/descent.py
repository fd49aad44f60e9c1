"""The body-part forest's per-pixel descent, laid out for depth features: fewer numpy passes per level.

``Forest.predict_proba_lazy`` is generic: per tree level it drops the (pixel, tree) pairs that
reached a leaf, looks up each pair's feature, asks a feature function for the values (which
gathers the pixel's position and the feature's offsets again) and compares. Here the forest's nodes
carry their offsets directly (one (4,) row per node: u row, u col, v row, v col) and every leaf
points to itself with an infinite threshold, so a pair that reached its leaf stays there with no
bookkeeping. Finished pairs are dropped every ``COMPACT_EVERY`` levels, when enough of them have. A
large body is split into blocks of pixels that descend on threads, one per core (the whole-array
numpy calls release the GIL). Where Numba loads, each block descends and averages its trees in
``descent_jit`` instead (the same leaves in about a third of the CPU time, the same sums); this
numpy descent is the fallback and its reference.

Layout, for speed (measured: ~20% less CPU than a (4, nodes) layout): per level a pair's node
is gathered as rows, one 16-byte offset row and one 8-byte (threshold, left child) record, since a
gather of rows costs about what a gather of single values does; the arithmetic then runs on
contiguous (pairs, 4) arrays with the pixel's position and inverse depth repeated to the same
shape (numpy broadcasts a (pairs, 1) column over 4 columns several times slower). The frame is
padded to a square, so one scalar bound clamps rows and columns.

The arithmetic is ``features._Probes``' (float32 products, ``np.rint``, clamping into the padded
frame, one flat gather per probe), in the same order, so every comparison and hence every leaf is
the one ``Forest.predict_proba_lazy`` reaches: probabilities are bit-identical (tests/depth).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from segstudio.core.forest import Forest
from segstudio.depth.descent_jit import leaves_kernel, mean_kernel
from segstudio.depth.features import FeatureBank, _Probes
from segstudio.depth.workers import run_blocks, spans

COMPACT_EVERY = 4
"""Levels between checks for finished (pixel, tree) pairs to drop."""
COMPACT_FRACTION = 0.25
"""Drop finished pairs once at least this fraction of the live ones has reached a leaf."""
MIN_BLOCK_PIXELS = 2048
"""Fewest pixels worth a thread of their own: below that, thread hand-offs cost more than they save."""


BRANCH = np.dtype([("threshold", np.float32), ("left", np.int32)])
"""A node's comparison: go to ``left + 1`` when the feature exceeds ``threshold``, else ``left``."""


@dataclass(frozen=True, eq=False)
class DepthDescent:
    """A forest over a feature bank, node by node: ``offsets`` (nodes, 4) float32 pixel-metres of
    the node's probe pair (u row, u col, v row, v col; zero at leaves), ``branch`` its threshold
    (+inf at leaves) and left child (the node itself at leaves), ``leaf_row`` the row of
    ``leaf_proba`` at leaves."""

    offsets: np.ndarray
    branch: np.ndarray
    leaf_row: np.ndarray
    roots: np.ndarray
    leaf_proba: np.ndarray
    depth: int

    @classmethod
    def build(cls, forest: Forest, bank: FeatureBank) -> DepthDescent:
        inner = forest.child >= 0
        feature = np.where(inner, forest.feature, 0)
        offsets = np.concatenate([bank.u[feature], bank.v[feature]], axis=1).astype(np.float32)
        offsets[~inner] = 0.0
        branch = np.empty(forest.n_nodes, BRANCH)
        branch["threshold"] = np.where(inner, forest.threshold, np.float32(np.inf))
        branch["left"] = np.where(inner, forest.child, np.arange(forest.n_nodes))
        return cls(
            offsets=np.ascontiguousarray(offsets),
            branch=branch,
            leaf_row=np.where(inner, -1, ~forest.child).astype(np.int32),
            roots=forest.roots.astype(np.int32),
            leaf_proba=forest.leaf_proba,
            depth=forest.depth,
        )

    @functools.cached_property
    def _jit_nodes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The split nodes alone, as the compiled descent reads them: (splits, 8) float32 rows of
        offsets and threshold, the same memory as int32 whose columns 5 and 6 refer to the left
        and right child, and each tree's root the same way. A reference is a split's row, or the
        complement ``~leaf_row`` of a leaf's: the descent reads no row for a leaf, and the rows are
        half the forest's nodes (measured ~12 % less descent CPU than a row per node)."""
        split = np.flatnonzero(self.leaf_row < 0)
        row = np.empty(len(self.leaf_row), np.int32)
        row[split] = np.arange(split.size, dtype=np.int32)
        reference = np.where(self.leaf_row < 0, row, ~self.leaf_row)
        nodes = np.zeros((split.size, 8), np.float32)
        nodes[:, :4] = self.offsets[split]
        nodes[:, 4] = self.branch["threshold"][split]
        links = nodes.view(np.int32)
        left = self.branch["left"][split]
        links[:, 5] = reference[left]
        links[:, 6] = reference[left + 1]
        return nodes, links, reference[self.roots]

    def predict_proba(self, depth_m: np.ndarray, pixels: np.ndarray, compiled: bool = True) -> np.ndarray:
        """(N, C) float32 mean leaf distribution of foreground ``pixels`` (N, 2) of a metre frame;
        large inputs descend and average in blocks of pixels on ``depth.workers``' threads (Numba's
        compiled descent and numpy's whole-array calls release the GIL). ``compiled``: use the
        Numba descent (``descent_jit``) where it is available; the leaves are the same either way."""
        probes = _Probes(depth_m, pixels, square=True)
        n, descend, mean = len(probes), self._descender(probes, compiled), self._averager(compiled)
        proba = np.empty((n, self.leaf_proba.shape[1]), np.float32)

        def block(start: int, stop: int) -> None:
            mean(descend(probes, start, stop), proba[start:stop])

        run_blocks(block, spans(n, n // MIN_BLOCK_PIXELS))
        return proba

    def leaf_rows(self, depth_m: np.ndarray, pixels: np.ndarray, compiled: bool = True) -> np.ndarray:
        """(trees, N) int32: the ``leaf_proba`` row each tree's descent of each of ``pixels`` ends
        in (the leaves ``predict_proba`` averages), in blocks on ``depth.workers``' threads; what
        ``depth.refit`` counts labelled pixels with."""
        probes = _Probes(depth_m, pixels, square=True)
        n, descend = len(probes), self._descender(probes, compiled)
        rows = np.empty((self.roots.size, n), np.int32)

        def block(start: int, stop: int) -> None:
            rows[:, start:stop] = descend(probes, start, stop)

        run_blocks(block, spans(n, n // MIN_BLOCK_PIXELS))
        return rows

    def _descender(self, probes: _Probes, compiled: bool) -> Callable[[_Probes, int, int], np.ndarray]:
        """``descend(probes, start, stop)`` -> (trees, stop - start) leaf rows: the compiled kernel
        where Numba loads and ``compiled`` is set, else numpy (always for frames of 2**24 pixels or
        more, whose coordinates are float64)."""
        float32 = probes.rows.dtype == np.float32
        kernel = leaves_kernel() if compiled and float32 else None
        return self._leaves if kernel is None else functools.partial(self._compiled_leaves, kernel)

    def _averager(self, compiled: bool) -> Callable[[np.ndarray, np.ndarray], None]:
        """``mean(leaves, out)``: the trees' mean by the compiled kernel (``descent_jit``) where
        Numba loads and ``compiled`` is set, else numpy's ``_mean_proba``; the same sums."""
        kernel = mean_kernel() if compiled else None
        if kernel is None:
            return self._mean_proba
        return lambda leaves, out: kernel(leaves, self.leaf_proba, out)

    def _mean_proba(self, leaves: np.ndarray, out: np.ndarray) -> None:
        """The mean of the trees' leaf distributions (``leaves``: (trees, pixels)) into ``out``,
        tree by tree: the same float32 sums as ``Forest.predict_proba_lazy``."""
        np.take(self.leaf_proba, leaves[0], axis=0, out=out)
        for tree_leaves in leaves[1:]:
            out += np.take(self.leaf_proba, tree_leaves, axis=0)
        out /= np.float32(len(leaves))

    def _compiled_leaves(
        self, kernel: Callable[..., None], probes: _Probes, start: int, stop: int
    ) -> np.ndarray:
        """``_leaves`` by the compiled ``kernel`` (``descent_jit``)."""
        leaf = np.empty((self.roots.size, stop - start), np.int32)
        last = probes.last_row  # == probes.last_col: the frame is square
        nodes, links, roots = self._jit_nodes
        rows, cols, inv_depth = (a[start:stop] for a in (probes.rows, probes.cols, probes.inv_depth))
        kernel(probes.flat, last, last + 1, rows, cols, inv_depth, roots, nodes, links, self.depth, leaf)
        return leaf

    def _leaves(self, probes: _Probes, start: int, stop: int) -> np.ndarray:
        """Leaf row of every (tree, pixel) pair of pixels ``start .. stop - 1``: (trees, pixels)."""
        n, n_trees = stop - start, self.roots.size
        rows, cols = probes.rows[start:stop], probes.cols[start:stop]
        node = np.repeat(self.roots, n)
        base = np.tile(np.stack([rows, cols, rows, cols], axis=1), (n_trees, 1))  # (trees * n, 4)
        inv_depth = np.tile(np.repeat(probes.inv_depth[start:stop, None], 4, axis=1), (n_trees, 1))
        last = probes.last_row  # == probes.last_col: the frame is square
        slot = np.arange(node.size)
        leaf_node = np.empty(node.size, np.int32)
        for level in range(self.depth):
            branch = np.take(self.branch, node)
            if level and level % COMPACT_EVERY == 0:
                done = branch["left"] == node
                if done.sum() >= COMPACT_FRACTION * node.size:
                    leaf_node[slot[done]] = node[done]
                    live = ~done
                    node, branch, slot = node[live], branch[live], slot[live]
                    base, inv_depth = base[live], inv_depth[live]
            probe = np.take(self.offsets, node, axis=0).astype(base.dtype, copy=False)
            probe *= inv_depth
            np.rint(probe, out=probe)
            probe += base
            np.clip(probe, 0, last, out=probe)
            index = probe[:, 0::2] * (last + 1)  # u and v: row * stride + col
            index += probe[:, 1::2]
            values = np.take(probes.flat, index.astype(np.intp))
            node = branch["left"] + (values[:, 0] - values[:, 1] > branch["threshold"])
        leaf_node[slot] = node
        return self.leaf_row[leaf_node].reshape(n_trees, n)
