"""Dropping folders and images on the window opens them; File > Open recent remembers, prunes and
reopens; with no path the app starts on the last project. Settings live in the test's tmp folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from gui_helpers import scene_image, write_png
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from segstudio.gui.recent import MAX_RECENT, RecentProjects, fill_menu
from segstudio.gui.settings import user_settings


def _mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    return mime


def _drop(window, mime: QMimeData) -> tuple[bool, bool]:
    """A drag entering the window and the drop, as Qt delivers them; (enter accepted, drop accepted)."""
    at = QPointF(window.canvas.geometry().center())
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(at.toPoint(), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(at, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


def _image_folder(folder: Path, names: tuple[str, ...] = ("a.png", "b.png", "c.png")) -> Path:
    folder.mkdir(parents=True)
    for offset, name in enumerate(names):
        write_png(folder / name, scene_image()[:, offset:].copy())
    return folder


def test_dropping_a_project_folder_opens_it(qtbot, make_window, project_root, tmp_path):
    window = make_window(_image_folder(tmp_path / "first"))
    assert _drop(window, _mime(project_root)) == (True, True)
    qtbot.waitUntil(lambda: window.project is not None and window.project.root == project_root.resolve())
    assert window.image_name == "scene"


def test_dropping_an_image_folder_or_images_opens_them(qtbot, make_window, project_root, tmp_path):
    window = make_window(project_root)
    folder = _image_folder(tmp_path / "photos")
    assert _drop(window, _mime(folder)) == (True, True)
    qtbot.waitUntil(lambda: window.project.name == "photos")
    assert window.project.image_ids() == ["a", "b", "c"]

    other = _image_folder(tmp_path / "more", ("x.png", "y.png", "z.png"))
    assert _drop(window, _mime(other / "z.png", other / "y.png")) == (True, True)
    qtbot.waitUntil(lambda: window.project.name == "more")
    assert window.project.image_ids() == ["z", "y"]  # only the dropped images
    assert window.image_name == "z"
    assert set(window.image_list.visible_ids()) == {"y", "z"}


def test_drags_of_anything_else_are_refused(qtbot, make_window, project_root, tmp_path):
    window = make_window(project_root)
    text = QMimeData()
    text.setText("not a file")
    assert _drop(window, text) == (False, False)
    assert _drop(window, _mime(tmp_path / "missing.png")) == (False, False)
    web = QMimeData()
    web.setUrls([QUrl("https://example.com/a.png")])
    assert _drop(window, web) == (False, False)
    QApplication.processEvents()
    assert window.project.root == project_root.resolve()


def test_recent_list_is_newest_first_deduplicated_bounded_and_pruned(tmp_path):
    settings = user_settings()
    recent = RecentProjects(settings)
    folders = [tmp_path / f"p{i}" for i in range(MAX_RECENT + 2)]
    for folder in folders:
        folder.mkdir()
        recent.add(folder)
    recent.add(folders[3])
    expected = [folders[3]] + [f for f in reversed(folders) if f != folders[3]][: MAX_RECENT - 1]
    assert recent.paths() == [f.resolve() for f in expected]
    assert RecentProjects(user_settings()).paths() == recent.paths()  # persisted
    shutil.rmtree(folders[3])
    assert RecentProjects(user_settings()).last() == folders[-1].resolve()
    assert str(folders[3].resolve()) not in user_settings().value("recent/projects")


def test_one_recent_entry_survives_the_settings_round_trip(tmp_path):
    RecentProjects(user_settings()).add(tmp_path)
    assert RecentProjects(user_settings()).paths() == [tmp_path.resolve()]


def test_open_recent_menu_reopens_and_no_path_starts_on_the_last_project(
    qtbot, make_window, project_root, tmp_path, isolated_settings
):
    window = make_window(project_root)
    folder = _image_folder(tmp_path / "photos")
    assert window.open_path(folder)
    menu = window.commands.recent_menu
    assert menu is not None and menu.title().replace("&", "") == "Open recent"
    fill_menu(menu, window.recent, window.open_path)
    entries = [a for a in menu.actions() if not a.isSeparator()]
    assert [a.toolTip() for a in entries[:2]] == [str(folder.resolve()), str(project_root.resolve())]
    entries[1].trigger()
    assert window.project.root == project_root.resolve()
    assert window.recent.paths()[0] == project_root.resolve()
    assert (isolated_settings / "segstudio" / "segstudio.ini").is_file()

    again = make_window()  # no path: the last project
    assert again.project.root == project_root.resolve()
    shutil.rmtree(project_root)
    third = make_window()  # gone: the one before it, which still exists
    assert third.project.name == "photos"


def test_with_nothing_recent_the_app_starts_on_the_sample(make_window):
    window = make_window()
    assert window.project is not None and window.project.name == "samples"
    assert not window.findChildren(QMessageBox)
