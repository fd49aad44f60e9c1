"""The wheel works outside the checkout: ``python -m build`` makes the sdist and, from it, the wheel;
the wheel is installed (not editable) into a new venv and its own ``segstudio`` runs from a folder
outside the checkout: version, the app's screenshot of its built-in sample, the bundled body-part
forest, and a COCO panoptic import/export.

The new venv gets segstudio only from the wheel; its dependencies (PySide6, numpy, ... several hundred
MB) are those of the test's own environment, added to the new venv's path by a ``.pth`` line after
the install, so the test needs no network and takes seconds. That environment's own segstudio (an
editable install) stays out: its import hook lives in a ``.pth`` file of that folder, which a path
line does not run, and the test checks that ``segstudio`` comes from the new venv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from installed_app import (
    REPO_ROOT,
    check_depth_eval,
    check_import_export,
    check_screenshot,
    check_version,
    project_version,
    run,
    user_env,
)

pytestmark = pytest.mark.slow

NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "out", "*.so"
)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist and wheel built from a copy of the source tree (nothing written into the checkout)."""
    root = tmp_path_factory.mktemp("build")
    source, out = root / "source", root / "dist"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_COPIED)
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    version = project_version()
    (wheel,) = out.glob(f"segstudio-{version}-*.whl")  # a platform wheel: the C extension (setup.py)
    return {"wheel": wheel, "sdist": out / f"segstudio-{version}.tar.gz"}


@pytest.fixture(scope="module")
def installed(artefacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel installed; returns its ``bin`` folder."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(artefacts["wheel"])],
        check=True, timeout=300,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "zz_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return env_dir / "bin"


def test_the_wheel_holds_every_package_and_resource(artefacts: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(artefacts["wheel"]).namelist())
    for needed in (
        "segstudio/gui/canvas/canvas.py",
        "segstudio/gui/icons.py",
        "segstudio/resources/models/body_parts.npz",
        "segstudio/resources/samples/chelsea.jpg",
        "segstudio/resources/samples/chelsea.labels.png",
        "segstudio/resources/icons/org.segstudio.SegStudio-256.png",
        "segstudio/resources/icons/tool-brush.svg",
        "segstudio/core/palettes/coco_panoptic.json",
    ):
        assert needed in names, f"{needed} missing from {artefacts['wheel'].name}"
    assert any(n.startswith("segstudio/_native/pixels.") and n.endswith((".so", ".pyd")) for n in names)
    with tarfile.open(artefacts["sdist"]) as archive:
        sdist = set(archive.getnames())
    for needed in (
        "setup.py",
        "segstudio/_native/pixels.c",
        "segstudio/_native/pq_match.c",
        "segstudio/_native/sam_kernels.c",
    ):
        assert any(name.endswith(f"/{needed}") for name in sdist), f"{needed} missing from the sdist"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(artefacts["wheel"]).read(entry_points).decode()
    assert "segstudio = segstudio.cli:main" in text and "segstudio-gui = segstudio.cli:gui_main" in text
    assert artefacts["sdist"].is_file()


def test_the_installed_wheel_runs_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    env = user_env(tmp_path / "home")
    work = tmp_path / "work"
    work.mkdir()
    origin = run([str(installed / "python"), "-c", "import segstudio; print(segstudio.__file__)"], work, env)
    assert origin.stdout.strip().startswith(str(installed.parent)), origin.stdout
    compiled = run(
        [str(installed / "python"), "-c", "import segstudio._native.pixels as m; print(m.__file__)"],
        work,
        env,
    )
    assert compiled.stdout.strip().startswith(str(installed.parent)), compiled.stdout
    segstudio = installed / "segstudio"
    check_version(segstudio, work, env)
    check_screenshot(segstudio, work, env)
    check_depth_eval(segstudio, work, env)
    check_import_export(segstudio, work, env)
