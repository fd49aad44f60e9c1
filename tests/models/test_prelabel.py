"""``segstudio prelabel`` in-process (``--cluster local``): what it labels, skips, refuses and records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prelabel_project import (
    IMAGES,
    UNLABELLED,
    copy_project,
    file_bytes,
    make_checkpoint,
    states,
)

from segstudio.cli import main
from segstudio.io.label_file import read_label_file, read_label_tokens
from segstudio.io.project import Project
from segstudio.models import registry
from segstudio.models.prelabel import make_plan
from segstudio.models.prelabel_run import local_batches, run_prelabel


@pytest.fixture(autouse=True)
def forget_checkpoints() -> Iterator[None]:
    """A checkpoint given as a model registers itself; each test ends without them."""
    yield
    for leftover in [s.name for s in registry.list_specs() if s.base == "unet-small"]:
        registry.unregister(leftover)


def prelabel(capsys: pytest.CaptureFixture[str], *args: str, status: int = 0) -> dict:
    capsys.readouterr()
    assert main(["prelabel", *args, "--json"]) == status
    return json.loads(capsys.readouterr().out)


def test_unlabelled_images_are_prelabelled_once_and_labels_kept(
    prelabel_template: Path, prelabel_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_project(prelabel_template, tmp_path / "project")
    done = prelabel(capsys, str(root), "--model", str(prelabel_checkpoint), "--batch-size", "3")
    assert (done["candidates"], done["labelled"], done["skipped"], done["failed"]) == (
        UNLABELLED,
        UNLABELLED,
        0,
        [],
    )
    assert list(states(root).values()) == ["prelabelled"] * UNLABELLED + ["reviewed"] * (IMAGES - UNLABELLED)
    assert file_bytes(root / "labels") == file_bytes(prelabel_template / "labels")
    with Project.open(root) as project:
        first = project.image_ids()[0]
        source = project.prediction_source(first)
        prediction = project.load_prediction(first)
    assert source is not None and source.model == "shapes-net-0" and done["weights"] == source.weights
    assert read_label_tokens(root / "predictions" / f"{first}.npz")[0] == source.token
    assert prediction is not None and set(np.unique(prediction.category)) <= {0, 1, 2}
    assert prediction.instance.max() >= 1  # blobs of the thing classes are instances, as in the app

    again = prelabel(capsys, str(root), "--model", str(prelabel_checkpoint))
    assert (again["labelled"], again["skipped"]) == (0, UNLABELLED)
    everything = prelabel(capsys, str(root), "--model", str(prelabel_checkpoint), "--only", "all")
    assert (everything["labelled"], everything["skipped"]) == (IMAGES - UNLABELLED, UNLABELLED)
    assert file_bytes(root / "labels") == file_bytes(prelabel_template / "labels")


def test_other_weights_redo_the_images_and_the_same_batches_give_the_same_bytes(
    prelabel_template: Path, prelabel_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_project(prelabel_template, tmp_path / "project")
    prelabel(capsys, str(root), "--model", str(prelabel_checkpoint))
    before = file_bytes(root / "predictions")
    other = make_checkpoint(tmp_path / "other.pt", seed=1)
    redone = prelabel(capsys, str(root), "--model", "unet-small", "--weights", str(other))
    assert (redone["labelled"], redone["skipped"], redone["model"]) == (UNLABELLED, 0, "shapes-net-1")
    assert file_bytes(root / "predictions") != before
    back = prelabel(capsys, str(root), "--model", str(prelabel_checkpoint))
    assert back["labelled"] == UNLABELLED and file_bytes(root / "predictions") == before


def test_an_unreadable_photo_fails_its_image_only(
    prelabel_template: Path, prelabel_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_project(prelabel_template, tmp_path / "project")
    with Project.open(root) as project:
        broken = project.image_ids()[1]
        project.image_path(broken).write_bytes(b"not a png")
    done = prelabel(capsys, str(root), "--model", str(prelabel_checkpoint), status=1)
    assert done["labelled"] == UNLABELLED - 1 and [f["image"] for f in done["failed"]] == [broken]
    assert "not a png" not in done["failed"][0]["error"] and broken in done["failed"][0]["error"]
    assert states(root)[broken] == "unlabelled" and not (root / "predictions" / f"{broken}.npz").exists()
    for path in (root / "predictions").iterdir():
        read_label_file(path)


def test_models_that_cannot_run_everywhere_the_same_are_refused(
    prelabel_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_project(prelabel_template, tmp_path / "project")
    assert main(["prelabel", str(root), "--model", "unet-small"]) == 1
    assert "random initialisation" in capsys.readouterr().err
    assert main(["prelabel", str(root), "--model", "nosuch-net"]) == 1
    assert "nosuch-net" in capsys.readouterr().err
    assert main(["prelabel", str(root), "--model", "unet-small", "--actors", "2"]) == 2
    assert "need a Ray cluster" in capsys.readouterr().err
    assert list(states(root).values()).count("prelabelled") == 0


def test_without_ray_the_cluster_option_says_what_to_install(prelabel_template: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['ray'] = None  # as if Ray were not installed\n"
        "from segstudio.cli import main\n"
        f"sys.exit(main(['prelabel', {str(prelabel_template)!r}, '--model', 'unet-small',"
        " '--cluster', 'auto']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "pip install 'segstudio[cluster]'" in result.stderr


def test_a_ctrl_c_swallowed_while_waiting_for_a_batch_still_stops_the_run(
    prelabel_template: Path, prelabel_checkpoint: Path, tmp_path: Path
) -> None:
    """A library may catch the KeyboardInterrupt that lands in it while the run waits for the next
    batch (Ray Data's iterator cleans up on BaseException); the run still stops when it comes."""
    swallowed = []

    def execute_swallowing(plan, tasks):  # type: ignore[no-untyped-def]
        for number, finished in enumerate(local_batches(plan, tasks, num_threads=1)):
            if number == 2:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(1.0)  # the handler runs in this (main) thread meanwhile
                except KeyboardInterrupt:
                    swallowed.append(number)
            yield finished

    root = copy_project(prelabel_template, tmp_path / "project")
    before = signal.getsignal(signal.SIGINT)  # the default, or SIG_IGN after other tests' tools
    with Project.open(root) as project:
        plan = make_plan(root, str(prelabel_checkpoint), None, project.palette, 4)
        summary = run_prelabel(project, plan, "unlabelled", execute_swallowing)
    assert swallowed == [2], "the interrupt did not land in the executor"
    assert summary.stopped and summary.labelled == 2 * 4 < UNLABELLED
    assert signal.getsignal(signal.SIGINT) == before  # the run's handler is gone again
