"""Start-up with a remembered layout that shows the Models and Depth stream docks (issue 16): the
docks come back, but nothing heavy runs until the user turns to them (no torch import, no model
list, no depth stream). Real windows on a real settings file, driven by real clicks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from gui_helpers import choose
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTabBar

from segstudio.gui.depthview.depth_view import HELD_MESSAGE, HELD_TEXT
from segstudio.gui.main_window import MainWindow
from segstudio.gui.modelling.model_docks import HELD_PLACEHOLDER
from segstudio.gui.settings import user_settings


def remember_models_and_depth(qtbot, make_window, project_root: Path) -> None:
    """A session that ends with the Models dock open behind the Depth stream dock."""
    first = make_window(project_root)
    choose(qtbot, first, "View", "Models")
    choose(qtbot, first, "View", "Depth stream")
    qtbot.waitUntil(first.depth_view.isVisible)
    first.close()
    user_settings().sync()


def settle(seconds: float) -> None:
    """Let the event loop run (a started stream or model job would get going meanwhile)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def tab_of(window: MainWindow, title: str) -> tuple[QTabBar, int]:
    for bar in window.findChildren(QTabBar):
        for index in range(bar.count()):
            if bar.isVisible() and bar.tabText(index) == title:
                return bar, index
    raise AssertionError(f"no tab {title!r}")


def test_remembered_docks_start_idle_until_the_user_turns_to_them(qtbot, make_window, project_root) -> None:
    remember_models_and_depth(qtbot, make_window, project_root)
    window = make_window(project_root)
    assert window.layout_restored
    assert window.depth_dock.isVisible() and window.models.models_dock.toggleViewAction().isChecked()
    settle(0.5)
    assert window.depth_view.worker is None and not window.depth_view.streaming
    assert window.depth_view.message_label.text() == HELD_MESSAGE
    assert window.depth_view.canvas.placeholder == HELD_TEXT  # the picture says how to start it
    catalog = window.models.catalog
    assert not catalog.asking and not catalog.loaded and not window.models.backend.created
    assert window.models.models_panel.model_combo.placeholderText() == HELD_PLACEHOLDER

    # a click on the Models tab brings it to the front: the list is asked for
    bar, index = tab_of(window, "Models")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    qtbot.waitUntil(lambda: catalog.asking or catalog.loaded)
    assert window.depth_view.worker is None  # behind its tab now; still not started

    # back to the depth stream by its tab: it starts
    bar, index = tab_of(window, "Depth stream")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    qtbot.waitUntil(lambda: window.depth_view.streaming)
    qtbot.waitUntil(lambda: window.depth_view.frames_shown > 0, timeout=20000)
    assert window.depth_view.message_label.text() != HELD_MESSAGE


def test_a_click_in_the_held_depth_dock_starts_its_stream(qtbot, make_window, project_root) -> None:
    remember_models_and_depth(qtbot, make_window, project_root)
    window = make_window(project_root)
    settle(0.3)
    assert window.depth_view.worker is None
    qtbot.mouseClick(window.depth_view.canvas, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.depth_view.streaming)
    assert not window.models.backend.created  # the Models dock, behind its tab, still waits


def test_start_up_with_the_remembered_docks_imports_no_torch(
    qtbot, make_window, project_root, tmp_path: Path
) -> None:
    """A fresh interpreter starts the app on that layout and runs its event loop for a second."""
    remember_models_and_depth(qtbot, make_window, project_root)
    settings = str(tmp_path / "settings")
    code = (
        "import sys, time\n"
        "from PySide6.QtCore import QSettings\n"
        "from segstudio.app import create_window, qt_application\n"
        "app = qt_application()\n"
        f"QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {settings!r})\n"
        f"window = create_window({str(project_root)!r}, offer_recovery=False)\n"
        "window.show()\n"
        "end = time.monotonic() + 1.0\n"
        "while time.monotonic() < end:\n"
        "    app.processEvents()\n"
        "    time.sleep(0.02)\n"
        "print(window.layout_restored, window.depth_dock.isVisible(), window.depth_view.streaming,\n"
        "      window.models.catalog.asking or window.models.catalog.loaded, 'torch' in sys.modules)\n"
        "window.close()\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "False", "False", "False"]
