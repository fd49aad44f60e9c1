"""The freedesktop files pass the real validators, and ``make install-desktop`` puts the entry,
metainfo and icons where the XDG spec says, for the current user only."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGING = REPO_ROOT / "packaging"
APP_ID = "org.segstudio.SegStudio"
INSTALLER = PACKAGING / "install_desktop.py"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package}; .ci/run installs it)")
    return path


def test_desktop_entry_passes_desktop_file_validate() -> None:
    tool = _tool("desktop-file-validate", "desktop-file-utils")
    result = subprocess.run([tool, str(PACKAGING / f"{APP_ID}.desktop")], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_metainfo_passes_appstreamcli_validate() -> None:
    """Offline (--no-net): the screenshot URLs are checked for form, not fetched."""
    tool = _tool("appstreamcli", "appstream")
    metainfo = PACKAGING / f"{APP_ID}.metainfo.xml"
    result = subprocess.run([tool, "validate", "--no-net", str(metainfo)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "W:" not in result.stdout and "E:" not in result.stdout, result.stdout


def _entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def _installer_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    return env


def test_make_install_desktop_installs_entry_and_icons_for_the_user(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make, "make is part of the README's set-up"
    venv = tmp_path / "venv"  # its stamp named old (-o): make uses it as it is, builds nothing
    result = subprocess.run(
        [make, "-s", "-o", f"{venv}/.installed", "install-desktop",
         f"VENV={venv}", f"PYTHON={sys.executable}"],
        cwd=REPO_ROOT, env=_installer_env(tmp_path), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = tmp_path / "data"
    entry = data / "applications" / f"{APP_ID}.desktop"
    assert _entry(entry)["Exec"] == f"{venv}/bin/segstudio-gui %F"
    assert _entry(entry)["Icon"] == APP_ID
    assert (data / "metainfo" / f"{APP_ID}.metainfo.xml").read_bytes() == (
        PACKAGING / f"{APP_ID}.metainfo.xml"
    ).read_bytes()
    icons = data / "icons" / "hicolor"
    assert (icons / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in (16, 32, 48, 128, 256, 512):
        assert (icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file(), size
    assert not (tmp_path / "home").exists(), "wrote outside XDG_DATA_HOME"
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout


def test_install_desktop_uninstall_removes_what_it_wrote(tmp_path: Path) -> None:
    env = _installer_env(tmp_path)
    subprocess.run([sys.executable, str(INSTALLER)], env=env, check=True, capture_output=True)
    entry = tmp_path / "data" / "applications" / f"{APP_ID}.desktop"
    assert _entry(entry)["Exec"] == "segstudio-gui %F"  # from PATH, as after pip install
    subprocess.run([sys.executable, str(INSTALLER), "--uninstall"], env=env, check=True, capture_output=True)
    left = {p.name for p in (tmp_path / "data").rglob("*") if p.is_file()}
    assert left <= {"mimeinfo.cache", "icon-theme.cache"}, left  # the desktop's own caches, refreshed


def test_install_desktop_quotes_a_command_with_spaces(tmp_path: Path) -> None:
    command = tmp_path / "my apps" / "segstudio"
    env = _installer_env(tmp_path)
    installer = [sys.executable, str(INSTALLER), "--exec", str(command)]
    subprocess.run(installer, env=env, check=True, capture_output=True)
    entry = tmp_path / "data" / "applications" / f"{APP_ID}.desktop"
    assert _entry(entry)["Exec"] == f'"{command}" %F'
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout


def test_install_desktop_refuses_a_relative_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(INSTALLER), "--exec", "bin/segstudio"],
        env=_installer_env(tmp_path), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2 and "absolute path" in result.stderr
    assert not (tmp_path / "data").exists()
