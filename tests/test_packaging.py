"""Packaging: the freedesktop entry and AppStream metainfo agree, and the wheel lists every package."""

from __future__ import annotations

import configparser
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGING = REPO_ROOT / "packaging"
APP_ID = "org.segstudio.SegStudio"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in desktop files
    parser.read(PACKAGING / f"{APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_has_required_keys() -> None:
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    for key in ("Name", "Exec", "Icon", "Categories"):
        assert entry.get(key), key
    assert entry["Categories"].endswith(";")
    assert entry["Terminal"] in ("true", "false")


def test_desktop_entry_runs_a_declared_script() -> None:
    pyproject = tomllib.loads((PACKAGING.parent / "pyproject.toml").read_text())
    scripts = {**pyproject["project"]["scripts"], **pyproject["project"]["gui-scripts"]}
    command = _desktop_entry()["Exec"].split()[0]
    assert command in scripts


def test_metainfo_is_valid_appstream() -> None:
    root = ET.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("metadata_license") and root.findtext("project_license")
    assert root.findtext("name") and root.findtext("summary")
    assert root.find("description/p") is not None
    launchable = root.find("launchable")
    assert launchable is not None and launchable.text == f"{APP_ID}.desktop"
    assert (PACKAGING / launchable.text).exists()
    releases = root.findall("releases/release")
    pyproject = tomllib.loads((PACKAGING.parent / "pyproject.toml").read_text())
    assert releases and releases[0].get("version") == pyproject["project"]["version"]


def test_every_package_of_the_source_tree_is_listed_for_the_wheel() -> None:
    """setuptools ships only the packages pyproject.toml lists: a new subpackage left out would be
    missing from every wheel while the checkout's tests still pass."""
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for init in (REPO_ROOT / "segstudio").rglob("__init__.py")
    }
    assert found <= listed, f"not listed in [tool.setuptools] packages: {sorted(found - listed)}"
