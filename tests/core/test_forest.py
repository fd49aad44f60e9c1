"""The numpy random forest: it learns toy problems, its probabilities are proper, it is reproducible,
it round-trips through its file (and refuses other files by name), lazy prediction equals dense
prediction, the split it picks is the information-gain optimum worked out by brute force, its
thresholds sit halfway between training values without moving any training row, and concatenated
forests predict the tree-weighted mean of their parts."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segstudio.core import forest as forest_module
from segstudio.core.forest import Forest, ForestFileError, ForestParams, train_forest

MODES = ["all", "random", "sample"]
FEATURE_VALUES = st.floats(-4, 4, width=32) | st.sampled_from([0.0, 1.0, 2.5])
"""Any float32s, with ties: the halfway thresholds must step over repeated values too."""


def axis_aligned(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 where feature 2 exceeds 0.3; features 0, 1, 3 are noise."""
    X = np.random.default_rng(seed).uniform(-1, 1, (n, 4)).astype(np.float32)
    return X, (X[:, 2] > 0.3).astype(np.int64)


def xor(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrant XOR of features 0 and 1 plus three noise features: no single split has any gain."""
    X = np.random.default_rng(seed).uniform(-1, 1, (n, 5)).astype(np.float32)
    return X, ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)


@pytest.fixture(scope="module")
def xor_forest() -> Forest:
    X, y = xor(1500, seed=1)
    return train_forest(X, y, ForestParams(n_trees=15, max_depth=12, seed=3))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("problem", [axis_aligned, xor])
def test_learns_toy_problems(problem, mode: str) -> None:
    X, y = problem(1500, seed=1)
    X_test, y_test = problem(2000, seed=2)
    forest = train_forest(X, y, ForestParams(n_trees=15, max_depth=12, thresholds=mode, seed=0))
    assert (forest.predict(X) == y).mean() >= 0.99
    assert (forest.predict(X_test) == y_test).mean() > 0.95


def test_probabilities_are_distributions(xor_forest: Forest) -> None:
    X, _ = xor(500, seed=7)
    proba = xor_forest.predict_proba(X)
    assert proba.dtype == np.float32 and proba.shape == (500, 2)
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(xor_forest.leaf_proba.sum(axis=1), 1.0, atol=1e-6)


def test_unseen_classes_get_columns_of_zeros() -> None:
    X, y = axis_aligned(200, seed=0)
    forest = train_forest(X, y, ForestParams(n_trees=3), n_classes=4)
    proba = forest.predict_proba(X)
    assert proba.shape == (200, 4) and np.all(proba[:, 2:] == 0)


def test_same_seed_same_forest_other_seed_other_forest() -> None:
    X, y = xor(600, seed=1)
    params = ForestParams(n_trees=5, max_depth=10, thresholds="random", seed=11)
    first, again = train_forest(X, y, params), train_forest(X, y, params)
    for name in ("feature", "threshold", "child", "roots", "leaf_proba"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    other = train_forest(X, y, ForestParams(n_trees=5, max_depth=10, thresholds="random", seed=12))
    assert other.n_nodes != first.n_nodes or not np.array_equal(other.threshold, first.threshold)


def test_max_depth_and_single_leaf() -> None:
    X, y = xor(600, seed=1)
    assert train_forest(X, y, ForestParams(n_trees=4, max_depth=3)).depth == 3
    stump = train_forest(X, y, ForestParams(n_trees=1, max_depth=0, bootstrap=False))
    assert stump.n_nodes == 1
    np.testing.assert_allclose(stump.leaf_proba[0], np.bincount(y) / y.size, rtol=1e-6)


def test_a_pure_tree_reproduces_its_training_labels() -> None:
    """A tree grown without bagging until its leaves are pure reproduces every training label, with
    one-hot probabilities: its halfway thresholds route the training rows as growth split them."""
    X = np.arange(40, dtype=np.float32)[:, None]
    y = (np.arange(40) // 3) % 2
    forest = train_forest(X, y, ForestParams(n_trees=1, max_depth=30, bootstrap=False))
    np.testing.assert_array_equal(forest.predict_proba(X), np.eye(2, dtype=np.float32)[y])


def test_min_gain_stops_weak_splits() -> None:
    X, y = axis_aligned(400, seed=0)
    assert train_forest(X, y, ForestParams(n_trees=2, min_gain=1.0)).n_nodes == 2  # gain <= log 2 < 1
    assert train_forest(X, y, ForestParams(n_trees=2, min_gain=0.3)).n_nodes > 2


def test_min_samples_leaf_is_respected() -> None:
    """Isolating the lone positive at x = 0 is the best split; with 5 rows per leaf it must not happen."""
    X = np.arange(20, dtype=np.float32)[:, None]
    y = np.r_[1, np.zeros(19, np.int64)]
    params = dict(n_trees=1, max_depth=1, bootstrap=False)
    assert train_forest(X, y, ForestParams(**params)).threshold[0] == 0.5
    threshold = train_forest(X, y, ForestParams(**params, min_samples_leaf=5)).threshold[0]
    assert 4.5 <= threshold <= 14.5


def _information_gain(x: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """Entropy of the parent minus the size-weighted entropy of the children, worked out plainly."""

    def entropy(labels: np.ndarray) -> float:
        p = np.bincount(labels) / labels.size
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    left, right = y[x <= threshold], y[x > threshold]
    return entropy(y) - (left.size * entropy(left) + right.size * entropy(right)) / y.size


@settings(max_examples=25, deadline=None)
@given(
    st.integers(10, 60).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(st.integers(0, 6), min_size=3, max_size=3), min_size=n, max_size=n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
        )
    )
)
def test_root_split_is_the_brute_force_optimum(data) -> None:
    """With every feature a candidate and every threshold tried, the root split maximises the gain."""
    X = np.array(data[0], np.float32)
    y = np.array(data[1], np.int64)
    params = ForestParams(n_trees=1, max_depth=1, bootstrap=False, n_candidate_features=3)
    forest = train_forest(X, y, params)
    candidates = [(f, t) for f in range(3) for t in np.unique(X[:, f])[:-1]]
    best = max((_information_gain(X[:, f], y, t) for f, t in candidates), default=0.0)
    if forest.child[0] < 0:  # no split: only when no threshold separates anything, or the root is pure
        assert not candidates or np.unique(y).size == 1
        return
    chosen = _information_gain(X[:, forest.feature[0]], y, forest.threshold[0])
    assert chosen == pytest.approx(best, abs=1e-9)


def _neighbouring_values(forest: Forest, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inner nodes, and the training values of their feature just at/below and just above the threshold."""
    inner = np.flatnonzero(forest.feature >= 0)
    below, above = np.empty(inner.size, np.float32), np.empty(inner.size, np.float32)
    for i, node in enumerate(inner):
        values = np.unique(X[:, forest.feature[node]])
        at = np.searchsorted(values, forest.threshold[node], side="right")
        assert 0 < at < values.size, "a split with an empty side"
        below[i], above[i] = values[at - 1], values[at]
    return inner, below, above


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 80).flatmap(
        lambda n: st.tuples(
            arrays(np.float32, (n, 3), elements=FEATURE_VALUES),
            arrays(np.int64, n, elements=st.integers(0, 2)),
        )
    ),
    st.sampled_from(MODES),
    st.sampled_from([4, 256]),
    st.integers(0, 1000),
)
def test_halfway_thresholds_split_the_training_set_as_grown(data, mode: str, n_bins: int, seed: int) -> None:
    """Every threshold lies strictly between two neighbouring training values (unless no float32 does),
    and every training row takes the same path as with the lower value as threshold (the split the
    tree was grown with): with all rows in every tree, each leaf holds exactly its rows' classes."""
    X, y = data
    params = ForestParams(n_trees=2, max_depth=6, thresholds=mode, n_thresholds=3, n_bins=n_bins, seed=seed)
    forest = train_forest(X, y, dataclasses.replace(params, bootstrap=False), n_classes=3)
    inner, below, above = _neighbouring_values(forest, X)
    threshold = forest.threshold[inner]
    assert np.all((below < threshold) | (np.nextafter(below, above) == above))
    assert np.all((below <= threshold) & (threshold < above))
    at_values = dataclasses.replace(forest, threshold=forest.threshold.copy())
    at_values.threshold[inner] = below
    rows = forest._leaf_rows(len(X), lambda s, f: X[s, f])
    np.testing.assert_array_equal(rows, at_values._leaf_rows(len(X), lambda s, f: X[s, f]))
    counts = np.zeros(forest.leaf_proba.shape)
    np.add.at(counts, (rows.ravel(), np.repeat(y, forest.n_trees)), 1)
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), forest.leaf_proba, atol=1e-6)


def test_adjacent_training_values_split_at_the_lower() -> None:
    """No float32 lies between adjacent floats: the lower value stays the threshold (their midpoint
    would round half to even, here up onto the higher value and so send it left); one float apart,
    the threshold is the float between them."""
    one, up = np.float32(1.0), np.float32(2.0)
    floats = [one, np.nextafter(one, up), np.nextafter(np.nextafter(one, up), up)]  # 1 + k * 2**-23
    params = ForestParams(n_trees=1, bootstrap=False)
    for low, high, expected in ((floats[1], floats[2], floats[1]), (floats[0], floats[2], floats[1])):
        X = np.array([[low], [high]], np.float32)
        forest = train_forest(X, np.array([0, 1]), params)
        assert forest.threshold[0] == expected
        np.testing.assert_array_equal(forest.predict(X), [0, 1])


def test_concatenated_forests_predict_the_tree_weighted_mean() -> None:
    """Trees grown in groups (e.g. on threads) join into one forest predicting the tree-weighted mean."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(np.int64) + (X[:, 2] > 1)
    parts = [train_forest(X, y, ForestParams(n_trees=n, max_depth=6, seed=n), n_classes=3) for n in (2, 5)]
    joined = Forest.concatenate(parts)
    assert joined.n_trees == 7 and joined.n_nodes == parts[0].n_nodes + parts[1].n_nodes
    expected = (2 * parts[0].predict_proba(X) + 5 * parts[1].predict_proba(X)) / 7
    np.testing.assert_allclose(joined.predict_proba(X), expected, atol=1e-6)
    with pytest.raises(ValueError, match="differ"):
        Forest.concatenate([parts[0], train_forest(X[:, :4], y, ForestParams(n_trees=1))])
    with pytest.raises(ValueError, match="at least one"):
        Forest.concatenate([])


def test_lazy_prediction_equals_dense_and_reads_only_visited_features(xor_forest: Forest) -> None:
    X, _ = xor(700, seed=5)
    reads: list[tuple[np.ndarray, np.ndarray]] = []

    def feature_fn(samples: np.ndarray, features: np.ndarray) -> np.ndarray:
        reads.append((samples.copy(), features.copy()))
        return X[samples, features]

    lazy = xor_forest.predict_proba_lazy(len(X), feature_fn)
    np.testing.assert_array_equal(lazy, xor_forest.predict_proba(X))
    n_reads = sum(s.size for s, _ in reads)
    assert len(reads) <= xor_forest.depth  # one call per tree level
    assert n_reads <= len(X) * xor_forest.n_trees * xor_forest.depth  # at most one read per pair and level
    samples, features = (np.concatenate(parts) for parts in zip(*reads, strict=True))
    assert samples.min() >= 0 and samples.max() < len(X) and set(features) <= set(xor_forest.feature)


def test_chunked_prediction_passes_global_sample_indices(
    monkeypatch: pytest.MonkeyPatch, xor_forest: Forest
) -> None:
    X, _ = xor(300, seed=6)
    whole = xor_forest.predict_proba(X)
    monkeypatch.setattr(forest_module, "PREDICT_PAIRS", 64)  # 64 // 15 trees = 4 samples per chunk
    np.testing.assert_array_equal(xor_forest.predict_proba_lazy(len(X), lambda s, f: X[s, f]), whole)


def test_save_load_round_trip(tmp_path: Path, xor_forest: Forest) -> None:
    path = tmp_path / "forest.npz"
    xor_forest.save(path)
    loaded = Forest.load(path)
    X, _ = xor(300, seed=9)
    np.testing.assert_array_equal(loaded.predict_proba(X), xor_forest.predict_proba(X))
    assert loaded.n_features == xor_forest.n_features and loaded.n_trees == xor_forest.n_trees
    assert not list(tmp_path.glob("*.part"))


def _rewrite(source: Path, target: Path, change) -> Path:
    """Copy a forest file, replacing the arrays that ``change(arrays)`` returns."""
    with np.load(source) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(change(arrays))
    np.savez(target, **arrays)
    return target


def _child_past_the_end(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    child = arrays["child"].copy()
    child[np.flatnonzero(child >= 0)[-1]] = child.size
    return {"child": child}


def _nan_probability(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    leaf_proba = arrays["leaf_proba"].copy()
    leaf_proba[3, 1] = np.nan
    return {"leaf_proba": leaf_proba}


def test_other_version_is_refused_by_name(tmp_path: Path, xor_forest: Forest) -> None:
    xor_forest.save(tmp_path / "good.npz")
    path = _rewrite(tmp_path / "good.npz", tmp_path / "future.npz", lambda a: {"version": np.int64(99)})
    with pytest.raises(ForestFileError, match=r"future\.npz.*version 99"):
        Forest.load(path)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (_child_past_the_end, "child index"),
        (lambda a: {"threshold": a["threshold"][:-1]}, "lengths differ"),
        (lambda a: {"feature": a["feature"].astype(np.float64)}, "'feature' is float64"),
        (lambda a: {"feature": np.where(a["feature"] >= 0, 7, -1).astype(np.int32)}, "feature indices"),
        (lambda a: {"roots": a["roots"][:0]}, "roots"),
        (_nan_probability, "non-finite"),
        (lambda a: {"format": np.str_("someone-elses-forest")}, "not a segstudio-forest file"),
        (lambda a: {"version": np.arange(2)}, "scalars"),
    ],
)
def test_inconsistent_arrays_are_refused_by_name(
    tmp_path: Path, xor_forest: Forest, change, complaint: str
) -> None:
    xor_forest.save(tmp_path / "good.npz")
    path = _rewrite(tmp_path / "good.npz", tmp_path / "broken.npz", change)
    with pytest.raises(ForestFileError, match=r"broken\.npz") as raised:
        Forest.load(path)
    assert complaint in str(raised.value)


def test_missing_array_and_garbage_files_are_refused_by_name(tmp_path: Path, xor_forest: Forest) -> None:
    xor_forest.save(tmp_path / "good.npz")
    with (
        zipfile.ZipFile(tmp_path / "good.npz") as archive,
        zipfile.ZipFile(tmp_path / "partial.npz", "w") as out,
    ):
        for item in archive.namelist():
            if item != "child.npy":
                out.writestr(item, archive.read(item))
    with pytest.raises(ForestFileError, match=r"partial\.npz.*child"):
        Forest.load(tmp_path / "partial.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a forest at all")
    with pytest.raises(ForestFileError, match=r"garbage\.npz"):
        Forest.load(tmp_path / "garbage.npz")
    truncated = (tmp_path / "good.npz").read_bytes()[:200]
    (tmp_path / "truncated.npz").write_bytes(truncated)
    with pytest.raises(ForestFileError, match=r"truncated\.npz"):
        Forest.load(tmp_path / "truncated.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(ForestFileError, match=r"plain\.npy"):
        Forest.load(tmp_path / "plain.npy")
    with pytest.raises(FileNotFoundError):
        Forest.load(tmp_path / "absent.npz")


def test_bad_training_input_is_refused() -> None:
    X, y = xor(50, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        train_forest(np.where(X > 0.9, np.nan, X), y)
    with pytest.raises(ValueError, match="labels"):
        train_forest(X, y - 1)
    with pytest.raises(ValueError):
        train_forest(X, y[:-1])
    with pytest.raises(ValueError, match="thresholds"):
        ForestParams(thresholds="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="feature matrix"):
        train_forest(X, y, ForestParams(n_trees=2)).predict_proba(X[:, :3])
