"""``segstudio import`` / ``export`` on the real COCO panoptic sample, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from segstudio.cli import main
from segstudio.io.coco_panoptic import read_coco_panoptic
from segstudio.io.project import Project


def _import(sample: Path, project: Path) -> int:
    return main(
        ["import", "coco-panoptic", "--json", str(sample / "panoptic_examples.json"),
         "--images", str(sample), str(project)]
    )  # fmt: skip


def test_import_export_round_trip_is_exact_and_scores_pq_one(coco_panoptic_sample, tmp_path, capsys) -> None:
    project, out = tmp_path / "project", tmp_path / "export"
    assert _import(coco_panoptic_sample, project) == 0
    assert main(["export", "coco-panoptic", str(project), str(out), "--images", "copy"]) == 0

    original = json.loads((coco_panoptic_sample / "panoptic_examples.json").read_text())
    exported = json.loads((out / "annotations" / "panoptic.json").read_text())
    assert exported["images"] == original["images"]  # ids, names and extra fields survive
    key = lambda s: (s["category_id"], s["iscrowd"], s["area"], tuple(s["bbox"]))  # noqa: E731
    for before, after in zip(original["annotations"], exported["annotations"], strict=True):
        assert before["image_id"] == after["image_id"] and before["file_name"] == after["file_name"]
        assert sorted(map(key, before["segments_info"])) == sorted(map(key, after["segments_info"]))
    photos = sorted(p.name for p in (out / "images").iterdir())
    assert photos == sorted(i["file_name"] for i in original["images"])

    reread = read_coco_panoptic(out / "annotations" / "panoptic.json")
    source = read_coco_panoptic(coco_panoptic_sample / "panoptic_examples.json")
    for a, b in zip(source.records, reread.records, strict=True):
        assert np.array_equal(a.labels.category, b.labels.category)
        assert np.array_equal(a.labels.instance, b.labels.instance)

    capsys.readouterr()
    assert main(
        ["eval", "panoptic", "--gt-json", str(coco_panoptic_sample / "panoptic_examples.json"),
         "--pred-json", str(out / "annotations" / "panoptic.json"), "--json"]
    ) == 0  # fmt: skip
    scores = json.loads(capsys.readouterr().out)
    for group in ("All", "Things", "Stuff"):
        assert scores[group]["pq"] == 1.0 and scores[group]["n"] > 0


def test_import_with_a_missing_photo_leaves_no_project(coco_panoptic_sample, tmp_path, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(coco_panoptic_sample / "000000142238.jpg", photos)
    project = tmp_path / "project"
    assert main(
        ["import", "coco-panoptic", "--json", str(coco_panoptic_sample / "panoptic_examples.json"),
         "--masks", str(coco_panoptic_sample / "panoptic_examples"), "--images", str(photos), str(project)]
    ) != 0  # fmt: skip
    error = capsys.readouterr().err
    assert "000000439180.jpg" in error and len(error.strip().splitlines()) == 1
    assert not project.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]  # no half-built folder left behind


def test_export_refuses_an_existing_folder_and_links_photos(coco_panoptic_sample, tmp_path, capsys) -> None:
    project, out = tmp_path / "project", tmp_path / "out"
    assert _import(coco_panoptic_sample, project) == 0
    out.mkdir()
    assert main(["export", "coco-panoptic", str(project), str(out)]) != 0
    assert "already exists" in capsys.readouterr().err
    linked = tmp_path / "linked"
    assert main(["export", "coco-panoptic", str(project), str(linked), "--images", "link"]) == 0
    links = sorted((linked / "images").iterdir())
    assert links and all(p.is_symlink() and p.resolve().parent == coco_panoptic_sample for p in links)
    assert len(Project.open(project).images) == 2


def test_export_of_a_missing_project_names_it(tmp_path, capsys) -> None:
    assert main(["export", "coco-panoptic", str(tmp_path / "nope"), str(tmp_path / "out")]) != 0
    assert "nope" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
