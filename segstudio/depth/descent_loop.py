"""The forest descent's loop, compiled by Numba through ``descent_jit`` (importing this module
imports Numba): the same float32 arithmetic as ``DepthDescent._leaves``, without its per-level
temporaries (about a third of its CPU time on the bundled forest).

The loops run level by level over all (tree, pixel) pairs, not pair by pair down its tree: the
pairs of one level are independent, so the processor overlaps their memory reads (node rows, depth
probes), where a pair's own descent waits on each read in turn (measured 2.6x slower). Only split
nodes have rows; a child that is a leaf is referred to by the complement of its leaf row, so a pair
that reaches its leaf reads no row there (in a deep forest a cache miss), later levels pass it,
and the levels stop once every pair is at its leaf. Against a row per node with leaves pointing
to themselves: ~12 % less CPU on the bundled forest (thread time, one process, interleaved, the
same leaves), the rows half the memory. Each step asks for the row the pair ``PREFETCH_AHEAD``
places on will read (``prefetch_jit``), so many more of the deep levels' cache misses overlap
than the processor's reordering reaches on its own: ~20 % less CPU again.

``mean_of_leaves``, the trees' mean of their leaf distributions, prefetches the leaf rows of the
pixel ``PREFETCH_AHEAD`` on likewise: ~40 % less CPU than numpy's gathers (``np.take``), the same
float32 sums in the same order (``DepthDescent._mean_proba``).

Every operation is the numpy path's, in its order and precision: float32 products, ``np.rint``,
clamping to ``0 .. last``, ``row * stride + col`` in the frame's coordinate type; no fast-math, so
leaves are bit-identical (tests/depth).
"""

from __future__ import annotations

import numpy as np

from segstudio.depth.prefetch_jit import prefetch

PREFETCH_AHEAD = 48
"""How many pairs (pixels, in the mean) ahead a step prefetches the row it will read: far enough for
a miss to arrive in time, near enough that the row is still cached when it is read (32-128
measured alike in the descent, 8-32 in the mean)."""


def descend(
    flat: np.ndarray,
    last: float,
    stride: float,
    rows: np.ndarray,
    cols: np.ndarray,
    inv_depth: np.ndarray,
    roots: np.ndarray,
    nodes: np.ndarray,
    links: np.ndarray,
    depth: int,
    node: np.ndarray,
) -> None:
    """Write into ``node`` (trees, pixels) the leaf row each (tree, pixel) pair reaches; ``last`` is
    the largest row and column of the square padded frame ``flat``, ``stride`` its side. ``nodes``
    (splits, 8) float32: u row, u col, v row, v col, threshold; ``links``: the same memory as int32,
    columns 5 and 6 the left and right child (one 32-byte row per split: one cache line read per
    step). ``roots`` and the children refer to a split's row, or to a leaf by ``~leaf_row``."""
    zero = last - last  # 0 in the coordinates' type (``last``, ``stride``): nothing widens to float64
    for tree in range(roots.size):
        for i in range(rows.size):
            node[tree, i] = roots[tree]
    for _ in range(depth):
        live = 0
        for tree in range(roots.size):
            for i in range(rows.size):
                if i + PREFETCH_AHEAD < rows.size:
                    ahead = node[tree, i + PREFETCH_AHEAD]
                    if ahead >= 0:
                        prefetch(nodes, ahead, 0)
                at = node[tree, i]
                if at < 0:
                    continue  # at its leaf
                live += 1
                row, col, inv = rows[i], cols[i], inv_depth[i]
                u_row = min(max(row + np.rint(nodes[at, 0] * inv), zero), last)
                u_col = min(max(col + np.rint(nodes[at, 1] * inv), zero), last)
                v_row = min(max(row + np.rint(nodes[at, 2] * inv), zero), last)
                v_col = min(max(col + np.rint(nodes[at, 3] * inv), zero), last)
                value = flat[np.intp(u_row * stride + u_col)] - flat[np.intp(v_row * stride + v_col)]
                node[tree, i] = links[at, 6] if value > nodes[at, 4] else links[at, 5]
        if live == 0:
            break  # every pair is at its leaf: the deepest levels cost nothing
    for tree in range(roots.size):
        for i in range(rows.size):
            node[tree, i] = ~node[tree, i]


def mean_of_leaves(leaves: np.ndarray, leaf_proba: np.ndarray, out: np.ndarray) -> None:
    """Write into ``out`` (pixels, classes) the mean of the ``leaf_proba`` rows each pixel's trees
    reached (``leaves``: (trees, pixels)): the first tree's row, plus each further tree's, over the
    number of trees, in float32 as ``DepthDescent._mean_proba`` sums them."""
    n_trees, n_pixels = leaves.shape
    classes = out.shape[1]
    scale = np.float32(n_trees)
    for i in range(n_pixels):
        if i + PREFETCH_AHEAD < n_pixels:
            for tree in range(n_trees):
                ahead = leaves[tree, i + PREFETCH_AHEAD]
                prefetch(leaf_proba, ahead, 0)  # a row spans two or three cache lines
                prefetch(leaf_proba, ahead, classes // 2)
                prefetch(leaf_proba, ahead, classes - 1)
        row = leaves[0, i]
        for c in range(classes):
            out[i, c] = leaf_proba[row, c]
        for tree in range(1, n_trees):
            row = leaves[tree, i]
            for c in range(classes):
                out[i, c] += leaf_proba[row, c]
        for c in range(classes):
            out[i, c] /= scale
