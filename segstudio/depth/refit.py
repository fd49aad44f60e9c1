"""Re-estimate a trained forest's leaf distributions from many more labelled pixels.

A tree's splits are chosen on a few hundred sampled pixels per image, and each leaf's part
distribution is then the histogram of the ~20-100 sampled pixels that reached it: a noisy estimate.
Pushing far more labelled pixels down the same trees (every body pixel of many frames, including
frames a tree never saw) and counting where they land costs rendering and descent only, no split
search; the splits, and so the descent's speed, stay as they are (as later Kinect-style work did).

Counts are kept per (leaf row, part) in one float64 array over all trees' leaves, filled frame by
frame (``LeafCounts``), so memory is bounded by the forest, not the data. ``refit_leaves`` then
divides each tree's counts by the parts' frequencies in the refit data (as ``balanced_leaves`` does
with the training pixels') and mixes in the old distribution with the weight of ``prior`` pixels;
leaves no pixel reached keep their old distribution. Counting a tree's own training pixels with
``prior`` 0 gives back its leaves (tests/depth/test_refit.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from segstudio.core.forest import Forest
from segstudio.depth.body import Frame
from segstudio.depth.features import depth_in_metres, mask_pixels
from segstudio.depth.model import BodyPartModel
from segstudio.depth.parts import BACKGROUND, N_PARTS

PixelChooser = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray | None]]
"""``choose(parts)`` -> the (N, 2) body pixels of a frame to count, their (N,) parts and (N,)
weights (``None``: 1 each)."""

FLUSH_PAIRS = 1 << 22
"""(pixel, tree) pairs buffered before they are added to the counts in one ``bincount``."""


def every_body_pixel(
    parts: np.ndarray, balance: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """All body pixels of a frame (what ``depth eval`` classifies), their parts and weights: with
    ``balance`` > 0, part ``c``'s pixels weigh ``count_c ** -balance``, scaled so the frame's weights
    sum to its pixel count: the expected draws of ``training.sample_pixels``, without its noise
    (``None``, all 1, at 0)."""
    pixels = mask_pixels(parts != BACKGROUND)
    labels = parts[pixels[:, 0], pixels[:, 1]]
    if balance <= 0 or labels.size == 0:
        return pixels, labels, None
    weight = np.bincount(labels, minlength=N_PARTS).astype(np.float64)[labels] ** -balance
    return pixels, labels, weight * (labels.size / weight.sum())


class LeafCounts:
    """Labelled pixels counted per (leaf row, part) of a model's forest, frame by frame."""

    def __init__(self, model: BodyPartModel) -> None:
        self.model = model
        self.n_rows = model.forest.leaf_proba.shape[0]
        self.counts = np.zeros((self.n_rows, N_PARTS), np.float64)
        self._keys: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        self._pending = 0

    def add(
        self, depth_mm: np.ndarray, pixels: np.ndarray, parts: np.ndarray, weights: np.ndarray | None = None
    ) -> None:
        """Count ``pixels`` (N, 2) of a uint16 millimetre frame, labelled ``parts`` (N,), in every
        tree, each ``weights`` (N,) (1 when ``None``)."""
        if len(pixels) == 0:
            return
        rows = self.model.descent.leaf_rows(depth_in_metres(depth_mm), pixels)  # (trees, N)
        keys = rows.astype(np.int64) * N_PARTS + np.asarray(parts, np.int64)
        self._keys.append(keys.ravel())
        ones = np.ones(len(pixels)) if weights is None else np.asarray(weights, np.float64)
        self._weights.append(np.tile(ones, rows.shape[0]))
        self._pending += keys.size
        if self._pending >= FLUSH_PAIRS:
            self.flush()

    def add_frames(self, frames: Iterable[Frame], choose: PixelChooser = every_body_pixel) -> int:
        """Count the ``choose``n pixels of every frame; returns the frames counted."""
        done = 0
        for frame in frames:
            self.add(frame.depth, *choose(frame.parts))
            done += 1
        return done

    def flush(self) -> np.ndarray:
        """Add the buffered pairs to ``counts`` and return it."""
        if self._keys:
            keys, weights = np.concatenate(self._keys), np.concatenate(self._weights)
            self.counts += np.bincount(keys, weights, minlength=self.counts.size).reshape(self.counts.shape)
            self._keys, self._weights, self._pending = [], [], 0
        return self.counts


def leaf_trees(forest: Forest) -> np.ndarray:
    """(leaf rows,) int: the tree each row of ``leaf_proba`` belongs to (-1 for rows no leaf uses)."""
    tree = np.full(forest.n_nodes, -1, np.int64)
    level = forest.roots.astype(np.int64)
    tree[level] = np.arange(forest.n_trees)
    while level.size:  # level by level from the roots: a node's tree is its parent's
        inner = level[forest.child[level] >= 0]
        left = forest.child[inner].astype(np.int64)
        tree[left] = tree[left + 1] = tree[inner]
        level = np.concatenate([left, left + 1])
    rows = np.full(forest.leaf_proba.shape[0], -1, np.int64)
    leaves = np.flatnonzero(forest.child < 0)
    rows[~forest.child[leaves]] = tree[leaves]
    return rows


def refit_leaves(forest: Forest, counts: np.ndarray, prior: float = 0.0) -> Forest:
    """``forest`` with each leaf's distribution re-estimated from ``counts`` (leaf rows, parts):
    per tree, the counts divided by the parts' frequencies among that tree's counted pixels and
    normalised, then averaged with the old distribution weighted as ``prior`` pixels against the
    leaf's count. Leaves with no counted pixel keep their old distribution."""
    counts = np.asarray(counts, np.float64)
    if counts.shape != forest.leaf_proba.shape:
        raise ValueError(f"counts have shape {counts.shape}; the forest's leaves {forest.leaf_proba.shape}")
    if prior < 0:
        raise ValueError(f"prior must be >= 0; got {prior}")
    old = forest.leaf_proba.astype(np.float64)
    tree = leaf_trees(forest)
    new = old.copy()
    for t in range(forest.n_trees):
        rows = np.flatnonzero(tree == t)
        tree_counts = counts[rows]
        frequency = tree_counts.sum(axis=0) / max(1.0, tree_counts.sum())
        weighted = tree_counts * np.where(frequency > 0, 1.0 / np.maximum(frequency, 1e-12), 0.0)
        total = weighted.sum(axis=1, keepdims=True)
        reached = total[:, 0] > 0
        pixels = tree_counts.sum(axis=1, keepdims=True)
        mixed = pixels * weighted / np.where(total > 0, total, 1.0) + prior * old[rows]
        mixed /= np.maximum(mixed.sum(axis=1, keepdims=True), 1e-300)
        new[rows[reached]] = mixed[reached]
    return replace(forest, leaf_proba=new.astype(np.float32))


def refit_model(model: BodyPartModel, counts: np.ndarray, prior: float = 0.0) -> BodyPartModel:
    """The model with its forest's leaves refit from ``counts`` (see ``refit_leaves``)."""
    return BodyPartModel(model.bank, refit_leaves(model.forest, counts, prior), model.info)
