"""Smoke test of the standalone bundle (``make package`` -> ``dist/segstudio/segstudio``).

The build takes minutes, so ``make test`` does not make one: ``.ci/run`` builds it after the suite
and runs this file with ``SEGSTUDIO_BUNDLE`` set (``make package-test``). Without the variable the
tests skip and say so; with it, a missing or broken bundle fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from installed_app import (
    REPO_ROOT,
    check_depth_eval,
    check_import_export,
    check_screenshot,
    check_version,
    user_env,
)

BUNDLE = os.environ.get("SEGSTUDIO_BUNDLE")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BUNDLE, reason="no bundle named: `make package package-test` (run by .ci/run)"),
]


@pytest.fixture
def binary() -> Path:
    path = Path(BUNDLE or "")
    path = path if path.is_absolute() else REPO_ROOT / path
    assert path.is_file() and os.access(path, os.X_OK), f"{path}: no bundle binary (run `make package`)"
    return path


def test_the_bundle_runs_the_app_and_the_dataset_commands(binary: Path, tmp_path: Path) -> None:
    env = user_env(tmp_path / "home")
    env["PATH"] = "/usr/bin:/bin"  # no venv, no python of the checkout on the way
    work = tmp_path / "work"
    work.mkdir()
    check_version(binary, work, env)
    check_screenshot(binary, work, env)
    check_depth_eval(binary, work, env)
    check_import_export(binary, work, env)


def test_the_bundle_has_no_torch_and_says_how_to_get_the_models(binary: Path, tmp_path: Path) -> None:
    env = user_env(tmp_path / "home")
    internal = binary.parent / "_internal"
    assert not (internal / "torch").exists(), "torch was bundled"
    # the toolbar's SVG tool icons need Qt's SVG icon engine (else the tools show as words)
    assert (internal / "PySide6" / "Qt" / "plugins" / "iconengines" / "libqsvgicon.so").is_file()
    assert (internal / "segstudio" / "resources" / "icons" / "tool-brush.svg").is_file()
    models = subprocess.run([str(binary), "models"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert models.returncode != 0
    assert "standalone build leaves out" in models.stderr, models.stderr
    assert "pip install 'segstudio[models]'" in models.stderr
