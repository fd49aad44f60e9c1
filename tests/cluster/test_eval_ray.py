"""``segstudio eval project|panoptic --cluster``: per-image sums as Ray tasks equal the local ones exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from prelabel_project import UNLABELLED, copy_project

from segstudio.benchmarks.panoptic_data import write_generated_dataset
from segstudio.cli import main
from segstudio.core.labels import LabelMap, Provenance
from segstudio.io.project import Project

pytestmark = pytest.mark.slow


def output(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_project_scores_on_the_cluster_equal_the_local_ones(
    ray_address: str, prelabel_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(copy_project(prelabel_template, tmp_path / "project"))
    with Project.open(root) as project:  # predictions = the labels moved a little: PQ between 0 and 1
        for number, image_id in enumerate(project.image_ids()[UNLABELLED:]):
            labels = project.load_labels(image_id)
            moved = [np.roll(a, (number % 5, 2), axis=(0, 1)) for a in (labels.category, labels.instance)]
            project.save_prediction(image_id, LabelMap.from_arrays(*moved, Provenance.MODEL))
    here = output(capsys, "eval", "project", root, "--json", "--jobs", "1")
    there = output(capsys, "eval", "project", root, "--json", "--cluster", ray_address)
    assert there == here  # every number to the last digit, images in the same order
    scored = json.loads(there)
    assert scored["images_scored"] == 40 - UNLABELLED and 0 < scored["pq"] < 1


def test_panoptic_scores_on_the_cluster_equal_the_local_ones(
    ray_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_generated_dataset(tmp_path / "data", 20, predictions=20, width=160, height=120)
    files = ["--gt-json", str(data.gt_json), "--pred-json", str(data.pred_json), "--json"]
    here = output(capsys, "eval", "panoptic", *files, "--jobs", "1")
    there = output(capsys, "eval", "panoptic", *files, "--cluster", ray_address)
    assert there == here and 0 < json.loads(there)["All"]["pq"] < 1
