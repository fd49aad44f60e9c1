"""Scoring a project's predictions: only corrected images count, totals are sums (not means of
images), and ``segstudio eval project`` prints them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segstudio import cli
from segstudio.core.label_pq import label_map_pq_stat, panoptic_quality
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import builtin_palette
from segstudio.core.pq import PQStat
from segstudio.io.project import ImageState, Project
from segstudio.io.project_eval import evaluate_project

PALETTE = builtin_palette("voc")
BACKGROUND, CAT, DOG = 0, 8, 12


def _labels(cat_from: int, dog: bool, height: int = 40, width: int = 60) -> LabelMap:
    category = np.full((height, width), BACKGROUND, np.uint16)
    category[:, cat_from:] = CAT
    if dog:
        category[:10, :12] = DOG
    category[-4:] = VOID
    instance = np.zeros((height, width), np.uint32)
    instance[category == CAT] = 1
    instance[category == DOG] = 2
    return LabelMap.from_arrays(category, instance, Provenance.HUMAN)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    import cv2

    project = Project.create(tmp_path / "p", PALETTE, name="p")
    (tmp_path / "p" / "images").mkdir()
    for name in ("a", "b", "c", "d"):
        photo = tmp_path / "p" / "images" / f"{name}.png"
        cv2.imwrite(str(photo), np.zeros((40, 60, 3), np.uint8))
        project.add_image(photo)
    project.save_labels("a", _labels(30, dog=False), ImageState.EDITED)
    project.save_prediction("a", _labels(26, dog=True))
    project.save_labels("b", _labels(20, dog=True), ImageState.REVIEWED)
    project.save_prediction("b", _labels(24, dog=True))
    project.save_labels("c", _labels(30, dog=False), ImageState.EDITED)  # no prediction: not scored
    project.save_prediction("d", _labels(30, dog=False))  # pre-labelled only: not scored
    project.set_state("d", ImageState.PRELABELLED)
    return project


def test_totals_are_sums_over_the_corrected_images(project: Project) -> None:
    score = evaluate_project(project.root)
    assert [s.image_id for s in score.images] == ["a", "b"] and score.unscored == 2
    pairs = [(project.load_labels(i), project.load_prediction(i)) for i in ("a", "b")]
    total, stat = ConfusionMatrix(PALETTE.ids), PQStat()
    for labels, prediction in pairs:
        total.counts += ConfusionMatrix.from_maps(labels.category, prediction.category, PALETTE.ids).counts
        stat += label_map_pq_stat(labels.category, labels.instance, prediction.category, prediction.instance)
    assert score.miou == pytest.approx(total.miou)
    isthing = {c.id: c.isthing for c in PALETTE}
    assert score.quality == panoptic_quality(stat, isthing)
    assert score.miou != pytest.approx(np.mean([s.miou for s in score.images]))  # not a mean of images
    assert score.quality.per_class[DOG].fp == 1 and score.quality.per_class[DOG].tp == 1
    assert set(score.class_iou) == {BACKGROUND, CAT, DOG}


def test_eval_project_command(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", "project", str(project.root), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["images_scored"] == 2 and [r["image"] for r in results["images"]] == ["a", "b"]
    assert set(results["class_iou"]) == {"background", "cat", "dog"}
    assert cli.main(["eval", "project", str(project.root)]) == 0
    table = capsys.readouterr().out
    worst = min(results["images"], key=lambda r: r["miou"])["image"]
    assert table.splitlines()[2].startswith(f"{worst} ")  # worst first
    assert "2 images scored, 2 not" in table
    assert cli.main(["eval", "project", str(project.root / "missing")]) != 0
    assert "missing" in capsys.readouterr().err
