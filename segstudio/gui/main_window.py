"""The main window: menus, toolbar and status bar around the canvas. Delegates; no domain logic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QSlider, QWidget

from segstudio.core.labels import VOID, LabelMap
from segstudio.core.palette import Palette
from segstudio.gui.canvas import Canvas, LabelLayer

GROUND_TRUTH = "ground truth"

ImageLoader = Callable[[Path], tuple[np.ndarray, LabelMap]]
"""Reads a file into (RGB pixels, labels); raises OSError/ValueError with a message naming the file."""


class MainWindow(QMainWindow):
    """One image with its ground-truth overlay; opacity, fit and 1:1, and a cursor read-out."""

    def __init__(self, palette: Palette, load_image: ImageLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.palette = palette
        self._load_image = load_image
        self.labels: LabelMap | None = None
        self.image_name = ""
        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        self.cursor_label = QLabel("")
        self.statusBar().addPermanentWidget(self.cursor_label)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.opacity_slider.setMaximumWidth(160)
        self.opacity_slider.setToolTip("Label opacity")
        self.opacity_slider.valueChanged.connect(self._set_opacity)
        self._build_actions()
        self.resize(1100, 760)
        self._update_title()

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open image…", self, shortcut=QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_image)
        file_menu.addAction(open_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        view_menu = self.menuBar().addMenu("&View")
        fit_action = QAction("&Fit to window", self, shortcut=QKeySequence("F"))
        fit_action.triggered.connect(self.canvas.fit)
        actual_action = QAction("&Actual size (1:1)", self, shortcut=QKeySequence("1"))
        actual_action.triggered.connect(self.canvas.actual_size)
        view_menu.addActions([fit_action, actual_action])

        toolbar = self.addToolBar("View")
        toolbar.setObjectName("view-toolbar")
        toolbar.addActions([open_action, fit_action, actual_action])
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Opacity "))
        toolbar.addWidget(self.opacity_slider)

    def show_labels(self, name: str, rgb: np.ndarray, labels: LabelMap) -> None:
        """Display an image and its ground truth."""
        if labels.shape != rgb.shape[:2]:
            raise ValueError(f"{name}: labels are {labels.shape}, image is {rgb.shape[:2]}")
        self.image_name = name
        self.labels = labels
        self.canvas.set_image(rgb)
        self.canvas.add_layer(
            GROUND_TRUTH, LabelLayer(labels.category, self.palette, self.opacity_slider.value() / 100)
        )
        self.canvas.fit()
        self._update_title()

    def open_path(self, path: Path) -> bool:
        """Load ``path``; a bad file shows a message box naming it and the window carries on."""
        try:
            rgb, labels = self._load_image(path)
            self.show_labels(path.name, rgb, labels)
        except (OSError, ValueError) as error:
            self.show_error("Cannot open file", str(error))
            return False
        return True

    def show_error(self, title: str, message: str) -> QMessageBox:
        """A window-modal error box that does not block the event loop (work and tests go on)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def _choose_image(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp)"
        )
        if name:
            self.open_path(Path(name))

    def _set_opacity(self, value: int) -> None:
        layer = self.canvas.layers.get(GROUND_TRUTH)
        if layer is not None:
            layer.set_layer_opacity(value / 100)

    def _show_cursor(self, x: int, y: int) -> None:
        if x < 0 or self.labels is None:
            self.cursor_label.setText("")
            return
        category = int(self.labels.category[y, x])
        instance = int(self.labels.instance[y, x])
        if category == VOID:
            name = "void"
        elif category in self.palette:
            name = self.palette[category].name
        else:
            name = f"unknown class {category}"
        text = f"x {x}  y {y}  {name}"
        if instance:
            text += f"  instance {instance}"
        self.cursor_label.setText(text)

    def _update_title(self) -> None:
        title = "segstudio"
        if self.image_name:
            title = f"{self.image_name} — {title}"
        self.setWindowTitle(title)
