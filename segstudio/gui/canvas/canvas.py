"""The image view: the photo with overlay layers, pan and zoom, and mouse routing to the tools.

Left-button events go to the active tool (in image coordinates, the scene's); the middle button
or Space + left drag pans; the wheel zooms around the cursor. After an edit only the changed box
of each overlay is recomputed and repainted (``IndexedLayer.refresh(box)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainterPath,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QLineEdit,
    QWidget,
)

from segstudio.core.box import Box
from segstudio.core.edits import Point
from segstudio.core.history import Replay
from segstudio.core.palette import Palette
from segstudio.gui.canvas.layers import (
    BACKGROUND_LAYERS,
    FOLLOWS_GROUND_TRUTH,
    GROUND_TRUTH,
    IMAGE,
    LAYER_NAMES,
    PREDICTION,
    PREDICTION_LAYERS,
    SCRIBBLES,
    IndexedLayer,
    LabelLayer,
    LayerState,
    default_states,
    document_layers,
)
from segstudio.gui.canvas.overlay_memory import OverlayMemory
from segstudio.gui.canvas.qimage import ArrayImage, rgb_image
from segstudio.gui.document.document import Document

ZOOM_STEP = 1.25
BUILD_PIXELS = 1 << 19
"""A new prediction's overlays are filled this many pixels (whole rows) per event-loop turn."""
PREVIEW_Z = 100.0


class ToolSink(Protocol):
    """What the canvas tells the active tool; points are image (scene) coordinates."""

    def press(self, point: Point, modifiers: Qt.KeyboardModifier = ...) -> None: ...
    def move(self, point: Point, dragging: bool) -> None: ...
    def release(self, point: Point) -> None: ...
    def double_click(self, point: Point) -> None: ...
    def key(self, key: int) -> bool: ...
    def leave(self) -> None: ...


class Preview:
    """Cosmetic outlines drawn over the image for the tools: brush circle, polygon, box."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self.scene = scene
        """Where tools add outlines of their own (superpixel boundaries)."""
        pen = QPen(QColor(255, 255, 255), 0)
        pen.setCosmetic(True)
        self._circle = QGraphicsEllipseItem()
        self._path = QGraphicsPathItem()
        for item in (self._circle, self._path):
            item.setPen(pen)
            item.setBrush(QBrush(Qt.BrushStyle.NoBrush))
            item.setZValue(PREVIEW_Z)
            item.setVisible(False)
            scene.addItem(item)

    def show_brush(self, center: Point, radius: float) -> None:
        """Circle around the pixel under ``center`` covering the brush's reach."""
        x, y = math.floor(center[0]) + 0.5, math.floor(center[1]) + 0.5
        r = max(radius, 0.5) + 0.5
        self._circle.setRect(QRectF(x - r, y - r, 2 * r, 2 * r))
        self._circle.setVisible(True)

    def hide_brush(self) -> None:
        self._circle.setVisible(False)

    @property
    def brush_visible(self) -> bool:
        return self._circle.isVisible()

    def show_outline(self, points: Sequence[Point], closed: bool = False) -> None:
        """A polyline through pixel centres (a polygon in progress, a GrabCut box)."""
        path = QPainterPath()
        for i, (x, y) in enumerate(points):
            p = QPointF(math.floor(x) + 0.5, math.floor(y) + 0.5)
            if i == 0:
                path.moveTo(p)
            else:
                path.lineTo(p)
        if closed:
            path.closeSubpath()
        self._path.setPath(path)
        self._path.setVisible(bool(points))

    def clear_outline(self) -> None:
        self._path.setVisible(False)


class Canvas(QGraphicsView):
    """Shows one document's image and overlays; routes the mouse to ``tool``.

    It shows the scene ``preview`` draws in, so the tool (made with that preview, before the
    canvas) and the canvas are both complete when constructed."""

    cursor_moved = Signal(int, int)
    """Image pixel (x, y) under the mouse, or (-1, -1) outside the image."""
    layers_changed = Signal()
    """The set of overlays changed (a prediction arrived): the layers dock re-enables its rows."""

    def __init__(self, preview: Preview, tool: ToolSink | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = preview
        self.setScene(preview.scene)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom() anchors itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setBackgroundBrush(Qt.GlobalColor.darkGray)
        self.tool = tool
        self.layers: dict[str, QGraphicsItem] = {}
        self.states: dict[str, LayerState] = default_states()
        self.show_background = False
        """Draw background classes in the ground truth and prediction (off: the photo shows there)."""
        self._photo_source: ArrayImage | None = None
        self._document: Document | None = None
        self._building: tuple[dict[str, IndexedLayer], list[Box]] | None = None
        """A new prediction's overlays being filled off-screen, and the row bands still to fill."""
        self._build_timer = QTimer(self)
        self._build_timer.setInterval(0)
        self._build_timer.timeout.connect(self._build_step)
        self.overlay_memory = OverlayMemory()
        """The ground-truth overlays before and after recent undo steps (swapped back on undo/redo)."""
        self._restored: set[str] = set()
        """Layers the running undo or redo put back from memory: its writes need not refresh them."""
        self._pan_from: QPoint | None = None
        self._space_down = False
        self._tool_down = False
        self._fitted = True
        """Keep the whole image in view across resizes until the user zooms or pans."""

    # -- content ----------------------------------------------------------------------------------

    def clear(self) -> None:
        """Show nothing (no image open)."""
        self._building = None
        self._build_timer.stop()
        if self._document is not None:
            self._document.changed.disconnect(self.refresh)
            self._document.prediction_changed.disconnect(self._prediction_changed)
            self._document.scribbles_changed.disconnect(self._scribbles_changed)
            self._document.stroke_ended.disconnect(self._stroke_ended)
            self._document.replaying.disconnect(self._replaying)
            self._document.replayed.disconnect(self._replayed)
            self._document = None
        self.overlay_memory.clear()
        self._restored = set()
        for item in self.layers.values():
            self.scene().removeItem(item)
        self.layers.clear()
        self._photo_source = None

    def set_image(self, rgb: np.ndarray) -> None:
        """Show a new photo; removes the layers of the previous one."""
        self.clear()
        self._photo_source = rgb_image(rgb)
        photo = QGraphicsPixmapItem(QPixmap.fromImage(self._photo_source.image))
        photo.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._add(IMAGE, photo)
        self.scene().setSceneRect(photo.boundingRect())

    def show_document(self, document: Document, palette: Palette) -> None:
        """Show a document's image and overlays, and repaint their changed boxes after each edit.
        The photo shows at once (its screen buffer was made by the loader); the overlays are
        filled ``BUILD_PIXELS`` per event-loop turn, as a new prediction's are (~0.1 s at 12 MP)."""
        self.set_image(document.screen)
        self._document = document
        self._build(document_layers(document, palette, self.show_background, filled=False))
        document.changed.connect(self.refresh)
        document.prediction_changed.connect(self._prediction_changed)
        document.scribbles_changed.connect(self._scribbles_changed)
        document.stroke_ended.connect(self._stroke_ended)
        document.replaying.connect(self._replaying)
        document.replayed.connect(self._replayed)

    def _prediction_changed(self) -> None:
        """Rebuild the overlays that show the prediction; the ground truth's, the outlines and the
        scribbles do not depend on it (rebuilding them cost a 12 MP scribble result ~0.1 s)."""
        document = self._document
        assert document is not None
        palette, only = document.palette, PREDICTION_LAYERS
        self._build(document_layers(document, palette, self.show_background, only=only, filled=False))

    def _build(self, fresh: dict[str, IndexedLayer]) -> None:
        """Fill ``fresh`` overlays off-screen, ``BUILD_PIXELS`` per event-loop turn (the three
        prediction layers took the GUI thread ~40 ms at 12 MP, several times that under load),
        and let them replace the shown ones of their names when whole; a small image's (one band)
        are done within the call, a large one's first band waits for the next turn (the call that
        shows a photo paints it first). Overlays still being built join them (filled again from
        the top)."""
        document = self._document
        assert document is not None
        if self._building is not None:
            fresh = {**self._building[0], **fresh}
        height, width = document.labels.shape
        rows = max(1, BUILD_PIXELS // max(width, 1))
        bands = [Box(top, 0, min(top + rows, height), width) for top in range(0, height, rows)]
        self._building = (fresh, bands if fresh else [])
        if len(bands) <= 1:
            self._build_step()
        if self._building is not None:
            self._build_timer.start()

    def _build_step(self) -> None:
        """Fill the next band of the overlays being built; show them once the last is filled."""
        if self._building is None:
            self._build_timer.stop()
            return
        fresh, bands = self._building
        if bands:
            band = bands.pop(0)
            for layer in fresh.values():
                layer.refresh(band)  # off the scene: fills, repaints nothing
            if bands:
                return
        self._building = None
        self._build_timer.stop()
        for name in [name for name in self.layers if name in fresh or name in PREDICTION_LAYERS]:
            self.scene().removeItem(self.layers.pop(name))
        for name, layer in fresh.items():
            self._add(name, layer)
        self.layers = {name: self.layers[name] for name in LAYER_NAMES if name in self.layers}
        self.layers_changed.emit()

    @property
    def building(self) -> bool:
        """Overlays are being filled (shown when whole)."""
        return self._building is not None

    def finish_layers(self) -> None:
        """Finish building the prediction's overlays now (before their palette or looks change)."""
        while self._building is not None:
            self._build_step()

    def _scribbles_changed(self, box: Box) -> None:
        building = self._building[0] if self._building is not None else {}
        for layer in (self.layers.get(SCRIBBLES), building.get(SCRIBBLES)):
            if isinstance(layer, IndexedLayer):
                layer.refresh(box)

    def _add(self, name: str, item: QGraphicsItem) -> None:
        item.setZValue(LAYER_NAMES.index(name))  # bottom to top, whichever is added when
        self.scene().addItem(item)
        self.layers[name] = item
        self._apply_state(name)

    def _ground_truth_layers(self) -> dict[str, IndexedLayer]:
        """The shown overlays that follow the ground truth (not those being built)."""
        return {
            name: layer
            for name in FOLLOWS_GROUND_TRUTH
            if isinstance(layer := self.layers.get(name), IndexedLayer)
        }

    def refresh(self, box: Box) -> None:
        """Recompute the ground-truth-dependent overlays over ``box`` only (those being built too;
        not those an undo or redo put back from ``overlay_memory``). Inside a stroke, what they
        showed there is saved first, for the step's undo."""
        shown = self._ground_truth_layers()
        if self._document is not None and self._document.in_stroke:
            self.overlay_memory.before_edit(shown, box)
        for name, layer in shown.items():
            if name not in self._restored:
                layer.refresh(box)
        if self._building is not None:
            for name, layer in self._building[0].items():
                if name in FOLLOWS_GROUND_TRUTH:
                    layer.refresh(box)

    def _stroke_ended(self, step: int | None) -> None:
        self.overlay_memory.stroke_ended(step, self._ground_truth_layers())

    def _replaying(self, replay: Replay) -> None:
        self._restored = self.overlay_memory.replay(replay, self._ground_truth_layers())

    def _replayed(self) -> None:
        self._restored = set()

    def set_palette(self, palette: Palette) -> None:
        self.finish_layers()
        for name in (GROUND_TRUTH, PREDICTION, SCRIBBLES):
            layer = self.layers.get(name)
            if isinstance(layer, LabelLayer):
                layer.set_palette(palette)

    def set_show_background(self, on: bool) -> None:
        self.finish_layers()
        self.show_background = on
        for name in BACKGROUND_LAYERS:
            layer = self.layers.get(name)
            if isinstance(layer, LabelLayer):
                layer.set_show_background(on)

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self.states[name].visible = visible
        self._apply_state(name)

    def set_layer_opacity(self, name: str, opacity: float) -> None:
        self.states[name].opacity = opacity
        self._apply_state(name)

    def _apply_state(self, name: str) -> None:
        item, state = self.layers.get(name), self.states[name]
        if item is None:
            return
        item.setVisible(state.visible)
        if isinstance(item, IndexedLayer):
            if item.layer_opacity != state.opacity:
                item.set_layer_opacity(state.opacity)
        else:
            item.setOpacity(state.opacity)

    # -- view -------------------------------------------------------------------------------------

    def fit(self) -> None:
        """Zoom so the whole image is visible (and keep it so when the window is resized)."""
        self._fitted = True
        photo = self.layers.get(IMAGE)
        if photo is not None:
            self.fitInView(photo, Qt.AspectRatioMode.KeepAspectRatio)

    def actual_size(self) -> None:
        """Zoom to one image pixel per screen pixel."""
        self._fitted = False
        self.resetTransform()

    def zoom(self, factor: float, at: QPoint | None = None) -> None:
        """Scale by ``factor`` keeping the image point under viewport point ``at`` (default: centre) still."""
        self._fitted = False
        if at is None:
            at = self.viewport().rect().center()
        anchor = self.mapToScene(at)
        self.scale(factor, factor)
        drift = self.mapFromScene(anchor) - at
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + drift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + drift.y())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(ZOOM_STEP**steps, event.position().toPoint())
        event.accept()

    # -- mouse and keys ---------------------------------------------------------------------------

    def _image_point(self, event: QMouseEvent) -> Point:
        point = self.mapToScene(event.position().toPoint())
        return point.x(), point.y()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._pan_from = event.position().toPoint()
            self._fitted = False
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif button == Qt.MouseButton.LeftButton and self.tool is not None and IMAGE in self.layers:
            self._tool_down = True
            self.tool.press(self._image_point(event), event.modifiers())
        else:
            super().mousePressEvent(event)
            return
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._pan_from is not None:
            position = event.position().toPoint()
            delta, self._pan_from = position - self._pan_from, position
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        point = self._image_point(event)
        x, y = math.floor(point[0]), math.floor(point[1])
        rect = self.sceneRect()
        inside = 0 <= x < rect.width() and 0 <= y < rect.height()
        self.cursor_moved.emit(x if inside else -1, y if inside else -1)
        if self.tool is not None and IMAGE in self.layers:
            self.tool.move(point, self._tool_down)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._pan_from is not None:
            self._pan_from = None
            self._update_hand()
        elif event.button() == Qt.MouseButton.LeftButton and self._tool_down:
            self._tool_down = False
            if self.tool is not None:
                self.tool.release(self._image_point(event))
        else:
            super().mouseReleaseEvent(event)
            return
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.MouseButton.LeftButton and self.tool is not None and IMAGE in self.layers:
            self.tool.double_click(self._image_point(event))
            event.accept()
        else:
            super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = True
                self._update_hand()
            event.accept()
        elif self.tool is not None and self.tool.key(event.key()):
            event.accept()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self._update_hand()
            event.accept()
        else:
            super().keyReleaseEvent(event)

    def _update_hand(self) -> None:
        if self._pan_from is not None:
            return
        if self._space_down:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.viewport().unsetCursor()

    def enterEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        """Take the keyboard on hover (Space to pan, Enter/Esc for polygons) unless text is being typed."""
        if not isinstance(self.window().focusWidget(), QLineEdit):
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        if self.tool is not None:
            self.tool.leave()
        super().leaveEvent(event)

    def focusOutEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        self._space_down = False
        self._update_hand()
        super().focusOutEvent(event)
