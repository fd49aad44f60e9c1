"""The image view: the photo with label layers on top, pan and zoom to the cursor.

Layers are QGraphicsItems that paint numpy-backed QImages; after an edit only the changed
box is re-indexed and repainted (``LabelLayer.refresh(box)``), never the whole image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from segstudio.core.box import Box
from segstudio.core.palette import Palette
from segstudio.gui.overlay import color_table, display_lut, reindex
from segstudio.gui.qimage import ArrayImage, indexed_image, rgb_image

ZOOM_STEP = 1.25


class LabelLayer(QGraphicsItem):
    """A category map drawn as an Indexed8 overlay with the palette's colours and an opacity."""

    def __init__(self, category: np.ndarray, palette: Palette, opacity: float = 0.5) -> None:
        super().__init__()
        self._category = category
        self._palette = palette
        self._opacity = opacity
        self._lut = display_lut(palette)
        self._index = np.empty(category.shape, np.uint8)
        reindex(category, self._lut, self._index)
        self._image: ArrayImage = indexed_image(self._index, color_table(palette, opacity))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    @property
    def layer_opacity(self) -> float:
        return self._opacity

    def set_layer_opacity(self, opacity: float) -> None:
        """Change opacity by swapping the 256-entry colour table; pixels stay as they are."""
        self._opacity = opacity
        self._image.image.setColorTable(color_table(self._palette, opacity))
        self.update()

    def set_palette(self, palette: Palette) -> None:
        self._palette = palette
        self._lut = display_lut(palette)
        reindex(self._category, self._lut, self._index)
        self._image.image.setColorTable(color_table(palette, self._opacity))
        self.update()

    def refresh(self, box: Box) -> None:
        """Re-index and repaint only ``box`` after the category map changed there."""
        box = box.clip(self._category.shape)
        if box.is_empty:
            return
        reindex(self._category, self._lut, self._index, box)
        self.update(QRectF(box.left, box.top, box.width, box.height))

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        height, width = self._category.shape
        return QRectF(0, 0, width, height)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        exposed = option.exposedRect.intersected(self.boundingRect()).toAlignedRect()
        painter.drawImage(exposed, self._image.image, exposed)


class Canvas(QGraphicsView):
    """Shows one image and its label layers; wheel zooms around the cursor, drag pans."""

    cursor_moved = Signal(int, int)
    """Image pixel (x, y) under the mouse, or (-1, -1) outside the image."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setMouseTracking(True)
        self.setBackgroundBrush(Qt.GlobalColor.darkGray)
        self._photo: QGraphicsPixmapItem | None = None
        self._photo_source: ArrayImage | None = None
        self.layers: dict[str, LabelLayer] = {}

    def set_image(self, rgb: np.ndarray) -> None:
        """Show a new photo; removes the label layers of the previous one."""
        self.scene().clear()
        self.layers.clear()
        self._photo_source = rgb_image(rgb)
        self._photo = self.scene().addPixmap(QPixmap.fromImage(self._photo_source.image))
        self._photo.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.scene().setSceneRect(self._photo.boundingRect())

    def add_layer(self, name: str, layer: LabelLayer) -> LabelLayer:
        if name in self.layers:
            self.scene().removeItem(self.layers[name])
        layer.setZValue(1 + len(self.layers))
        self.scene().addItem(layer)
        self.layers[name] = layer
        return layer

    def fit(self) -> None:
        """Zoom so the whole image is visible."""
        if self._photo is not None:
            self.fitInView(self._photo, Qt.AspectRatioMode.KeepAspectRatio)

    def actual_size(self) -> None:
        """Zoom to one image pixel per screen pixel."""
        self.resetTransform()

    def zoom(self, factor: float) -> None:
        self.scale(factor, factor)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(ZOOM_STEP**steps)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        super().mouseMoveEvent(event)
        point: QPointF = self.mapToScene(event.position().toPoint())
        x, y = int(np.floor(point.x())), int(np.floor(point.y()))
        rect = self.sceneRect()
        if 0 <= x < rect.width() and 0 <= y < rect.height():
            self.cursor_moved.emit(x, y)
        else:
            self.cursor_moved.emit(-1, -1)
