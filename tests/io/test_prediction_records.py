"""Which model made each prediction: the file's token, the index's record, the state guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.palette import ClassDef, Palette
from segstudio.io.images import write_png
from segstudio.io.label_file import read_label_file, read_label_tokens, write_label_file
from segstudio.io.prediction_files import PredictionSource
from segstudio.io.project import ImageState, Project

PALETTE = Palette("test", [ClassDef(0, "background", (0, 0, 0)), ClassDef(1, "cat", (200, 0, 0), True)])
NET = PredictionSource("net", "sha256:" + "a" * 64)
OTHER = PredictionSource("net", "sha256:" + "b" * 64)


def _prediction(value: int) -> LabelMap:
    return LabelMap.from_arrays(np.full((6, 8), value, np.uint16), None, Provenance.MODEL)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    created = Project.create(tmp_path / "proj", PALETTE)
    for name in ("a", "b", "c"):
        path = tmp_path / "proj" / "images" / f"{name}.png"
        write_png(path, np.zeros((6, 8, 3), np.uint8))
        created.add_image(path)
    return created


def test_a_filed_prediction_names_its_model_in_the_file_and_the_index(project: Project) -> None:
    assert project.file_prediction("a", _prediction(1), NET) == ImageState.PRELABELLED
    assert project.prediction_source("a") == NET
    assert read_label_tokens(project.root / "predictions" / "a.npz")[0] == "net@sha256:" + "a" * 64
    assert [e.id for e in project.entries(unpredicted_by=NET)] == ["b", "c"]
    assert [e.id for e in project.entries(unpredicted_by=OTHER)] == ["a", "b", "c"]


def test_a_prediction_never_touches_a_persons_labels_or_state(project: Project) -> None:
    labels = LabelMap.from_arrays(np.ones((6, 8), np.uint16), None, Provenance.HUMAN)
    project.save_labels("b", labels, ImageState.REVIEWED)
    saved = (project.root / "labels" / "b.npz").read_bytes()
    assert project.file_prediction("b", _prediction(0), NET) == ImageState.REVIEWED
    project.record_predictions(["b", "c"], NET)
    assert (
        project.entry("b").state == ImageState.REVIEWED and project.entry("c").state == ImageState.PRELABELLED
    )
    assert (project.root / "labels" / "b.npz").read_bytes() == saved


def test_an_unknown_source_replaces_the_record_before_the_file(project: Project) -> None:
    project.file_prediction("a", _prediction(1), NET)
    project.save_prediction("a", _prediction(0))  # the app's pre-label: model not recorded
    assert project.prediction_source("a") is None
    assert [e.id for e in project.entries(unpredicted_by=NET)] == ["a", "b", "c"]
    project.record_predictions(["a", "b"], OTHER)
    project.forget_predictions(["a"])
    assert (project.prediction_source("a"), project.prediction_source("b")) == (None, OTHER)


def test_the_same_labels_and_tokens_make_the_same_file_bytes(tmp_path: Path) -> None:
    labels = _prediction(1)
    write_label_file(tmp_path / "one.npz", labels, revision=NET.token)
    write_label_file(tmp_path / "two.npz", labels, revision=NET.token)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    write_label_file(tmp_path / "fast.npz", labels, revision=NET.token, compresslevel=1)
    assert np.array_equal(read_label_file(tmp_path / "fast.npz").labels.category, labels.category)
