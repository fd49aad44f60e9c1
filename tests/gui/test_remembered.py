"""What the window remembers between sessions (issue 16): its size and docks, the brush size,
and per project the last tool and class. Real windows on real settings files (in tmp), driven
by real clicks and keys; each "session" is a window closed and a new one built."""

from __future__ import annotations

from pathlib import Path

from gui_helpers import make_project, press_key
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QAbstractButton

from segstudio.gui.remembered import LAYOUT_VERSION, STATE_KEY, project_key
from segstudio.gui.settings import user_settings
from segstudio.gui.tools.tools import Eraser, Polygon


def close_button(dock) -> QAbstractButton:
    """The dock title bar's close (x) button."""
    return next(
        b for b in dock.findChildren(QAbstractButton) if b.objectName() == "qt_dockwidget_closebutton"
    )


def test_the_window_size_and_its_docks_come_back(qtbot, make_window, project_root) -> None:
    first = make_window(project_root)
    first.resize(760, 540)
    qtbot.waitUntil(lambda: first.width() == 760)
    layers = first.findChild(type(first.iou_dock), "layers-dock")
    qtbot.mouseClick(close_button(layers), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not layers.isVisible())
    size = first.size()
    first.close()

    second = make_window(project_root)
    assert second.layout_restored
    assert second.size() == size and size != second.screen().availableGeometry().size()
    assert not second.findChild(type(second.iou_dock), "layers-dock").isVisible()
    assert second.findChild(type(second.iou_dock), "images-dock").isVisible()
    assert second.iou_dock.isVisible()


def test_a_layout_from_an_older_version_is_not_restored(qtbot, make_window, project_root) -> None:
    first = make_window(project_root)
    first.close()
    settings = user_settings()
    settings.setValue(STATE_KEY, first.saveState(LAYOUT_VERSION - 1))
    settings.sync()
    second = make_window(project_root)
    assert not second.layout_restored
    assert second.findChild(type(second.iou_dock), "layers-dock").isVisible()  # the default layout


def test_the_brush_size_comes_back(qtbot, make_window, project_root) -> None:
    first = make_window(project_root)
    start = first.toolbox.settings.radius
    for _ in range(3):
        press_key(qtbot, first, Qt.Key.Key_BracketRight)
    grown = first.toolbox.settings.radius
    assert grown > start
    first.close()
    assert make_window(project_root).toolbox.settings.radius == grown


def test_each_project_gets_back_its_last_tool_and_class(
    qtbot, make_window, project_root, tmp_path: Path
) -> None:
    other_root = make_project(tmp_path / "other")
    window = make_window(project_root)
    press_key(qtbot, window, Qt.Key.Key_P)  # polygon
    press_key(qtbot, window, Qt.Key.Key_3)  # VOC "bicycle"
    assert window.toolbox.active.name == Polygon.name and window.toolbox.settings.category == 2
    assert window.open_path(other_root)
    press_key(qtbot, window, Qt.Key.Key_E)  # eraser
    press_key(qtbot, window, Qt.Key.Key_5)  # "boat"
    assert window.open_path(project_root)  # back in the same session
    assert window.toolbox.active.name == Polygon.name and window.toolbox.settings.category == 2
    assert window.commands.tools[Polygon.name].isChecked()
    window.close()

    again = make_window(other_root)  # a new session
    assert again.toolbox.active.name == Eraser.name and again.toolbox.settings.category == 4
    assert "boat" in again.class_picker.label.text()
    assert again.open_path(project_root)
    assert again.toolbox.active.name == Polygon.name and again.toolbox.settings.category == 2


def test_a_remembered_class_the_palette_no_longer_has_is_left_alone(qtbot, make_window, project_root) -> None:
    settings = user_settings()
    group = project_key(project_root)
    settings.setValue(f"{group}/class", 999)
    settings.setValue(f"{group}/tool", "no-such-tool")
    settings.sync()
    window = make_window(project_root)
    assert window.toolbox.settings.category in window.palette
    assert window.toolbox.active.name in window.toolbox.tools


def test_the_settings_file_keys_projects_by_folder(qtbot, make_window, project_root) -> None:
    window = make_window(project_root)
    press_key(qtbot, window, Qt.Key.Key_G)  # label fill
    window.close()
    settings = QSettings(user_settings().fileName(), QSettings.Format.IniFormat)
    group = project_key(project_root)
    assert settings.value(f"{group}/tool") == "label fill"
    assert settings.value(f"{group}/folder") == str(project_root.resolve())
