"""Random forest classifier in numpy: the Kinect body-part forest (Shotton et al., CVPR 2011) and the
scribble pixel classifier share it, so it knows nothing about where its features come from.

Training takes a dense float32 matrix ``X`` (samples x features) and labels ``0 .. C-1``. Each feature
is first quantised to at most ``n_bins`` quantile bins (uint8 codes, as histogram GBDTs do), so a split
"x <= threshold" becomes "code <= bin" and all split arithmetic is integer. A split's stored threshold
lies halfway from its bin edge (a training value) to the next training value up, as scikit-learn's do:
the training set splits the same, and unseen values get a margin on both sides instead of a boundary
against one class's samples (which, with a few scribbles and smooth features, hands that class a
whole band of pixels). All trees grow together, breadth-first: the nodes of one depth level, in
every tree, are split by the same few numpy calls. Those count (node, candidate feature, class,
threshold position) cells, with ``np.bincount`` while that table is small and a sort when it is
sparse, then score every candidate threshold from running class counts. A child's Shannon entropy
is ``log n - sum_c n_c log n_c / n``, so a split's score needs only running sums of ``n_c log n_c``,
which change only where a class count changes: the work per level is about linear in the (row,
candidate feature) pairs and does not grow with the classes.

Prediction sends all (sample, tree) pairs down level by level with fancy indexing. ``predict_proba_lazy``
asks a feature function for exactly the (sample, feature) values the trees visit, which is how depth
features are evaluated ~20 times per pixel and tree instead of for every candidate offset pair.

Storage is a handful of flat arrays (see ``Forest``); ``save``/``load`` write them as one ``.npz``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from segstudio.core.npz import load_npz, save_npz

FORMAT_NAME = "segstudio-forest"
FORMAT_VERSION = 1

ThresholdMode = Literal["all", "random", "sample"]
FeatureFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``feature_fn(sample_indices, feature_indices) -> values``: one float per (sample, feature) pair."""

MAX_BOOTSTRAP_SAMPLES = 10
"""Largest ``max_samples`` with bootstrap: draws with replacement may outnumber the samples."""

ENTRY_CHUNK = 1 << 16
"""(row, candidate feature) pairs scored per call: keeps arrays small enough for malloc to reuse
their memory instead of page-faulting fresh pages in every call (that was a third of the time)."""

PREDICT_PAIRS = 1 << 20
"""(sample, tree) pairs descending together; larger inputs are predicted in chunks."""


class ForestFileError(ValueError):
    """A forest file that cannot be read: wrong format, other version, inconsistent arrays."""


@dataclass(frozen=True)
class ForestParams:
    """How a forest is trained.

    ``thresholds`` picks the candidate thresholds of a (node, feature) candidate:
    ``"all"`` every quantile bin edge (exhaustive search on the quantised feature), ``"random"``
    ``n_thresholds`` drawn uniformly between the node's smallest and largest bin (Shotton et al.'s
    random thresholds, uniform in quantile space rather than in metres), ``"sample"`` the values of
    ``n_thresholds`` random samples of the node (follows the data, ignores empty ranges).
    """

    n_trees: int = 10
    max_depth: int = 20
    min_samples_split: int = 2
    min_samples_leaf: int = 1
    n_candidate_features: int | None = None
    """Features tried per node; ``None`` means round(sqrt(n_features)) (:meth:`candidates`)."""
    thresholds: ThresholdMode = "all"
    n_thresholds: int = 16
    """Thresholds per (node, feature) candidate in the "random" and "sample" modes."""
    n_bins: int = 256
    bootstrap: bool = True
    """Draw each tree's samples with replacement (bagging); ``False`` subsamples without replacement."""
    max_samples: float = 1.0
    """Samples per tree as a fraction of the training set: in (0, 1] without bootstrap; with
    bootstrap (drawn with replacement) up to 10, so a tree may see more draws than there are samples."""
    min_gain: float = 0.0
    """Smallest information gain (nats) worth a split; 0 splits whenever both children are non-empty."""
    seed: int = 0

    def candidates(self, n_features: int) -> int:
        """Features tried per node for ``n_features`` features (never more than there are)."""
        return min(n_features, self.n_candidate_features or max(1, round(math.sqrt(n_features))))

    def __post_init__(self) -> None:
        for bad, message in (
            (self.n_trees < 1 or self.max_depth < 0, "need n_trees >= 1 and max_depth >= 0"),
            (self.min_samples_leaf < 1 or self.min_samples_split < 2, "need min_samples_leaf/split >= 1/2"),
            (not 2 <= self.n_bins <= 256, "n_bins must lie in 2..256 (uint8 codes)"),
            (self.thresholds not in ("all", "random", "sample"), "thresholds: 'all', 'random' or 'sample'"),
            (not 1 <= self.n_thresholds < self.n_bins, "n_thresholds must lie in 1..n_bins-1"),
            (
                not 0 < self.max_samples <= (MAX_BOOTSTRAP_SAMPLES if self.bootstrap else 1),
                f"max_samples must lie in (0, {MAX_BOOTSTRAP_SAMPLES}] with bootstrap, else (0, 1]",
            ),
        ):
            if bad:
                raise ValueError(f"{message}; got {self}")


@dataclass(frozen=True, eq=False)
class Forest:
    """A trained forest as flat arrays over all nodes of all trees.

    ``child[n] >= 0``: node ``n`` splits, samples with ``x[feature[n]] <= threshold[n]`` go to
    ``child[n]``, the others to ``child[n] + 1``. ``child[n] < 0``: node ``n`` is a leaf whose class
    distribution is row ``~child[n]`` of ``leaf_proba`` (and ``feature[n] == -1``). Children always
    come after their parent, so every descent ends.
    """

    feature: np.ndarray
    threshold: np.ndarray
    child: np.ndarray
    roots: np.ndarray
    leaf_proba: np.ndarray
    n_features: int

    def __post_init__(self) -> None:
        _check_structure(self)

    @property
    def n_trees(self) -> int:
        return int(self.roots.size)

    @property
    def n_classes(self) -> int:
        return int(self.leaf_proba.shape[1])

    @property
    def n_nodes(self) -> int:
        return int(self.child.size)

    @property
    def depth(self) -> int:
        """Depth of the deepest tree (a lone root leaf has depth 0)."""
        level, depth = self.roots, 0
        while True:
            inner = self.child[level]
            inner = inner[inner >= 0]
            if inner.size == 0:
                return depth
            level, depth = np.concatenate([inner, inner + 1]), depth + 1

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, C)`` float32 of the rows of a dense feature matrix."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a (n, {self.n_features}) feature matrix; got shape {X.shape}")
        return self.predict_proba_lazy(X.shape[0], lambda rows, cols: X[rows, cols])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class of each row of a dense feature matrix."""
        return self.predict_proba(X).argmax(axis=1)

    def predict_proba_lazy(self, n_samples: int, feature_fn: FeatureFn) -> np.ndarray:
        """Class probabilities ``(n_samples, C)`` float32, reading features only where a tree needs them.

        ``feature_fn(sample_indices, feature_indices)`` gets two equally long int arrays and returns the
        value of feature ``feature_indices[i]`` of sample ``sample_indices[i]``; it is called about
        once per tree level (more for large ``n_samples``, which go in chunks).
        """
        proba = np.zeros((n_samples, self.n_classes), np.float32)
        chunk = max(1, PREDICT_PAIRS // self.n_trees)
        for start in range(0, n_samples, chunk):
            stop = min(n_samples, start + chunk)
            rows = self._leaf_rows(stop - start, lambda s, f, o=start: feature_fn(s + o, f))
            for tree in range(self.n_trees):
                proba[start:stop] += np.take(self.leaf_proba, rows[:, tree], axis=0)
        proba /= np.float32(self.n_trees)
        return proba

    def _leaf_rows(self, n_samples: int, feature_fn: FeatureFn) -> np.ndarray:
        """Leaf row reached by every (sample, tree) pair, ``(n_samples, n_trees)``."""
        n_trees = self.n_trees
        slot = np.arange(n_samples * n_trees)
        sample = np.repeat(np.arange(n_samples), n_trees)
        node = np.tile(self.roots, n_samples)
        leaf_rows = np.empty(n_samples * n_trees, np.int32)
        while slot.size:
            child = self.child[node]
            at_leaf = child < 0
            if at_leaf.any():
                leaf_rows[slot[at_leaf]] = ~child[at_leaf]
                inner = ~at_leaf
                slot, sample, node, child = slot[inner], sample[inner], node[inner], child[inner]
                if not slot.size:
                    break
            feature = self.feature[node]
            values = np.asarray(feature_fn(sample, feature), dtype=np.float32)
            if values.shape != node.shape:
                raise ValueError(f"feature_fn returned shape {values.shape}; expected {node.shape}")
            node = child + ~(values <= self.threshold[node])  # NaN goes right
        return leaf_rows.reshape(n_samples, n_trees)

    @classmethod
    def concatenate(cls, forests: list[Forest]) -> Forest:
        """One forest holding the trees of several (e.g. grown in groups on threads), so it predicts
        their tree-count-weighted mean: node and leaf indices are shifted past the ones before."""
        if not forests:
            raise ValueError("need at least one forest to concatenate")
        shapes = {(forest.n_features, forest.n_classes) for forest in forests}
        if len(shapes) > 1:
            raise ValueError(f"forests differ in (features, classes): {sorted(shapes)}")
        children, roots = [], []
        nodes = leaves = 0
        for forest in forests:
            inner = forest.child >= 0
            children.append(np.where(inner, forest.child + nodes, forest.child - leaves))  # ~(row + leaves)
            roots.append(forest.roots + nodes)
            nodes, leaves = nodes + forest.n_nodes, leaves + forest.leaf_proba.shape[0]
        return cls(
            feature=np.concatenate([forest.feature for forest in forests]),
            threshold=np.concatenate([forest.threshold for forest in forests]),
            child=np.concatenate(children).astype(np.int32),
            roots=np.concatenate(roots).astype(np.int32),
            leaf_proba=np.concatenate([forest.leaf_proba for forest in forests]),
            n_features=forests[0].n_features,
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the forest to one compressed ``.npz`` file, atomically (see ``core.npz``)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        save_npz(
            path,
            {
                "format": np.str_(FORMAT_NAME),
                "version": np.int64(FORMAT_VERSION),
                "n_features": np.int64(self.n_features),
                **arrays,
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Forest:
        """Read a forest written by ``save``; any other file raises ``ForestFileError`` naming it."""
        path = Path(path)
        arrays = load_npz(path, ForestFileError, "segstudio forest file")
        try:
            missing = sorted({"format", "version", "n_features", *_ARRAYS} - arrays.keys())
            if missing:
                raise ValueError(f"missing arrays {missing}")
            if any(arrays[name].shape != () for name in ("format", "version", "n_features")):
                raise ValueError("format, version and n_features must be scalars")
            if str(arrays["format"]) != FORMAT_NAME:
                raise ValueError(f"not a {FORMAT_NAME} file")
            if int(arrays["version"]) != FORMAT_VERSION:
                raise ValueError(f"format version {int(arrays['version'])}; this reads {FORMAT_VERSION}")
            for name, dtype in _ARRAYS.items():
                if arrays[name].dtype != dtype:
                    raise ValueError(f"array {name!r} is {arrays[name].dtype}, not {np.dtype(dtype)}")
            return cls(n_features=int(arrays["n_features"]), **{name: arrays[name] for name in _ARRAYS})
        except (ValueError, TypeError) as exc:
            raise ForestFileError(f"{path}: {exc}") from exc


_ARRAYS = {
    "feature": np.int32,
    "threshold": np.float32,
    "child": np.int32,
    "roots": np.int32,
    "leaf_proba": np.float32,
}
"""The arrays of a ``Forest`` and their dtypes, as stored."""


def _check_structure(forest: Forest) -> None:
    """Raise ValueError unless the arrays describe trees that every descent walks to a leaf."""
    feature, threshold, child, roots, leaf_proba = (getattr(forest, name) for name in _ARRAYS)
    n_nodes = child.size
    if not (feature.ndim == threshold.ndim == child.ndim == roots.ndim == 1 == leaf_proba.ndim - 1):
        raise ValueError("feature, threshold, child and roots must be 1-D and leaf_proba 2-D")
    if not feature.size == threshold.size == n_nodes or leaf_proba.shape[1] < 1:
        raise ValueError(f"feature/threshold/child lengths differ: {feature.size}/{threshold.size}/{n_nodes}")
    if roots.size < 1 or roots.min() < 0 or roots.max() >= n_nodes:
        raise ValueError("roots must be at least one valid node index")
    inner, leaves = np.flatnonzero(child >= 0), child < 0
    if inner.size and (np.any(child[inner] <= inner) or child[inner].max() + 1 >= n_nodes):
        raise ValueError("a child index points backwards or past the last node")
    if leaves.any() and (~child[leaves]).max() >= leaf_proba.shape[0]:
        raise ValueError(f"a leaf points past the {leaf_proba.shape[0]} rows of leaf_proba")
    if np.any(feature[leaves] != -1) or np.any((feature[inner] < 0) | (feature[inner] >= forest.n_features)):
        raise ValueError(f"feature indices must be -1 at leaves and in 0..{forest.n_features - 1} elsewhere")
    if not np.all(np.isfinite(leaf_proba)) or np.any(leaf_proba < 0):
        raise ValueError("leaf_proba holds negative or non-finite values")


# ---------------------------------------------------------------------------------------------- training


def train_forest(
    X: np.ndarray, y: np.ndarray, params: ForestParams | None = None, n_classes: int | None = None
) -> Forest:
    """Train a forest on a dense feature matrix ``X`` (n, F) and integer labels ``y`` in ``0 .. C-1``.

    Training reads the whole matrix (depth features are precomputed for the training pixels with
    ``FeatureBank.evaluate``); only prediction is lazy. The same data, params and seed give the same
    forest. Thresholds lie halfway between neighbouring training values (see the module notes).
    """
    params = params or ForestParams()
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"need X (n, F) and y (n,) with n, F > 0; got {X.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError("labels must be non-negative integers")
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    if y.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values")
    n_samples, n_features = X.shape
    rng = np.random.default_rng(params.seed)
    codes, cuts = _quantise(X, params.n_bins)
    n_cand = params.candidates(n_features)
    per_tree = max(1, round(params.max_samples * n_samples))
    xlogx = _xlogx(np.arange(per_tree + 1))
    grower = _Grower(codes, y.astype(np.int64), n_classes, n_cand, xlogx, params, rng)
    draws = [_draw_samples(rng, n_samples, per_tree, params.bootstrap) for _ in range(params.n_trees)]
    feature, split_bin, child, leaf_proba = grower.grow(draws)
    inner = feature >= 0
    threshold = np.zeros(feature.size, np.float32)
    threshold[inner] = cuts[feature[inner], split_bin[inner]]
    return Forest(
        feature=feature.astype(np.int32),
        threshold=threshold,
        child=child.astype(np.int32),
        roots=np.arange(params.n_trees, dtype=np.int32),
        leaf_proba=leaf_proba.astype(np.float32),
        n_features=n_features,
    )


def level_children(is_split: np.ndarray, level_start: int, n_leaves: int) -> np.ndarray:
    """``Forest.child`` of one level's nodes, numbered level by level from ``level_start``: a split
    node's children come in pairs right after the level, a leaf points to the next free row
    ``n_leaves ..`` of ``leaf_proba``. Shared with the level-wise depth trainer."""
    n_level, n_split = is_split.size, int(is_split.sum())
    child = np.empty(n_level, np.int64)
    child[is_split] = level_start + n_level + 2 * np.arange(n_split)
    child[~is_split] = ~(n_leaves + np.arange(n_level - n_split))
    return child


def _draw_samples(rng: np.random.Generator, n: int, size: int, bootstrap: bool) -> np.ndarray:
    """One tree's training rows, sorted so that feature gathers walk memory forwards."""
    rows = rng.integers(0, n, size) if bootstrap else rng.choice(n, size, replace=False)
    return np.sort(rows)


def _quantise(X: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 codes ``(n, F)`` and per-feature split thresholds ("cuts") ``(F, n_bins - 1)`` (+inf padded).

    Bin edges are data values (lower quantiles), so a feature with fewer than ``n_bins`` distinct
    values is split exactly; ``code = #(edges < x)``, so ``code <= b`` exactly when ``x <= edges[b]``.
    ``cuts[b]`` is halfway from ``edges[b]`` to the next training value up, so ``x <= cuts[b]`` still
    holds for exactly the same training rows. One argsort per feature gives all three: quantiles by
    index, codes and next values up by searchsorted on the sorted values.
    """
    n, n_features = X.shape
    codes = np.empty((n_features, n), np.uint8)
    cuts = np.full((n_features, n_bins - 1), np.inf, np.float32)
    at = (np.arange(1, n_bins) * (n - 1)) // n_bins
    for start in range(0, n_features, 16):
        for f, column in enumerate(np.ascontiguousarray(X[:, start : start + 16].T), start):
            order = np.argsort(column)
            ordered = column[order]
            distinct = np.unique(ordered[at])
            codes[f, order] = np.searchsorted(distinct, ordered, side="left")
            above = ordered[np.minimum(np.searchsorted(ordered, distinct, side="right"), n - 1)]
            cuts[f, : distinct.size] = _halfway(distinct, above)
    return np.ascontiguousarray(codes.T), cuts


def _halfway(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """float32 midpoints of ``low <= high``, or ``low`` where the midpoint rounds up to ``high``
    (adjacent floats, or no value above): a cut must stay below the next training value."""
    middle = ((low.astype(np.float64) + high) / 2).astype(np.float32)
    return np.where(middle < high, middle, low)


def _xlogx(x: np.ndarray) -> np.ndarray:
    """``x log x`` for counts ``x >= 0`` (0 at 0), float64."""
    x = np.asarray(x, np.float64)
    return x * np.log(np.maximum(x, 1.0))


def _count_keys(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (ascending) and their counts: a bincount while dense, a sort when sparse."""
    if n_keys <= 2 * keys.size:
        counts = np.bincount(keys, minlength=n_keys)
        present = np.flatnonzero(counts)
        return present, counts[present]
    ordered = np.sort(keys)
    first, length = _runs(ordered)
    return ordered[first], length


def _random_subsets(rng: np.random.Generator, n_rows: int, n_pop: int, k: int) -> np.ndarray:
    """``k`` distinct values of ``0 .. n_pop-1`` per row (Floyd's algorithm, vectorised over rows)."""
    chosen = np.empty((n_rows, k), np.int64)
    for i, j in enumerate(range(n_pop - k, n_pop)):
        pick = rng.integers(0, j + 1, n_rows)
        taken = (chosen[:, :i] == pick[:, None]).any(axis=1)
        chosen[:, i] = np.where(taken, j, pick)
    return chosen


@dataclass
class _Grower:
    """Grows trees breadth-first on quantised features."""

    codes: np.ndarray
    y: np.ndarray
    n_classes: int
    n_cand: int
    xlogx: np.ndarray  # x log x lookup table up to the largest node (a tree's rows)
    params: ForestParams
    rng: np.random.Generator

    def grow(self, draws: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Grow tree ``i`` on rows ``draws[i]``: node arrays (feature, bin, child as in ``Forest``) and
        leaf class distributions. Nodes are numbered level by level across all trees, so the roots
        are ``0 .. len(draws)-1``. Memory: two int64 per (tree, row) pair."""
        p, n_classes = self.params, self.n_classes
        sample = np.concatenate(draws)
        node = np.repeat(np.arange(len(draws)), [d.size for d in draws])  # level-local, sorted
        features, bins, children, leaf_probas = [], [], [], []
        n_level, level_start, n_leaves = len(draws), 0, 0
        for depth in range(p.max_depth + 1):
            counts = np.bincount(node * n_classes + self.y[sample], minlength=n_level * n_classes)
            counts = counts.reshape(n_level, n_classes)
            sizes = counts.sum(axis=1)
            feature = np.full(n_level, -1, np.int64)
            split_bin = np.zeros(n_level, np.int64)
            splittable = (
                (depth < p.max_depth)
                & (sizes >= max(p.min_samples_split, 2 * p.min_samples_leaf))
                & (counts.max(axis=1) < sizes)
            )
            if splittable.any():
                keep = splittable[node]
                sample, node = sample[keep], node[keep]
                ids = np.flatnonzero(splittable)
                found, f, b = self._split_level(sample, (np.cumsum(splittable) - 1)[node], counts[ids])
                feature[ids[found]], split_bin[ids[found]] = f[found], b[found]
            is_split = feature >= 0
            n_split = int(is_split.sum())
            child = level_children(is_split, level_start, n_leaves)
            leaf_probas.append(counts[~is_split] / sizes[~is_split, None])
            features.append(feature)
            bins.append(split_bin)
            children.append(child)
            n_leaves += n_level - n_split
            if n_split == 0:
                break
            keep = is_split[node]
            sample, node = sample[keep], node[keep]
            right = self.codes[sample, feature[node]] > split_bin[node]
            node = 2 * (np.cumsum(is_split) - 1)[node] + right
            order = np.argsort(node, kind="stable")
            sample, node = sample[order], node[order]
            level_start += n_level
            n_level = 2 * n_split
        return tuple(np.concatenate(arrays) for arrays in (features, bins, children, leaf_probas))

    def _split_level(
        self, sample: np.ndarray, node: np.ndarray, node_counts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``_best_splits`` of all nodes of a level, scored a chunk of nodes at a time."""
        starts = np.r_[0, np.cumsum(node_counts.sum(axis=1))]
        bounds = np.r_[_runs((starts[:-1] * self.n_cand) // ENTRY_CHUNK)[0], len(node_counts)]
        cand = _random_subsets(self.rng, len(node_counts), self.codes.shape[1], self.n_cand)
        parts = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            rows = slice(starts[lo], starts[hi])
            parts.append(self._best_splits(sample[rows], node[rows] - lo, node_counts[lo:hi], cand[lo:hi]))
        return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))

    def _best_splits(
        self, sample: np.ndarray, node: np.ndarray, node_counts: np.ndarray, cand: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best (feature, bin) of each node over random candidates; ``found`` False where none is valid.

        ``sample``/``node`` list the nodes' training rows sorted by node (ids ``0 .. n_nodes-1``);
        ``cand`` holds each node's candidate features ``(n_nodes, k)``.
        """
        p, k = self.params, self.n_cand
        n_nodes, n_classes = node_counts.shape
        sizes = node_counts.sum(axis=1)
        values = np.take(self.codes, sample[:, None] * self.codes.shape[1] + cand[node])  # (rows, k)
        if p.thresholds == "all":
            position, n_pos, bins_of = values, p.n_bins, None
        else:
            bins_of = self._candidate_bins(values, sizes)  # (n_nodes * k, T) sorted
            row_bins = bins_of.reshape(n_nodes, k, -1)[node]
            position = np.zeros(values.shape, np.uint8)  # thresholds below the value; T compares beat
            for j in range(p.n_thresholds):  # a searchsorted on (group, bin) keys by 5x
                position += values > row_bins[..., j]
            n_pos = p.n_thresholds + 1
        row_key = (node * (k * n_classes) + self.y[sample]) * n_pos
        keys = (row_key[:, None] + np.arange(0, k * n_classes * n_pos, n_classes * n_pos) + position).ravel()
        cells, cell_counts = _count_keys(keys, n_nodes * k * n_classes * n_pos)
        cand_group, cand_pos, n_left, s_delta = _split_costs(cells, cell_counts, n_pos, n_classes, self.xlogx)
        cand_node = cand_group // k
        n_right = sizes[cand_node] - n_left
        cost = self.xlogx[n_left] + self.xlogx[n_right] - s_delta
        cost[(n_left < p.min_samples_leaf) | (n_right < p.min_samples_leaf)] = np.inf
        best = np.minimum.reduceat(cost, _runs(cand_node)[0])
        hits = np.flatnonzero(cost == best[cand_node])
        first = hits[_runs(cand_node[hits])[0]]  # the first best candidate of each node
        found = np.isfinite(best)
        if p.min_gain > 0:  # information gain = (xlogx(n) - best) / n, in nats
            found &= (self.xlogx[sizes] - best) / sizes >= p.min_gain
        win_group, win_pos = cand_group[first], cand_pos[first]
        feature = cand[win_group // k, win_group % k]
        split_bin = (
            win_pos if bins_of is None else bins_of[win_group, np.minimum(win_pos, p.n_thresholds - 1)]
        )
        return found, feature, split_bin

    def _candidate_bins(self, values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Random threshold bins per (node, candidate feature), ``(n_nodes * k, T)`` sorted ascending."""
        p, rng = self.params, self.rng
        n_nodes, k, t = sizes.size, values.shape[1], p.n_thresholds
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        draw = rng.random((n_nodes, k, t))
        if p.thresholds == "random":
            low = np.minimum.reduceat(values, starts, axis=0).astype(np.int64)[..., None]
            high = np.maximum.reduceat(values, starts, axis=0).astype(np.int64)[..., None]
            chosen = low + (draw * (high - low)).astype(np.int64)
        else:
            row = starts[:, None, None] + (draw * sizes[:, None, None]).astype(np.int64)
            chosen = values[row, np.arange(k)[None, :, None]].astype(np.int64)
        return np.sort(chosen, axis=2).reshape(n_nodes * k, t).astype(np.uint8)


def _split_costs(
    cells: np.ndarray, cell_counts: np.ndarray, n_pos: int, n_classes: int, xlogx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score the threshold positions of every (node, feature) group.

    ``cells`` are sorted keys ``(group * C + class) * n_pos + position`` with their sample counts; a
    split at position ``t`` sends positions ``<= t`` left. A split's weighted child entropy is
    ``n_l H_l + n_r H_r = xlogx(n_l) + xlogx(n_r) - (S_l + S_r)`` with ``S = sum_c xlogx(n_c)``, and
    ``S_l + S_r`` changes only at cells, by ``delta`` below. Returns, per candidate in (group, position)
    order: group, position, ``n_l`` and ``S_l + S_r - S_node`` (the accumulated deltas), at the
    occupied positions only (a split between two occupied positions scores like the lower one).
    """
    group_class = cells // n_pos
    position = cells - group_class * n_pos
    # Running count of each class within its group, over positions: left counts after each cell.
    run_first, run_length = _runs(group_class)
    running = np.cumsum(cell_counts)
    before = running[run_first] - cell_counts[run_first]
    left_new = running - np.repeat(before, run_length)
    class_total = np.repeat(running[run_first + run_length - 1] - before, run_length)
    left_old = left_new - cell_counts
    delta = xlogx[left_new] - xlogx[left_old] + xlogx[class_total - left_new] - xlogx[class_total - left_old]
    # Sum over classes per (group, position) and accumulate along positions within each group.
    slot = (group_class // n_classes) * n_pos + position
    # An argsort as one plain sort of (slot, index) packed in int64, 2x faster; a chunk has < 2**24 slots.
    shift = cells.size.bit_length()
    order = np.sort((slot << shift) | np.arange(cells.size)) & ((1 << shift) - 1)
    slot = slot[order]
    group = slot // n_pos
    group_first, group_length = _runs(group)
    n_left = _restarting_cumsum(cell_counts[order], group_first, group_length)
    s_delta = _restarting_cumsum(delta[order], group_first, group_length)
    last = np.flatnonzero(np.r_[slot[1:] != slot[:-1], True])
    return group[last], slot[last] - group[last] * n_pos, n_left[last], s_delta[last]


def _runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First index and length of each run of equal values in a grouped (e.g. sorted) array."""
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return first, np.diff(np.r_[first, ordered.size])


def _restarting_cumsum(values: np.ndarray, first: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Running sums over consecutive segments (given by first index and length), restarting at each."""
    total = np.cumsum(values)
    return total - np.repeat(total[first] - values[first], length)
