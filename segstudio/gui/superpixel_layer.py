"""The open image's superpixels, computed on first use, and their boundaries drawn over the photo.

SLIC runs once per document (about a third of a second on a 12 MP photo, see
``core.superpixels``) and is kept for as long as that document is open. The boundaries are a
0/1 Indexed8 image wrapping a numpy mask, so showing them costs one pixmap upload per image.
"""

from __future__ import annotations

import weakref

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene

from segstudio.core.superpixels import Superpixels, compute_superpixels
from segstudio.gui.canvas import PREVIEW_Z
from segstudio.gui.document import Document
from segstudio.gui.overlay import mask_color_table
from segstudio.gui.qimage import indexed_image

BOUNDARY_COLOR = (255, 255, 255)
BOUNDARY_OPACITY = 0.55


class SuperpixelLayer:
    """Superpixels of one document at a time, and a boundary overlay in ``scene``."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self._document: weakref.ref[Document] | None = None
        self._superpixels: Superpixels | None = None
        self._drawn_for: Superpixels | None = None
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.item.setZValue(PREVIEW_Z - 1)
        self.item.setVisible(False)
        scene.addItem(self.item)

    def of(self, document: Document) -> Superpixels:
        """The document's superpixels, computed on the first call for that document."""
        if self._superpixels is None or self._document is None or self._document() is not document:
            self._superpixels = compute_superpixels(document.rgb)
            self._document = weakref.ref(document)
        return self._superpixels

    def show(self, document: Document | None) -> None:
        """Draw ``document``'s superpixel boundaries; None hides them."""
        if document is None:
            self.item.setVisible(False)
            return
        superpixels = self.of(document)
        if self._drawn_for is not superpixels:
            table = mask_color_table(BOUNDARY_COLOR, BOUNDARY_OPACITY)
            edges = indexed_image(superpixels.boundaries().view(np.uint8), table)
            self.item.setPixmap(QPixmap.fromImage(edges.image))
            self._drawn_for = superpixels
        self.item.setVisible(True)

    @property
    def visible(self) -> bool:
        return self.item.isVisible()
