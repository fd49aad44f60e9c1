"""Checks of an installed segstudio (a wheel in a new venv, or the PyInstaller bundle), run as a
user would: its own ``segstudio`` command, in a folder outside the checkout, with a fresh home.

Shared by ``test_wheel.py`` and ``test_bundle.py`` so both artefacts pass the same checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
COCO_PANOPTIC_SAMPLE = REPO_ROOT / "tests" / "data" / "coco-panoptic-sample"
TIMEOUT_S = 600


def project_version() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def user_env(home: Path, extra_path: Path | None = None) -> dict[str, str]:
    """A fresh user: own HOME and XDG folders (settings, the sample project), offscreen Qt, no
    PYTHONPATH (nothing of the checkout leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "XDG_", "VIRTUAL_ENV"))}
    for name in ("config", "data", "cache", "state"):
        (home / name).mkdir(parents=True, exist_ok=True)
        env[f"XDG_{name.upper()}_HOME"] = str(home / name)
    env["HOME"] = str(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``command``; a failure shows its output (the reason is there)."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def check_version(segstudio: Path, cwd: Path, env: dict[str, str]) -> None:
    assert run([str(segstudio), "--version"], cwd, env).stdout.strip() == f"segstudio {project_version()}"


def check_screenshot(segstudio: Path, cwd: Path, env: dict[str, str]) -> np.ndarray:
    """The app on its built-in sample renders a real window (photo, panels), not a blank grab."""
    shot = cwd / "screenshot.png"
    run([str(segstudio), "--screenshot", str(shot)], cwd, env)
    image = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert image is not None, f"{shot}: no PNG written"
    assert image.shape[0] >= 400 and image.shape[1] >= 600, image.shape
    colours = np.unique(image.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 2000, f"only {len(colours)} colours: the window looks empty"
    sample = Path(env["XDG_DATA_HOME"]) / "segstudio"
    assert any(sample.rglob("chelsea.jpg")), f"the sample project was not made under {sample}"
    return image


def check_depth_eval(segstudio: Path, cwd: Path, env: dict[str, str]) -> dict:
    """The bundled body-part forest loads and labels held-out frames."""
    out = run([str(segstudio), "depth", "eval", "--images", "2", "--json"], cwd, env).stdout
    result = json.loads(out)
    assert 0.3 < result["mean_class_accuracy"] <= 1.0, result
    return result


def check_import_export(segstudio: Path, cwd: Path, env: dict[str, str]) -> None:
    """COCO panoptic in and out again (worker processes at the default --jobs): the same segments,
    and the installed evaluator scores the export PQ 1 against the original."""
    sample = COCO_PANOPTIC_SAMPLE
    project, out = cwd / "project", cwd / "export"
    run(
        [str(segstudio), "import", "coco-panoptic", "--json", str(sample / "panoptic_examples.json"),
         "--images", str(sample), str(project)], cwd, env,
    )  # fmt: skip
    run([str(segstudio), "export", "coco-panoptic", str(project), str(out), "--images", "copy"], cwd, env)
    original = json.loads((sample / "panoptic_examples.json").read_text())
    exported = json.loads((out / "annotations" / "panoptic.json").read_text())
    assert exported["images"] == original["images"]
    key = lambda s: (s["category_id"], s["iscrowd"], s["area"], tuple(s["bbox"]))  # noqa: E731
    for before, after in zip(original["annotations"], exported["annotations"], strict=True):
        assert sorted(map(key, before["segments_info"])) == sorted(map(key, after["segments_info"]))
    scores = json.loads(
        run(
            [str(segstudio), "eval", "panoptic", "--gt-json", str(sample / "panoptic_examples.json"),
             "--pred-json", str(out / "annotations" / "panoptic.json"), "--json"], cwd, env,
        ).stdout
    )  # fmt: skip
    assert scores["All"]["pq"] == 1.0 and scores["All"]["n"] > 0
