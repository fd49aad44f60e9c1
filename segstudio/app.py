"""Composition root: builds the Qt application and the main window and wires their parts.

The only place that knows every layer; the GUI itself never imports torch (the model runner
will be handed to it from here).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from segstudio.core.labels import LabelMap
from segstudio.gui.main_window import MainWindow
from segstudio.io.images import read_rgb
from segstudio.io.samples import load_sample, sample_palette, samples

APPLICATION_NAME = "segstudio"


def load_image_file(path: Path) -> tuple[np.ndarray, LabelMap]:
    """A single image with no labels yet."""
    rgb = read_rgb(path)
    return rgb, LabelMap.empty(*rgb.shape[:2])


def create_window(path: Path | None = None) -> MainWindow:
    """The main window showing ``path``, or the first built-in sample when no path is given."""
    window = MainWindow(sample_palette(), load_image_file)
    if path is not None:
        window.open_path(path)
    else:
        sample = samples()[0]
        rgb, labels = load_sample(sample)
        window.show_labels(sample.name, rgb, labels)
    return window


def qt_application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName(APPLICATION_NAME)
        app.setDesktopFileName("org.segstudio.SegStudio")
    return app  # type: ignore[return-value]


def run(path: Path | None = None, screenshot: Path | None = None, quit_after_ms: int | None = None) -> int:
    """Show the window and run the event loop; with ``screenshot``, render once, save and exit."""
    app = qt_application()
    window = create_window(path)
    window.show()
    if screenshot is not None:
        app.processEvents()
        window.canvas.fit()
        app.processEvents()
        if not window.grab().save(str(screenshot)):
            raise OSError(f"{screenshot}: cannot write the screenshot")
        window.close()
        return 0
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
    return app.exec()
