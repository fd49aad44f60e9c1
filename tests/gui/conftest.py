"""GUI test fixtures: an isolated per-user data folder, windows on small projects, and a watchdog
that turns a forgotten modal dialog into a failure instead of a hung test run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gui_helpers import make_project
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from segstudio.app import create_window
from segstudio.gui.main_window import MainWindow
from segstudio.gui.threads.gc_guard import stop_collecting_on_gui_thread

MODAL_PATIENCE_S = 5.0
LOAD_PATIENCE_MS = 30000
WAITING_OPENS = ("open_image", "open_project", "open_paths")
"""The window's ways to open an image (``open_path``, ``step_image`` and a drop go through them)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "loading: drives the asynchronous image loading itself (opening does not wait)"
    )


@pytest.fixture(autouse=True)
def opening_waits_for_the_image(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, qtbot
) -> None:
    """Images are read on the loader thread and shown when they arrive; most tests are about the
    open image, so here each way of opening one returns once the image is shown (or refused) and
    its IoU numbers drawn, with the event loop running meanwhile. Tests marked ``loading`` drive
    the waiting themselves."""
    if request.node.get_closest_marker("loading") is not None:
        return
    for name in WAITING_OPENS:
        opening = getattr(MainWindow, name)

        def waiting(window: MainWindow, *args, _opening=opening, **kwargs):  # noqa: ANN202, ANN002, ANN003
            result = _opening(window, *args, **kwargs)
            qtbot.waitUntil(  # the IoU dock draws the image's numbers the turn after it is shown
                lambda: window.session.loading_id is None and not window.iou_panel.redraw_due,
                timeout=LOAD_PATIENCE_MS,
            )
            return result

        monkeypatch.setattr(MainWindow, name, waiting)


@pytest.fixture(autouse=True)
def isolated_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """QStandardPaths.AppDataLocation (the sample project's home) inside the test's tmp folder."""
    folder = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Path:
    """The user's settings file (recent projects, shortcuts) inside the test's tmp folder."""
    folder = tmp_path / "settings"
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture(autouse=True, scope="module")
def python_collects_again() -> Iterator[None]:
    """Windows move cycle collection onto the GUI thread (``gui.threads.gc_guard``); the modules after
    the GUI tests get Python's own back."""
    yield
    stop_collecting_on_gui_thread()


@pytest.fixture(autouse=True)
def modal_watchdog(qapp) -> Iterator[None]:
    """Reject any modal dialog left up for seconds (nobody will answer it) and fail the test."""
    stray: list[str] = []
    since: dict[int, float] = {}

    def check() -> None:
        modal = QApplication.activeModalWidget()
        if modal is None:
            since.clear()
            return
        first = since.setdefault(id(modal), time.monotonic())
        if time.monotonic() - first > MODAL_PATIENCE_S:
            stray.append(f"{type(modal).__name__}: {getattr(modal, 'text', modal.windowTitle)()}")
            modal.reject()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(250)
    yield
    timer.stop()
    assert not stray, f"modal dialogs nobody answered: {stray}"


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot) -> Iterator[WindowFactory]:
    """Shown, exposed windows, closed at the end with their unsaved edits dropped (no prompt)."""
    made: list[MainWindow] = []

    def make(path: Path | None = None, offer_recovery: bool = False) -> MainWindow:
        window = create_window(path, offer_recovery=offer_recovery)
        made.append(window)
        window.show()
        qtbot.waitExposed(window)
        window.canvas.fit()
        return window

    yield make
    for window in made:
        if window.document is not None:
            window.toolbox.finish()
            window.document.mark_saved()
        window.close()
        window.deleteLater()
