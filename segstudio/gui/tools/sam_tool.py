"""Click to segment (SAM 2.1): clicks and a dragged box are prompts, the mask is previewed after each.

Left click adds a positive point, right click or Alt+click a negative one, a drag sets the box;
Ctrl+click on an object of the prediction refines that object alone with SAM (its box as the
prompt; the refined prediction is saved as the image's prediction).
Each change asks the model half (``SamService``, on the worker) for the mask of all the prompts so
far; an answer older than the latest question, or for an image left meanwhile, is dropped. Enter
writes the mask as one undo step: a new object of a thing class, or the region of a stuff class,
never over pixels a person labelled (unless Shift+Enter; the "only unlabelled" lock still holds).
Esc clears the prompts. Right clicks and Shift+Enter reach the tool through an event filter on
the canvas, which sends tools only left presses and plain keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsView

from segstudio.core.box import Box
from segstudio.core.edits import Point, Protect
from segstudio.core.prompts import PromptPoint, Prompts
from segstudio.gui.document.document import Document
from segstudio.gui.tools.tools import Tool, paint_mask

if TYPE_CHECKING:
    from segstudio.gui.tools.toolbox import ToolBox

DRAG_PIXELS = 4.0
"""A press and release further apart than this (image pixels) is a box, else a click."""
PREVIEW_Z = 99.0
MARK_RADIUS = 3.0


class SamService(Protocol):
    """The model half of the tool (``gui.modelling.sam_jobs.SamJobs``)."""

    def prefetch(self, image_id: str, rgb: np.ndarray, failed: Callable[[str], None]) -> None: ...

    def predict(
        self,
        image_id: str,
        rgb: np.ndarray,
        prompts: Prompts,
        done: Callable[[np.ndarray, float, object], None],
        failed: Callable[[str], None],
        shape: Callable[[np.ndarray], object] = lambda mask: None,
    ) -> None: ...

    def cancel(self) -> None: ...

    def refine(self, document: Document, thing_ids: Collection[int], instance: int | None = None) -> None: ...


class ClickSegment(Tool):
    """Prompts in, SAM's mask out; Enter commits it."""

    name = "click to segment"

    def __init__(self, toolbox: ToolBox, service: SamService) -> None:
        super().__init__(toolbox)
        self.service = service
        self.prompts = Prompts()
        self.mask: np.ndarray | None = None
        """The latest answer's mask (the image's size), shown as the preview."""
        self._outline = QPainterPath()
        """``mask``'s outline, made on the worker with the answer (``mask_outline``)."""
        self._asked = self._answered = 0
        self._start: Point | None = None
        self._negative = False
        self._preview = QGraphicsPathItem()
        self._preview.setZValue(PREVIEW_Z)
        pen = QPen(QColor(80, 255, 120), 0)
        pen.setCosmetic(True)
        self._preview.setPen(pen)
        self._preview.setBrush(QBrush(QColor(80, 255, 120, 70)))
        toolbox.preview.scene.addItem(self._preview)
        self._filter = _CanvasEvents(self)
        for view in toolbox.preview.scene.views():
            view.viewport().installEventFilter(self._filter)
            view.installEventFilter(self._filter)

    @property
    def active(self) -> bool:
        return self.toolbox.active is self and self.toolbox.document is not None

    @property
    def waiting(self) -> bool:
        """A question is out that has not been answered yet."""
        return self._answered < self._asked

    def press(self, point: Point) -> None:
        if self.toolbox.modifiers & Qt.KeyboardModifier.ControlModifier:
            self.refine_at(point)
            return
        self._start = point
        self._negative = bool(self.toolbox.modifiers & Qt.KeyboardModifier.AltModifier)
        self.service.prefetch(self.document.image_id, self.document.rgb, self._failed)

    def move(self, point: Point, dragging: bool) -> None:
        if self._start is not None and dragging and _distance(self._start, point) > DRAG_PIXELS:
            (x0, y0), (x1, y1) = self._start, point
            self.toolbox.preview.show_outline([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], closed=True)

    def release(self, point: Point) -> None:
        start, self._start = self._start, None
        if start is None:
            return
        self.toolbox.preview.clear_outline()
        height, width = self.document.shape
        if _distance(start, point) > DRAG_PIXELS:
            x0, y0 = _inside(start, width, height)
            x1, y1 = _inside(point, width, height)
            if abs(x1 - x0) >= 1 and abs(y1 - y0) >= 1:
                self._ask(self.prompts.with_box(x0, y0, x1, y1))
            return
        x, y = _inside(point, width, height)
        self._ask(self.prompts.with_point(PromptPoint(x, y, positive=not self._negative)))

    def refine_at(self, point: Point) -> None:
        """Ctrl+click: Refine with SAM the prediction's object under ``point`` (of a thing class)."""
        document, x, y = self.document, int(point[0]), int(point[1])
        prediction = document.prediction
        height, width = document.shape
        if prediction is None or not (0 <= x < width and 0 <= y < height):
            self.toolbox.message.emit("Click to segment: Ctrl+click an object of the prediction to refine it")
            return
        instance = int(prediction.instance[y, x])
        if not instance:
            self.toolbox.message.emit("Click to segment: no object of the prediction there to refine")
            return
        self.service.refine(document, self.toolbox.palette.thing_ids, instance)

    def add_negative(self, point: Point) -> None:
        """A right click: remove what is under it."""
        height, width = self.document.shape
        x, y = _inside(point, width, height)
        self._ask(self.prompts.with_point(PromptPoint(x, y, positive=False)))

    def key(self, key: int) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.commit()
            return True
        if key == Qt.Key.Key_Escape:
            self.clear()
            return True
        return False

    def commit(self, over_human: bool = False) -> None:
        """Write the previewed mask as one undo step (the current class; a new object of a thing)."""
        if self.mask is None or self.waiting:
            self.toolbox.message.emit(
                "Click to segment: wait for the mask"
                if self.waiting
                else "Click to segment: click an object first"
            )
            return
        document, mask, s = self.document, self.mask, self.settings
        area = Box.of_mask(mask)
        if area.is_empty:
            self.toolbox.message.emit("Click to segment: the mask is empty; add a positive click")
            return
        start = next(((p.x, p.y) for p in self.prompts.points if p.positive), (area.left, area.top))
        self.toolbox.begin_object(start, outline=True)  # always a new object of a thing class
        protect = s.protect if (over_human or s.only_unlabelled) else Protect.HUMAN
        paint_mask(document, area, mask[area.slices], s.label, protect, "Click to segment")
        self.toolbox.end_object()
        self.clear()

    def clear(self) -> None:
        """Forget the prompts and the preview (Esc, a commit, another image or tool)."""
        self.prompts, self.mask, self._start = Prompts(), None, None
        self._outline = QPainterPath()
        self._answered = self._asked
        self._preview.setVisible(False)
        self.toolbox.preview.clear_outline()

    def cancel(self) -> None:
        self.clear()
        self.service.cancel()

    def _ask(self, prompts: Prompts) -> None:
        self.prompts = prompts
        self._asked += 1
        asked, document = self._asked, self.document
        self._show()
        _array_path()  # imported here, on the GUI thread, before the worker builds an outline
        self.service.predict(
            document.image_id,
            document.rgb,
            prompts,
            lambda mask, score, outline: self._answer(document, asked, mask, score, outline),
            self._failed,
            mask_outline,
        )

    def _answer(
        self, document: Document, asked: int, mask: np.ndarray, score: float, outline: object
    ) -> None:
        if document is not self.toolbox.document or asked != self._asked:
            return  # another image, or a newer question is out
        self._answered = asked
        self.mask = mask
        self._outline = outline if isinstance(outline, QPainterPath) else mask_outline(mask)
        self._show()
        self.toolbox.message.emit(
            f"Click to segment: {int(mask.sum())} pixels (score {score:.2f}); Enter keeps it"
        )

    def _failed(self, text: str) -> None:
        self._answered = self._asked
        self.toolbox.message.emit(f"Click to segment: {text}")

    def _show(self) -> None:
        """The mask's outline, filled, and a mark at each click (+ filled, - hollow)."""
        path = QPainterPath(self._outline) if self.mask is not None else QPainterPath()
        for p in self.prompts.points:
            path.addEllipse(QPointF(p.x, p.y), MARK_RADIUS, MARK_RADIUS)
        if self.prompts.box is not None:
            x0, y0, x1, y1 = self.prompts.box
            path.addRect(x0, y0, x1 - x0, y1 - y0)
        self._preview.setPath(path)
        self._preview.setVisible(not path.isEmpty())


class _CanvasEvents(QObject):
    """Right clicks and Shift+Enter on the canvas, for the tool while it is chosen."""

    def __init__(self, tool: ClickSegment) -> None:
        super().__init__(tool.toolbox)
        self._tool = tool

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        tool = self._tool
        if not tool.active:
            return False
        pressed = event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent)
        if pressed and event.button() == Qt.MouseButton.RightButton:  # type: ignore[attr-defined]
            view = watched.parent()
            if isinstance(view, QGraphicsView):
                scene = view.mapToScene(event.position().toPoint())  # type: ignore[attr-defined]
                tool.add_negative((scene.x(), scene.y()))
                return True
        if event.type() == QEvent.Type.ContextMenu:
            return True  # the right click was a prompt
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            shifted = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            if shifted and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                tool.commit(over_human=True)
                return True
        return False


def mask_outline(mask: np.ndarray) -> QPainterPath:
    """The outlines of a mask's regions and holes as one path (odd-even filled). Run on the worker
    with each answer: at 12 MP a blobby mask has ~60k outline points, which took the GUI thread
    ~0.8 s point by point; OpenCV traces them and pyqtgraph builds the path from arrays."""
    contours, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return QPainterPath()
    closed = [np.concatenate([c[:, 0, :], c[:1, 0, :]]) for c in contours]
    points = np.concatenate(closed).astype(np.float64)
    connect = np.ones(len(points), bool)
    connect[np.cumsum([len(c) for c in closed]) - 1] = False  # no line from one outline to the next
    return _array_path()(points[:, 0], points[:, 1], connect=connect)


def _array_path() -> Callable[..., QPainterPath]:
    """pyqtgraph's ``arrayToQPath``, imported at the first question: pyqtgraph takes a few hundred
    milliseconds to import, which start-up need not pay for a tool not yet used."""
    import pyqtgraph as pg

    return pg.arrayToQPath


def _distance(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _inside(point: Point, width: int, height: int) -> tuple[float, float]:
    """A point clamped onto the image (a drag may end beyond its edge)."""
    return min(max(point[0], 0.0), float(width)), min(max(point[1], 0.0), float(height))
