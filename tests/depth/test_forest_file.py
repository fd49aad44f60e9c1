"""The model file's format 2 (``depth.forest_file``): exact round trips of any forest layout,
smaller than format 1, format-1 files still read, and damaged arrays refused with the file named."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from segstudio.core.forest import Forest
from segstudio.depth.forest_file import forest_arrays, forest_from_arrays
from segstudio.depth.model import FORMAT_NAME, BodyPartModel, ModelFileError
from segstudio.depth.training import TrainingParams, train_body_parts

TINY = TrainingParams(frames=4, pixels_per_frame=200, features=60, min_samples_leaf=2, trees=2, depth=8)


@pytest.fixture(scope="module")
def model() -> BodyPartModel:
    return train_body_parts(TINY)


def _version_one(model: BodyPartModel, path: Path) -> None:
    """``model`` written as format 1 wrote it (plain arrays, float16 leaves)."""
    f = model.forest
    np.savez_compressed(
        path,
        format=np.str_(FORMAT_NAME),
        version=np.int64(1),
        info=np.str_(json.dumps(asdict(model.info))),
        u=model.bank.u,
        v=model.bank.v,
        feature=f.feature,
        threshold=f.threshold,
        child=f.child,
        roots=f.roots,
        leaf_proba=f.leaf_proba.astype(np.float16),
    )


def _same(a: Forest, b: Forest) -> None:
    for name in ("feature", "threshold", "child", "roots", "leaf_proba"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_format_two_is_exact_and_smaller_than_format_one(model: BodyPartModel, tmp_path: Path) -> None:
    old, new = tmp_path / "one.npz", tmp_path / "two.npz"
    _version_one(model, old)
    model.save(new)
    _same(BodyPartModel.load(old).forest, model.forest)
    _same(BodyPartModel.load(new).forest, model.forest)
    f = model.forest
    plain = (f.feature, f.threshold, f.child, f.leaf_proba.astype(np.float16))
    assert _packed(forest_arrays(f).values()) < 0.8 * _packed(plain)  # the zip's own headers aside


def _packed(arrays: Iterable[np.ndarray]) -> int:
    return sum(len(zlib.compress(np.ascontiguousarray(a).tobytes())) for a in arrays)


def test_any_child_layout_round_trips() -> None:
    """A depth-first layout (children not right after their parent, leaves not in node order)."""
    forest = Forest(
        feature=np.array([0, -1, 1, -1, -1], np.int32),
        threshold=np.array([0.5, 0.0, -1.0, 0.0, 0.0], np.float32),
        child=np.array([1, ~2, 3, ~0, ~1], np.int32),
        roots=np.array([0], np.int32),
        leaf_proba=np.array([[1, 0, 0], [0, 0.25, 0.75], [0, 1, 0]], np.float32),
        n_features=2,
    )
    _same(forest_from_arrays(forest_arrays(forest), 2), forest)


@pytest.mark.parametrize("damage", ["threshold", "leaf_class", "leaf_count"])
def test_damaged_arrays_are_refused_naming_the_file(
    model: BodyPartModel, tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "damaged.npz"
    model.save(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    if damage == "threshold":
        arrays["threshold"] = arrays["threshold"][:-1]
    elif damage == "leaf_class":
        arrays["leaf_class"] = arrays["leaf_class"] + 40
    else:
        arrays["leaf_count"] = arrays["leaf_count"][:-1]
    np.savez_compressed(path, **arrays)
    with pytest.raises(ModelFileError, match=str(path)):
        BodyPartModel.load(path)
