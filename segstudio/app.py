"""Composition root: builds the Qt application and the main window and wires their parts.

The only place that knows every layer; the GUI itself never imports torch: it gets the model
half from here as a factory (``model_backend``) that its worker calls at the first model job.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication

from segstudio.extras import models_missing
from segstudio.gui.document.projects import sample_project
from segstudio.gui.icons import app_icon
from segstudio.gui.main_window import DEFAULT_SIZE, MainWindow
from segstudio.gui.modelling.model_backend import ModelBackend
from segstudio.gui.settings import user_settings
from segstudio.io.project import ProjectError

APPLICATION_NAME = "segstudio"


def data_dir() -> Path:
    """The per-user data folder (QStandardPaths.AppDataLocation), home of the sample project."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location) if location else Path.home() / f".{APPLICATION_NAME}"


def model_backend() -> ModelBackend:
    """The model half of the window (imports torch): the worker calls this at the first model job."""
    try:
        from segstudio.models.service import ModelService
    except ImportError as error:
        text = models_missing(error)
        raise RuntimeError(text[:1].upper() + text[1:]) from error
    return ModelService()


def create_window(path: Path | None = None, *, offer_recovery: bool = True) -> MainWindow:
    """The main window on ``path`` (project folder, image folder or image), else on the last
    project opened when it still exists, else on the sample project."""
    folder = data_dir()
    window = MainWindow(
        folder, offer_recovery=offer_recovery, model_backend=model_backend, settings=user_settings()
    )
    if path is not None:
        window.open_path(path)
        return window
    last = window.recent.last()
    if last is None or not window.open_path(last):
        try:
            window.open_project(sample_project(folder))
        except (ProjectError, OSError) as error:
            window.show_error("Cannot open the sample project", str(error))
    return window


def qt_application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName(APPLICATION_NAME)
        app.setDesktopFileName("org.segstudio.SegStudio")
        app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def run(path: Path | None = None, screenshot: Path | None = None, quit_after_ms: int | None = None) -> int:
    """Show the window and run the event loop; with ``screenshot``, render once, save and exit."""
    app = qt_application()
    window = create_window(path, offer_recovery=screenshot is None)
    window.show()
    if screenshot is not None:
        window.resize(*DEFAULT_SIZE)  # a grab may exceed the (offscreen) screen
        window.size_docks()
        app.processEvents()
        window.canvas.fit()
        window.iou_panel.refresh()
        app.processEvents()
        if not window.grab().save(str(screenshot)):
            raise OSError(f"{screenshot}: cannot write the screenshot")
        window.close()
        return 0
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
    return app.exec()
