"""``segstudio project info`` on a real imported project, and a project with a missing photo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from segstudio.cli import main
from segstudio.io.project import SCHEMA_VERSION, ImageState, Project


@pytest.fixture
def imported(coco_panoptic_sample: Path, tmp_path: Path) -> Path:
    """A copy of the COCO panoptic sample (its photos are moved below) imported through the CLI,
    with a trained-model file beside it."""
    sample, project = tmp_path / "sample", tmp_path / "project"
    shutil.copytree(coco_panoptic_sample, sample)
    assert main(
        ["import", "coco-panoptic", "--json", str(sample / "panoptic_examples.json"),
         "--images", str(sample), str(project)]
    ) == 0  # fmt: skip
    (project / "models").mkdir()
    (project / "models" / "coco-unet.pt").write_bytes(b"\0" * 2_500_000)
    return project


def test_project_info_prints_states_classes_and_models(imported: Path, capsys) -> None:
    with Project.open(imported) as project:
        first, second = project.image_ids()
        project.set_state(second, ImageState.REVIEWED)
    capsys.readouterr()
    assert main(["project", "info", str(imported)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"project  project  ({imported.resolve()})"
    assert lines[1] == f"index    {imported.resolve() / 'project.db'} (schema {SCHEMA_VERSION})"
    assert lines[2] == "images   2: 0 unlabelled, 0 prelabelled, 1 edited, 1 reviewed"
    assert lines[3].startswith("classes  133 (") and "1 person (thing)" in lines[3]
    assert lines[4] == "models   1: coco-unet (2.5 MB)"

    assert main(["project", "info", str(imported), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 2
    assert info["states"] == {"unlabelled": 0, "prelabelled": 0, "edited": 1, "reviewed": 1}
    assert info["schema_version"] == SCHEMA_VERSION and len(info["classes"]) == 133
    model_file = str(imported.resolve() / "models" / "coco-unet.pt")
    assert info["models"] == [{"name": "coco-unet", "file": model_file, "bytes": 2_500_000}]


def test_project_info_refuses_a_folder_that_is_no_project(tmp_path: Path, capsys) -> None:
    assert main(["project", "info", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    reason = f"{tmp_path / 'project.db'}: not found; {tmp_path} is not a segstudio project"
    assert err == f"segstudio project: error: {reason}"


def test_a_missing_photo_is_named_by_export_and_the_rest_works(
    imported: Path, tmp_path: Path, capsys
) -> None:
    with Project.open(imported) as project:
        gone = project.image_path(project.image_ids()[0])
    assert gone.is_relative_to(tmp_path / "sample")  # the test's own copy
    gone.rename(tmp_path / "elsewhere.jpg")
    assert main(["project", "info", str(imported)]) == 0  # the project still opens
    assert main(["export", "semantic-png", str(imported), str(tmp_path / "masks")]) == 0  # needs no photo
    capsys.readouterr()
    assert main(["export", "coco-panoptic", str(imported), str(tmp_path / "out"), "--images", "copy"]) == 1
    err = capsys.readouterr().err
    assert f"{gone}: photo of image" in err and "is missing" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))  # nothing half-written
