"""``segstudio prelabel --cluster``: a real Ray cluster (2 CPUs, loopback), real worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from prelabel_project import IMAGES, UNLABELLED, copy_project, file_bytes, states

from segstudio.cli import main
from segstudio.io.label_file import read_label_file
from segstudio.io.project import Project

pytestmark = pytest.mark.slow
RUN_LIMIT_S = 300


def prelabel(capsys: pytest.CaptureFixture[str], root: Path, *options: str) -> dict:
    capsys.readouterr()
    assert main(["prelabel", str(root), "--json", *options]) == 0
    return json.loads(capsys.readouterr().out)


def start_prelabel(root: Path, checkpoint: Path, address: str) -> subprocess.Popen[str]:
    """The command in a child process, one image per batch (so the run lasts long enough to act on)."""
    command = [sys.executable, "-m", "segstudio", "prelabel", str(root), "--model", str(checkpoint)]
    command += ["--only", "all", "--cluster", address, "--batch-size", "1", "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_whole(folder: Path) -> int:
    """Every prediction file under its final name reads whole; returns how many there are."""
    names = [p for p in folder.glob("*.npz")] if folder.is_dir() else []
    for path in names:
        try:
            read_label_file(path)
        except FileNotFoundError:  # listed, then replaced by os.replace: the new one is whole too
            continue
    return len(names)


def recorded(root: Path) -> int:
    """Images whose prediction the run has recorded in the index (the driver does that)."""
    with Project.open(root) as project:
        return sum(project.prediction_source(i) is not None for i in project.image_ids())


def interrupt_unfinished(run: subprocess.Popen[str], root: Path) -> bool:
    """Ctrl+C the run only while it is frozen (SIGSTOP) with images still unrecorded: only the driver
    records states, so a fast run (or a slow test under load) cannot finish all of them between
    the test's look and the signal. Returns whether the signal was sent."""
    run.send_signal(signal.SIGSTOP)
    try:
        unfinished = recorded(root) < IMAGES
        if unfinished:
            run.send_signal(signal.SIGINT)  # pending until the process runs again
        return unfinished
    finally:
        run.send_signal(signal.SIGCONT)


def actor_processes() -> list[psutil.Process]:
    """This cluster's pre-label actors (Ray names worker processes after their actor class)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "PrelabelActor" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def test_cluster_predictions_equal_local_and_a_rerun_does_nothing(
    ray_address: str,
    prelabel_template: Path,
    prelabel_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local = copy_project(prelabel_template, tmp_path / "local")
    on_ray = copy_project(prelabel_template, tmp_path / "ray")
    done_here = prelabel(capsys, local, "--model", str(prelabel_checkpoint), "--only", "all")
    done_there = prelabel(
        capsys, on_ray, "--model", str(prelabel_checkpoint), "--only", "all", "--cluster", ray_address
    )
    assert done_here["labelled"] == done_there["labelled"] == IMAGES and not done_there["failed"]
    assert file_bytes(on_ray / "predictions") == file_bytes(local / "predictions")  # byte for byte
    assert file_bytes(on_ray / "labels") == file_bytes(prelabel_template / "labels")  # human labels untouched
    assert list(states(on_ray).values()) == ["prelabelled"] * UNLABELLED + ["reviewed"] * (
        IMAGES - UNLABELLED
    )

    again = prelabel(
        capsys, on_ray, "--model", str(prelabel_checkpoint), "--only", "all", "--cluster", ray_address
    )
    assert (again["labelled"], again["skipped"], again["candidates"]) == (0, IMAGES, IMAGES)


def test_a_killed_worker_is_replaced_and_every_image_is_done_whole(
    ray_address: str, prelabel_template: Path, prelabel_checkpoint: Path, tmp_path: Path
) -> None:
    root = copy_project(prelabel_template, tmp_path / "project")
    run = start_prelabel(root, prelabel_checkpoint, ray_address)
    killed, files_then, deadline = None, 0, time.monotonic() + RUN_LIMIT_S
    while run.poll() is None and time.monotonic() < deadline:
        files = check_whole(root / "predictions")
        actors = actor_processes()
        if killed is None and files and actors:
            killed, files_then = actors[0].pid, files
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    out, err = run.communicate(timeout=RUN_LIMIT_S)
    assert run.returncode == 0, err[-2000:]
    assert killed is not None and files_then < IMAGES, "the worker was not killed while the job ran"
    summary = json.loads(out)
    assert (summary["labelled"], summary["failed"], summary["remaining"]) == (IMAGES, [], 0)
    with Project.open(root) as project:  # also sweeps temporary files of dead writers
        source = project.prediction_source(project.first_image_id() or "")
        assert source is not None and all(project.prediction_source(i) == source for i in project.image_ids())
    assert check_whole(root / "predictions") == IMAGES
    assert sorted(p.name for p in (root / "predictions").iterdir()) == sorted(
        f"{i}.npz" for i in states(root)
    ), "a partial or temporary file was left"


def test_a_stopped_run_keeps_what_finished_and_a_rerun_does_only_the_rest(
    ray_address: str,
    prelabel_template: Path,
    prelabel_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = copy_project(prelabel_template, tmp_path / "project")
    run = start_prelabel(root, prelabel_checkpoint, ray_address)
    deadline = time.monotonic() + RUN_LIMIT_S
    while run.poll() is None and time.monotonic() < deadline:
        if recorded(root) >= 2 and interrupt_unfinished(run, root):
            break
        time.sleep(0.02)
    out, err = run.communicate(timeout=RUN_LIMIT_S)
    assert run.returncode == 130, err[-2000:]
    stopped = json.loads(out)
    assert stopped["stopped"] and 2 <= stopped["labelled"] < IMAGES
    check_whole(root / "predictions")

    rest = prelabel(
        capsys, root, "--model", str(prelabel_checkpoint), "--only", "all", "--cluster", ray_address
    )
    assert rest["skipped"] == stopped["labelled"] and rest["labelled"] == IMAGES - stopped["labelled"]
    assert list(states(root).values()).count("prelabelled") == UNLABELLED
