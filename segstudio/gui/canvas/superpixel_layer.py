"""The open image's superpixels, computed on first use, and their boundaries drawn over the photo.

SLIC runs once per document (about a third of a second on a 12 MP photo, see
``core.superpixels``) and is kept for as long as that document is open. With a job client it runs
on the worker as soon as the tool is chosen, so the GUI thread only computes it itself when the
first stroke comes before the worker's result. The boundaries are a
0/1 Indexed8 image wrapping a numpy mask, so showing them costs one pixmap upload per image.
"""

from __future__ import annotations

import weakref

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene

from segstudio.core.superpixels import Superpixels, compute_superpixels
from segstudio.gui.canvas.canvas import PREVIEW_Z
from segstudio.gui.canvas.overlay import mask_color_table
from segstudio.gui.canvas.qimage import indexed_image
from segstudio.gui.document.document import Document
from segstudio.gui.threads.job_client import Handlers, JobClient
from segstudio.gui.threads.worker import Job, Priority

SUPERPIXELS_KIND = "superpixels"

BOUNDARY_COLOR = (255, 255, 255)
BOUNDARY_OPACITY = 0.55


class SuperpixelLayer:
    """Superpixels of one document at a time, and a boundary overlay in ``scene``."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self._document: weakref.ref[Document] | None = None
        self._superpixels: Superpixels | None = None
        self._drawn_for: Superpixels | None = None
        self._showing: Document | None = None
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.item.setZValue(PREVIEW_Z - 1)
        self.item.setVisible(False)
        scene.addItem(self.item)

    def _ready_for(self, document: Document) -> bool:
        return self._superpixels is not None and self._document is not None and self._document() is document

    def _keep(self, document: Document, superpixels: Superpixels) -> None:
        self._superpixels, self._document = superpixels, weakref.ref(document)

    def of(self, document: Document) -> Superpixels:
        """The document's superpixels, computed here if the worker has not delivered them yet."""
        if not self._ready_for(document):
            self._keep(document, compute_superpixels(document.rgb))
        assert self._superpixels is not None
        return self._superpixels

    def show(self, document: Document | None, jobs: JobClient | None = None) -> None:
        """Draw ``document``'s superpixel boundaries (computing them on ``jobs``' worker); None hides them."""
        self._showing = document
        if document is None:
            self.item.setVisible(False)
            return
        if not self._ready_for(document) and jobs is not None:
            self.item.setVisible(False)  # another image's boundaries must not linger meanwhile
            rgb = document.rgb

            def arrived(superpixels: Superpixels) -> None:
                if not self._ready_for(document):
                    self._keep(document, superpixels)
                if self._showing is document:  # the tool is still active on this image
                    self._draw(superpixels)

            jobs.submit(
                Job(
                    SUPERPIXELS_KIND,
                    document.image_id,
                    lambda context: compute_superpixels(rgb),
                    Priority.INTERACTIVE,
                ),
                Handlers(done=arrived),
            )
            return
        self._draw(self.of(document))

    def _draw(self, superpixels: Superpixels) -> None:
        if self._drawn_for is not superpixels:
            table = mask_color_table(BOUNDARY_COLOR, BOUNDARY_OPACITY)
            edges = indexed_image(superpixels.boundaries().view(np.uint8), table)
            self.item.setPixmap(QPixmap.fromImage(edges.image))
            self._drawn_for = superpixels
        self.item.setVisible(True)

    @property
    def visible(self) -> bool:
        return self.item.isVisible()
