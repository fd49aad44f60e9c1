"""The scribble classifier's prediction filed as a model's: its file tagged with the scribble
classifier as source, nothing written by a stopped run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from segstudio.core.features import FeatureCache
from segstudio.core.jobs import Cancelled
from segstudio.core.palette import builtin_palette
from segstudio.core.pixel_classifier import ClassifierParams
from segstudio.core.scribble_run import ScribbleRequest
from segstudio.io.images import write_png
from segstudio.io.label_file import read_label_file
from segstudio.io.prediction_files import PREDICTIONS_DIR, PredictionSource, prediction_path
from segstudio.io.project import ImageState, Project
from segstudio.io.scribble_prediction import SCRIBBLE_MODEL, classify_and_file, scribble_source

HEIGHT, WIDTH = 24, 32


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    (root / "images").mkdir(parents=True)
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[:, WIDTH // 2 :] = 200
    write_png(root / "images" / "two.png", rgb)
    created = Project.create(root, builtin_palette("voc"), name="Two")
    created.add_image(root / "images" / "two.png")
    return created


def _request(project: Project) -> ScribbleRequest:
    values = np.zeros((HEIGHT, WIDTH), np.uint16)
    values[4:8, 2:10] = 1  # background (id 0)
    values[4:8, 20:28] = 9  # cat (id 8)
    rgb = project.read_image("two")
    return ScribbleRequest("two", rgb, values, ClassifierParams())


def test_the_prediction_file_names_the_scribble_classifier(project: Project) -> None:
    request = _request(project)
    filed = classify_and_file(request, FeatureCache(), lambda: None, project)
    result, source = filed.result, filed.source
    assert filed.problem is None
    assert source == scribble_source(request.values) and source.model == SCRIBBLE_MODEL
    assert source.weights.startswith("sha256:")
    stored = read_label_file(prediction_path(project.root, "two"))
    assert stored.revision == source.token
    assert np.array_equal(stored.labels.category, result.category)
    assert set(np.unique(result.category).tolist()) == {0, 8}
    assert np.array_equal(project.load_prediction("two").category, result.category)
    assert project.prediction_source("two") == source  # the index row, written by the same call
    assert project.entry("two").state is ImageState.PRELABELLED
    other = request.values.copy()
    other[10, 10] = 1
    assert scribble_source(other) != source  # other scribbles, another source


def test_a_model_record_is_replaced_and_a_failed_filing_still_gives_the_result(project: Project) -> None:
    model = PredictionSource("deeplab", "sha256:" + "0" * 64)
    project.save_prediction("two", project.load_labels("two"), model)
    filed = classify_and_file(_request(project), FeatureCache(), lambda: None, project)
    assert project.prediction_source("two") == filed.source != model

    folder = project.root / PREDICTIONS_DIR
    shutil.rmtree(folder)
    folder.write_text("not a folder")  # the prediction file cannot be written
    again = classify_and_file(_request(project), FeatureCache(), lambda: None, project)
    assert again.problem is not None and PREDICTIONS_DIR in again.problem
    assert np.array_equal(again.result.category, filed.result.category)


def test_a_run_stopped_at_its_last_check_writes_nothing(project: Project) -> None:
    counted: list[int] = []
    classify_and_file(_request(project), FeatureCache(), lambda: counted.append(1), project)
    last = len(counted)  # the check after classifying, just before the file is written
    prediction_path(project.root, "two").unlink()

    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        if len(calls) == last:
            raise Cancelled()

    with pytest.raises(Cancelled):
        classify_and_file(_request(project), FeatureCache(), check, project)
    assert not prediction_path(project.root, "two").exists()
