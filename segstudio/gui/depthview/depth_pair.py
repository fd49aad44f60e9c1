"""The image's depth map beside the image view, in step with it: zoom, pan and a mirrored cursor.

The depth (uint16 millimetres) is windowed to 8 bits through a 65536-entry lookup table built
from the live dock's own mapping (``depth_worker.depth_index``) and shown as an Indexed8 image
whose colour table is the live dock's colour map, so both views colour a distance alike. The
window defaults to the 2nd-98th percentiles of the image's readings and can be set by hand.

The canvas owns the view geometry: its transform and the scene point at its centre are copied to
the depth view (after every scroll, and whenever the canvas repaints with a different transform;
centres rather than scroll values, because the depth view is a little shorter, under its window
controls). The depth view forwards its wheel to the canvas and pans itself, which the canvas follows.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from segstudio.gui.canvas.canvas import PREVIEW_Z, ZOOM_STEP, Canvas
from segstudio.gui.canvas.qimage import ArrayImage, indexed_image
from segstudio.gui.depthview.depth_view import DEPTH_TABLE
from segstudio.gui.depthview.depth_worker import FAR_MM, NEAR_MM, depth_index
from segstudio.gui.document.document import Document

DEFAULT_PERCENTILES = (2.0, 98.0)
MAX_MM = 65535
_SAMPLE_STEP = 4
"""Percentiles are taken on every 4th row and column: plenty of readings, a sixteenth of the work."""


def default_window(depth: np.ndarray) -> tuple[int, int]:
    """(near, far) millimetres: the 2nd and 98th percentiles of the readings (0 is no reading)."""
    readings = depth[::_SAMPLE_STEP, ::_SAMPLE_STEP]
    readings = readings[readings > 0]
    if readings.size == 0:
        return NEAR_MM, FAR_MM
    near, far = (int(v) for v in np.percentile(readings, DEFAULT_PERCENTILES))
    return near, max(far, near + 1)


def window_lut(near_mm: int, far_mm: int) -> np.ndarray:
    """Colour-map index of every uint16 depth value for the window ``near_mm..far_mm``."""
    return depth_index(np.arange(MAX_MM + 1, dtype=np.uint16), near_mm, max(far_mm, near_mm + 1))


def reading_text(depth: np.ndarray | None, x: int, y: int) -> str:
    """The status-bar reading under pixel (x, y): "depth N mm", "depth –" for no reading, "" without depth."""
    if depth is None or x < 0:
        return ""
    value = int(depth[y, x])
    return f"depth {value} mm" if value else "depth –"


def visible_centre(view: QGraphicsView) -> QPointF:
    """The scene point at the centre of what ``view`` shows."""
    return view.mapToScene(view.viewport().rect()).boundingRect().center()


class Crosshair:
    """Two cosmetic lines across a scene through one pixel's centre."""

    def __init__(self, scene: QGraphicsScene) -> None:
        pen = QPen(QColor(255, 255, 255, 200), 0)
        pen.setCosmetic(True)
        self.lines = (QGraphicsLineItem(), QGraphicsLineItem())
        for line in self.lines:
            line.setPen(pen)
            line.setZValue(PREVIEW_Z + 1)
            line.setVisible(False)
            scene.addItem(line)
        self.scene = scene

    def show_at(self, x: int, y: int) -> None:
        rect = self.scene.sceneRect()
        horizontal, vertical = self.lines
        horizontal.setLine(rect.left(), y + 0.5, rect.right(), y + 0.5)
        vertical.setLine(x + 0.5, rect.top(), x + 0.5, rect.bottom())
        for line in self.lines:
            line.setVisible(True)

    def hide(self) -> None:
        for line in self.lines:
            line.setVisible(False)

    @property
    def position(self) -> tuple[float, float] | None:
        """The pixel centre marked, or None when hidden."""
        horizontal, vertical = self.lines
        if not horizontal.isVisible():
            return None
        return vertical.line().x1(), horizontal.line().y1()


class DepthImageView(QGraphicsView):
    """Shows a depth map through the colour map; pans with a drag, asks the canvas to zoom."""

    cursor_moved = Signal(int, int)
    """Image pixel (x, y) under the mouse, or (-1, -1) outside the image."""
    zoom_requested = Signal(float, QPointF)
    """(factor, scene point under the mouse) from the wheel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setMouseTracking(True)
        self.setBackgroundBrush(Qt.GlobalColor.darkGray)
        self.photo = QGraphicsPixmapItem()
        self.photo.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.scene().addItem(self.photo)
        self.crosshair = Crosshair(self.scene())
        self.depth: np.ndarray | None = None
        self.shown: ArrayImage | None = None
        self._pan_from: QPoint | None = None

    def set_depth(self, depth: np.ndarray | None) -> None:
        """Take ``depth`` (None: nothing), shown once ``set_window`` says how."""
        self.depth, self.shown = depth, None
        self.photo.setPixmap(QPixmap())
        if depth is not None:
            self.scene().setSceneRect(0, 0, depth.shape[1], depth.shape[0])

    def set_window(self, near_mm: int, far_mm: int) -> None:
        if self.depth is None:
            return
        index = np.take(window_lut(near_mm, far_mm), self.depth)
        self.shown = indexed_image(index, DEPTH_TABLE)
        self.photo.setPixmap(QPixmap.fromImage(self.shown.image))

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_requested.emit(ZOOM_STEP**steps, self.mapToScene(event.position().toPoint()))
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        position = event.position().toPoint()
        if self._pan_from is not None:
            delta, self._pan_from = position - self._pan_from, position
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        point = self.mapToScene(position)
        x, y = math.floor(point.x()), math.floor(point.y())
        inside = self.depth is not None and 0 <= x < self.depth.shape[1] and 0 <= y < self.depth.shape[0]
        self.cursor_moved.emit(x if inside else -1, y if inside else -1)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        self.cursor_moved.emit(-1, -1)
        super().leaveEvent(event)


class DepthPane(QWidget):
    """The depth view under a near/far window control."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = DepthImageView(self)
        self.near, self.far = QSpinBox(), QSpinBox()
        for box, tip in ((self.near, "Nearest distance of the colour map"), (self.far, "Farthest distance")):
            box.setRange(0, MAX_MM)
            box.setSingleStep(100)
            box.setSuffix(" mm")
            box.setToolTip(tip)
            box.setKeyboardTracking(False)  # re-window when typing is done, not per digit
            box.valueChanged.connect(self._window_edited)
        self.auto = QPushButton("Auto")
        self.auto.setToolTip("Window the depth to its 2nd-98th percentiles")
        self.auto.clicked.connect(self.reset_window)
        bar = QWidget()
        bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # never widens the pane
        controls = QHBoxLayout(bar)
        controls.setContentsMargins(4, 2, 4, 2)
        for widget in (QLabel("Depth near"), self.near, QLabel("far"), self.far, self.auto):
            controls.addWidget(widget)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(bar)
        layout.addWidget(self.view, 1)

    @property
    def window_mm(self) -> tuple[int, int]:
        return self.near.value(), self.far.value()

    def set_window(self, near_mm: int, far_mm: int) -> None:
        """Set both ends at once (one re-window)."""
        for box, value in ((self.near, near_mm), (self.far, far_mm)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self.view.set_window(near_mm, far_mm)

    def reset_window(self) -> None:
        if self.view.depth is not None:
            self.set_window(*default_window(self.view.depth))

    def show_depth(self, depth: np.ndarray | None) -> None:
        """Show ``depth`` with its default window; hidden when None."""
        self.view.set_depth(depth)
        if depth is None:
            self.hide()
            return
        self.set_window(*default_window(depth))
        self.show()

    def _window_edited(self) -> None:
        near, far = self.window_mm
        self.view.set_window(near, max(far, near + 1))


class DepthPair(QObject):
    """Keeps a :class:`DepthPane` in step with the canvas: geometry, cursor and crosshairs."""

    def __init__(self, canvas: Canvas, pane: DepthPane, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas, self.pane, self.view = canvas, pane, pane.view
        self.canvas_crosshair = Crosshair(canvas.scene())
        self._following = False
        for bar in (canvas.horizontalScrollBar(), canvas.verticalScrollBar()):
            bar.valueChanged.connect(lambda _=0: self.follow_canvas())
        for bar in (self.view.horizontalScrollBar(), self.view.verticalScrollBar()):
            bar.valueChanged.connect(lambda _=0: self._follow_depth())
        canvas.viewport().installEventFilter(self)
        canvas.cursor_moved.connect(self._canvas_cursor)
        self.view.cursor_moved.connect(self._depth_cursor)
        self.view.zoom_requested.connect(self._zoom)

    @property
    def depth(self) -> np.ndarray | None:
        """The depth map shown, or None when the image has none."""
        return self.view.depth

    def show_document(self, document: Document | None) -> None:
        """Show the document's depth beside the image (hidden when it has none)."""
        self.canvas_crosshair.hide()
        self.view.crosshair.hide()
        was_hidden = self.pane.isHidden()
        self.pane.show_depth(None if document is None else document.depth)
        splitter = self.pane.parentWidget()
        if was_hidden and not self.pane.isHidden() and isinstance(splitter, QSplitter):
            splitter.setSizes([1, 1])  # relative weights: halves, whether laid out yet or not
        self.follow_canvas()

    def reading(self, x: int, y: int) -> str:
        """Status-bar text for the depth under image pixel (x, y) ("" when the image has no depth)."""
        return reading_text(self.depth, x, y)

    def follow_canvas(self) -> None:
        """Copy the canvas's transform and scroll position to the depth view."""
        if self._following or self.pane.isHidden():
            return
        self._following = True
        try:
            view, canvas = self.view, self.canvas
            if view.transform() != canvas.transform():
                view.setTransform(canvas.transform())
            view.centerOn(visible_centre(canvas))
        finally:
            self._following = False

    def _follow_depth(self) -> None:
        """The depth view was panned: the canvas follows."""
        if self._following:
            return
        self._following = True
        try:
            self.canvas.centerOn(visible_centre(self.view))
        finally:
            self._following = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        """Canvas viewport: a repaint may follow a zoom or fit; leaving hides the mirror."""
        if event.type() == QEvent.Type.Paint and self.view.transform() != self.canvas.transform():
            self.follow_canvas()
        elif event.type() == QEvent.Type.Leave:
            self.view.crosshair.hide()
        return False

    def _zoom(self, factor: float, at: QPointF) -> None:
        self.canvas.zoom(factor, self.canvas.mapFromScene(at))
        self.follow_canvas()

    def _canvas_cursor(self, x: int, y: int) -> None:
        if x < 0 or self.depth is None:
            self.view.crosshair.hide()
        else:
            self.view.crosshair.show_at(x, y)

    def _depth_cursor(self, x: int, y: int) -> None:
        if x < 0:
            self.canvas_crosshair.hide()
        else:
            self.canvas_crosshair.show_at(x, y)
