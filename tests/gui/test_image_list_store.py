"""The images dock on the SQLite store: a missing photo, states written by another process, a
schema-1 project opened by path, and a list of many images filtered and stepped through."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from gui_helpers import PALETTE, scene_image, write_png
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from segstudio.gui.document.projects import open_path
from segstudio.gui.panels.image_list import MISSING, ImageList
from segstudio.io.project import INDEX_NAME, MANIFEST_NAME, ImageState, Project

REPO = Path(__file__).resolve().parents[2]


def test_a_missing_photo_is_marked_and_opening_it_says_so(qtbot, make_window, project_root) -> None:
    (project_root / "images" / "plain.png").unlink()
    window = make_window(project_root)  # the project opens on its first image all the same
    assert window.image_name == "scene"
    images = window.image_list
    assert images.state_text("plain") == "unlabelled" + MISSING and images.state_text("scene") == "edited"
    row = images.rows.row_of("plain")
    assert images.rows.data(images.rows.index(row, 0), Qt.ItemDataRole.ForegroundRole) is not None
    window.open_image("plain")  # read on the loader thread: refused when it arrives
    box = window.findChild(QMessageBox)
    assert box is not None and "plain.png: file not found" in box.text()
    box.close()
    assert window.image_name == "scene" and images.current_id() == "scene"  # the app goes on


def test_states_written_by_another_process_show_up(qtbot, make_window, project_root) -> None:
    window = make_window(project_root)
    assert window.image_list.state_text("plain") == "unlabelled"
    code = (
        "import sys; from segstudio.io.project import Project, ImageState;"
        "Project.open(sys.argv[1]).set_state('plain', ImageState.REVIEWED)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code, str(project_root)], check=True, env=env, timeout=60)
    qtbot.waitUntil(lambda: window.image_list.state_text("plain") == "reviewed", timeout=10_000)  # the poll
    assert window.image_name == "scene" and window.image_list.current_id() == "scene"


def test_a_schema1_project_folder_opens_and_is_migrated(tmp_path: Path) -> None:
    root = tmp_path / "old"
    (root / "images").mkdir(parents=True)
    write_png(root / "images" / "a.png", scene_image())
    manifest = {
        "schema_version": 1,
        "name": "old one",
        "palette": PALETTE.to_dict(),
        "images": [{"id": "a", "file": "images/a.png", "width": 120, "height": 90, "state": "edited"}],
    }
    (root / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    opened = open_path(root / MANIFEST_NAME, tmp_path / "data")
    assert opened.project.name == "old one" and opened.project.entry("a").state is ImageState.EDITED
    assert (root / INDEX_NAME).is_file() and open_path(root, tmp_path / "data").project.image_ids() == ["a"]


def test_a_long_list_filters_searches_and_steps(qtbot, tmp_path: Path) -> None:
    project = Project.create(tmp_path / "many", PALETTE)
    states = list(ImageState)
    with sqlite3.connect(project.index_path) as db:  # 20,000 rows, as an import writes them
        db.executemany(
            "INSERT INTO images (id, key, file, width, height, state) VALUES (?, ?, ?, 8, 6, ?)",
            [(f"img{n:05d}", f"img{n:05d}", f"{n}.png", states[n % 4].value) for n in range(20_000)],
        )
    images = ImageList()
    qtbot.addWidget(images)
    images.set_project(project)
    assert images.rows.rowCount() == 20_000
    images.set_current("img00010")
    images.state_filter.setCurrentIndex(images.state_filter.findData(ImageState.EDITED.value))
    shown = images.visible_ids()
    assert shown[:3] == ["img00002", "img00006", "img00010"] and len(shown) == 5000
    assert images.current_id() == "img00010"  # still shown: still current
    images.search.setText("IMG0001")
    assert images.visible_ids() == ["img00010", "img00014", "img00018"]  # edited, and the id matches
    assert images.neighbour("img00010", 1) == "img00014" and images.neighbour("img00010", -1) is None
    images.search.clear()
    images.state_filter.setCurrentIndex(0)
    wanted = [ImageState.UNLABELLED.value]
    assert images.neighbour("img00010", 1, wanted) == "img00012"
    assert images.neighbour("img00010", -1, wanted) == "img00008"
    images.set_state("img00012", ImageState.EDITED)
    assert images.neighbour("img00010", 1, wanted) == "img00016"
    assert images.state_text("img00012") == "edited" + MISSING  # no photo files in this test
    images.select(["img00003", "img00005"])
    assert images.selected_ids() == ["img00003", "img00005"]
