"""The layers dock: visibility and opacity of the image and each overlay.

It writes the canvas's per-layer state, which outlives image switches; layers the current image
lacks (no prediction: no prediction and no disagreement) are greyed out.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QGridLayout, QSlider, QWidget

from segstudio.gui.canvas.canvas import Canvas
from segstudio.gui.canvas.layers import LAYER_NAMES


class LayersPanel(QWidget):
    """One row per layer: a visibility check box and an opacity slider (0-100 %)."""

    def __init__(self, canvas: Canvas, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.visible: dict[str, QCheckBox] = {}
        self.opacity: dict[str, QSlider] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        for row, name in enumerate(reversed(LAYER_NAMES)):  # top layer first, as drawn
            state = canvas.states[name]
            check = QCheckBox(name)
            check.setChecked(state.visible)
            check.toggled.connect(lambda on, n=name: self.canvas.set_layer_visible(n, on))
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setValue(round(state.opacity * 100))
            slider.setToolTip(f"Opacity of {name}")
            slider.setMinimumWidth(60)
            slider.valueChanged.connect(lambda value, n=name: self.canvas.set_layer_opacity(n, value / 100))
            grid.addWidget(check, row, 0)
            grid.addWidget(slider, row, 1)
            self.visible[name], self.opacity[name] = check, slider
        self.background = QCheckBox("Draw the background class")
        self.background.setToolTip(
            "Colour background classes (VOC's background, labelme's _background_) in the ground truth "
            "and prediction; off, the photo shows through there, as through unlabelled pixels"
        )
        self.background.setChecked(canvas.show_background)
        self.background.toggled.connect(canvas.set_show_background)
        grid.addWidget(self.background, len(LAYER_NAMES), 0, 1, 2)
        grid.setRowStretch(len(LAYER_NAMES) + 1, 1)
        canvas.layers_changed.connect(lambda: self.set_available(self.canvas.layers))

    def set_available(self, names: Iterable[str]) -> None:
        """Enable the rows of the layers the current image has."""
        present = set(names)
        for name in LAYER_NAMES:
            enabled = name in present
            self.visible[name].setEnabled(enabled)
            self.opacity[name].setEnabled(enabled)
            self.visible[name].setToolTip("" if enabled else "Not available: this image has no prediction")
