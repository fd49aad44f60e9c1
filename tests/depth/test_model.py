"""The body-part model file and prediction: exact save/load round trips, bad files named, atomic
saves and foreground rules (posterior smoothing: test_smoothing.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segstudio.core.forest import Forest
from segstudio.depth.body import Frame, render_frame
from segstudio.depth.model import (
    BodyPartModel,
    ModelFileError,
    bundled_model_path,
    foreground_mask,
)
from segstudio.depth.parts import BACKGROUND, N_PARTS
from segstudio.depth.training import TrainingParams, train_body_parts

TINY = TrainingParams(
    frames=4, pixels_per_frame=200, features=60, candidate_features=None, min_samples_leaf=2, trees=2, depth=8
)


@pytest.fixture(scope="module")
def model() -> BodyPartModel:
    return train_body_parts(TINY)


@pytest.fixture(scope="module")
def frame() -> Frame:
    return render_frame(1_000_000)


def test_save_load_round_trip_predicts_identically(
    model: BodyPartModel, frame: Frame, tmp_path: Path
) -> None:
    path = tmp_path / "parts.npz"
    model.save(path)
    loaded = BodyPartModel.load(path)
    assert loaded.info == model.info
    for name in ("feature", "threshold", "child", "roots", "leaf_proba"):
        np.testing.assert_array_equal(getattr(loaded.forest, name), getattr(model.forest, name))
    mask = frame.parts != BACKGROUND
    before, after = model.predict(frame.depth, mask), loaded.predict(frame.depth, mask)
    np.testing.assert_array_equal(before.parts, after.parts)
    np.testing.assert_array_equal(before.proba, after.proba)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts.npz"]  # no temporary file left


def test_stored_form_is_compact(model: BodyPartModel) -> None:
    """Training returns the stored form: every kept offset is read by some node, leaves are float16."""
    used = np.unique(model.forest.feature[model.forest.feature >= 0])
    np.testing.assert_array_equal(used, np.arange(len(model.bank)))
    leaves = model.forest.leaf_proba
    np.testing.assert_array_equal(leaves, leaves.astype(np.float16).astype(np.float32))
    assert model.compact().forest.n_features == model.forest.n_features


def test_failed_save_keeps_the_old_file(
    model: BodyPartModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "parts.npz"
    model.save(path)
    original = path.read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts.npz"]


@pytest.mark.parametrize("kind", ["text", "npy", "other_npz", "forest_file", "truncated"])
def test_bad_files_are_refused_naming_them(model: BodyPartModel, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.npz"
    if kind == "text":
        path.write_text("not a model")
    elif kind == "npy":
        with open(path, "wb") as handle:
            np.save(handle, np.zeros(3))
    elif kind == "other_npz":
        np.savez(path, weights=np.zeros(3))
    elif kind == "forest_file":  # a bare forest has no offsets: useless for depth, so refused
        model.forest.save(path)
    else:
        model.save(path)
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match=str(path)):
        BodyPartModel.load(path)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        BodyPartModel.load(tmp_path / "absent.npz")


def test_model_refuses_a_forest_of_other_classes(model: BodyPartModel) -> None:
    f = model.forest
    three = Forest(f.feature, f.threshold, f.child, f.roots, f.leaf_proba[:, :3], f.n_features)
    with pytest.raises(ValueError, match="classes"):
        BodyPartModel(model.bank, three, model.info)


def test_predict_labels_only_the_masked_valid_pixels(model: BodyPartModel, frame: Frame) -> None:
    mask = frame.parts != BACKGROUND
    prediction = model.predict(frame.depth, mask)
    assert prediction.parts.dtype == np.uint8 and prediction.parts.shape == frame.depth.shape
    np.testing.assert_array_equal(prediction.parts != BACKGROUND, mask & (frame.depth > 0))
    assert prediction.parts[mask].max() < N_PARTS
    assert prediction.proba.shape == (int(mask.sum()), N_PARTS) and prediction.proba.dtype == np.float32
    np.testing.assert_allclose(prediction.proba.sum(axis=1), 1.0, atol=1e-4)
    dense = prediction.proba_image()
    assert dense.shape == (*frame.depth.shape, N_PARTS)
    np.testing.assert_array_equal(dense[~mask], 0.0)
    np.testing.assert_array_equal(dense.argmax(axis=2)[mask], prediction.parts[mask])


def test_predict_without_mask_uses_the_working_range(model: BodyPartModel) -> None:
    depth = np.zeros((20, 30), np.uint16)
    depth[5:15, 10:20] = 2500
    depth[0, 0] = 6000  # beyond the range: not classified
    prediction = model.predict(depth)
    assert (prediction.parts != BACKGROUND).sum() == 100
    assert prediction.parts[0, 0] == BACKGROUND


def test_foreground_mask_subtracts_the_background() -> None:
    background = np.full((4, 4), 3000, np.uint16)
    background[0, 0] = 0  # no reading in the empty room: does not veto
    depth = background.copy()
    depth[1:3, 1:3] = 2000  # a person in front of the wall
    depth[0, 0] = 2500
    depth[3, 3] = 2950  # wall noise, within the margin
    mask = foreground_mask(depth, background)
    expected = np.zeros((4, 4), bool)
    expected[1:3, 1:3] = True
    expected[0, 0] = True
    np.testing.assert_array_equal(mask, expected)
    assert foreground_mask(depth).all()  # without a background: everything in range
    with pytest.raises(ValueError, match="shape"):
        foreground_mask(depth, background[:2])


def test_the_bundled_model_is_shipped_and_small() -> None:
    path = bundled_model_path()
    assert path.is_file(), f"{path}: train it with the command in resources/models/README.md"
    assert path.stat().st_size <= 20 * 1024 * 1024
    model = BodyPartModel.load(path)
    assert model.forest.n_trees == model.info.trees == 3
    assert model.info.frame_seeds.stop <= 1_000_000  # clear of the held-out seeds
