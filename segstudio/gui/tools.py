"""Mouse and keyboard -> ``core.edits`` calls: brush, eraser, polygon, fill, GrabCut box, picker,
superpixel brush.

Tools are small classes with ``press / move / release`` (and ``double_click``, ``key``) in image
coordinates. Each mouse press to release is one stroke, i.e. one undo step; a brush mouse-move
applies only the new segment from the previous sample, so only its box is written and repainted.
The :class:`ToolBox` holds the shared settings (class, instance, brush radius, the
"only unlabelled" lock) and forwards the canvas's events to the active tool.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal

from segstudio.core.box import Box
from segstudio.core.edits import (
    Label,
    Point,
    Protect,
    Recorder,
    apply_mask,
    brush_stroke,
    erase_stroke,
    fill_polygon,
    flood_fill,
    grabcut_box,
    grabcut_foreground,
)
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.palette import Palette
from segstudio.core.superpixels import paint_superpixels
from segstudio.gui.canvas import Preview
from segstudio.gui.document import Document
from segstudio.gui.job_client import Handlers, JobClient
from segstudio.gui.superpixel_layer import SuperpixelLayer
from segstudio.gui.worker import Job, Priority

MIN_RADIUS, MAX_RADIUS = 0.5, 512.0
RADIUS_STEP = 1.25


def _pixel(point: Point) -> tuple[int, int]:
    """(x, y) of the pixel a point falls in."""
    return math.floor(point[0]), math.floor(point[1])


@dataclass
class ToolSettings:
    """What the next stroke writes and how."""

    category: int
    instance: int = 0
    """0 with a thing class: a fresh instance is taken at the next press."""
    radius: float = 8.0
    only_unlabelled: bool = False

    @property
    def protect(self) -> Protect:
        return Protect.LABELLED if self.only_unlabelled else Protect.NONE

    @property
    def label(self) -> Label:
        return self.category, self.instance


class Tool:
    """A tool ignores the events it has no use for."""

    name = ""
    shows_brush = False

    def __init__(self, box: ToolBox) -> None:
        self.box = box

    @property
    def document(self) -> Document:
        assert self.box.document is not None
        return self.box.document

    @property
    def settings(self) -> ToolSettings:
        return self.box.settings

    def press(self, point: Point) -> None: ...

    def move(self, point: Point, dragging: bool) -> None: ...

    def release(self, point: Point) -> None: ...

    def double_click(self, point: Point) -> None:
        """The second click of a double click; the first one already arrived as a press."""

    def key(self, key: int) -> bool:
        return False

    def cancel(self) -> None:
        """Finish or drop whatever is in progress (tool switch, image switch, undo)."""


class StrokeTool(Tool):
    """Brush-like: press starts a stroke, each move paints the segment from the last sample."""

    shows_brush = True
    writes_class = True
    """False for the eraser: it writes VOID, so it needs no instance id."""

    def __init__(self, box: ToolBox) -> None:
        super().__init__(box)
        self._last: Point | None = None

    def _paint(self, labels: LabelMap, points: Sequence[Point], recorder: Recorder) -> Box:
        raise NotImplementedError

    def _segment(self, points: Sequence[Point]) -> None:
        self.document.edit(lambda labels, recorder: self._paint(labels, points, recorder))

    def _begin(self) -> None:
        """Open the stroke's undo step."""
        if self.writes_class:
            self.box.take_instance()
        self.document.begin_stroke()

    def _end(self) -> None:
        self.document.end_stroke()

    def press(self, point: Point) -> None:
        self.cancel()  # a press whose release never came (focus lost mid-drag) ends there
        self._begin()
        self._last = point
        self._segment([point])

    def move(self, point: Point, dragging: bool) -> None:
        if self._last is None or not dragging or _pixel(point) == _pixel(self._last):
            return
        self._segment([self._last, point])
        self._last = point

    def release(self, point: Point) -> None:
        if self._last is None:
            return
        self.move(point, True)
        self._last = None
        self._end()

    def cancel(self) -> None:
        if self._last is not None:
            self._last = None
            self._end()


class Brush(StrokeTool):
    name = "brush"

    def _paint(self, labels: LabelMap, points: Sequence[Point], recorder: Recorder) -> Box:
        s = self.settings
        return brush_stroke(labels, points, s.radius, s.label, protect=s.protect, recorder=recorder)


class Eraser(StrokeTool):
    name = "eraser"
    writes_class = False

    def _paint(self, labels: LabelMap, points: Sequence[Point], recorder: Recorder) -> Box:
        s = self.settings
        return erase_stroke(labels, points, s.radius, protect=s.protect, recorder=recorder)


class SuperpixelBrush(StrokeTool):
    """Every superpixel the brush touches takes the class, whole; its boundaries show while active."""

    name = "superpixel"

    def __init__(self, box: ToolBox) -> None:
        super().__init__(box)
        self.layer = SuperpixelLayer(box.preview.scene)
        self._painted: set[int] = set()
        box.tool_changed.connect(self._show_boundaries)
        box.document_changed.connect(self._show_boundaries)

    def _show_boundaries(self, *_: object) -> None:
        active = self.box.active is self
        self.layer.show(self.box.document if active else None, self.box.jobs)

    def press(self, point: Point) -> None:
        self._painted = set()  # a new stroke may repaint superpixels (e.g. after a class change)
        super().press(point)

    def _paint(self, labels: LabelMap, points: Sequence[Point], recorder: Recorder) -> Box:
        s, superpixels = self.settings, self.layer.of(self.document)
        ids = superpixels.ids_under(points, s.radius) - self._painted
        self._painted |= ids
        return paint_superpixels(labels, superpixels, ids, s.label, protect=s.protect, recorder=recorder)


class Polygon(Tool):
    """Click corners; double-click or Enter fills, Backspace drops the last corner, Esc cancels."""

    name = "polygon"

    def __init__(self, box: ToolBox) -> None:
        super().__init__(box)
        self.vertices: list[Point] = []

    def press(self, point: Point) -> None:
        if not self.vertices or _pixel(point) != _pixel(self.vertices[-1]):
            self.vertices.append(point)
        self.box.preview.show_outline(self.vertices)

    def move(self, point: Point, dragging: bool) -> None:
        if self.vertices:
            self.box.preview.show_outline([*self.vertices, point], closed=True)

    def double_click(self, point: Point) -> None:
        self.press(point)
        self.close()

    def key(self, key: int) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.vertices:
            self.close()
        elif key == Qt.Key.Key_Escape and self.vertices:
            self.cancel()
        elif key == Qt.Key.Key_Backspace and self.vertices:
            self.vertices.pop()
            self.box.preview.show_outline(self.vertices)
        else:
            return False
        return True

    def close(self) -> None:
        """Fill the polygon (when it has three distinct corners) as one undo step."""
        vertices, s = list(self.vertices), self.settings
        self.cancel()
        if len({_pixel(v) for v in vertices}) < 3:
            return
        self.box.take_instance()
        self.document.apply(
            lambda labels, recorder: fill_polygon(
                labels, vertices, s.label, protect=s.protect, recorder=recorder
            )
        )

    def cancel(self) -> None:
        self.vertices.clear()
        self.box.preview.clear_outline()


class Fill(Tool):
    """Flood fill the region of equal labels under the click."""

    name = "fill"

    def press(self, point: Point) -> None:
        s = self.settings
        self.box.take_instance()
        self.document.apply(
            lambda labels, recorder: flood_fill(labels, point, s.label, protect=s.protect, recorder=recorder)
        )


class BoxCut(Tool):
    """Drag a box around an object; GrabCut writes its foreground on release."""

    name = "box"

    def __init__(self, box: ToolBox) -> None:
        super().__init__(box)
        self._start: Point | None = None
        self._requests = 0

    def press(self, point: Point) -> None:
        self._start = point

    def move(self, point: Point, dragging: bool) -> None:
        if self._start is not None and dragging:
            (x0, y0), (x1, y1) = self._start, point
            self.box.preview.show_outline([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], closed=True)

    def release(self, point: Point) -> None:
        if self._start is None:
            return
        (x0, y0), (x1, y1) = _pixel(self._start), _pixel(point)
        self.cancel()
        rect = Box(min(y0, y1), min(x0, x1), max(y0, y1) + 1, max(x0, x1) + 1)
        if rect.height < 3 or rect.width < 3:
            return
        s, rgb, document = self.settings, self.document.rgb, self.document
        self.box.take_instance()
        jobs = self.box.jobs
        if jobs is None:
            try:
                document.apply(
                    lambda labels, recorder: grabcut_box(
                        rgb, labels, rect, s.label, protect=s.protect, recorder=recorder
                    )
                )
            except ValueError as error:
                self.box.message.emit(f"GrabCut: {error}")
            return
        label, protect, shape = s.label, s.protect, document.shape
        self._requests += 1
        self.box.message.emit("GrabCut…")
        jobs.submit(
            Job(
                "grabcut",
                f"{document.image_id}#{self._requests}",  # every box counts: none supersedes another
                lambda context: grabcut_foreground(rgb, shape, rect),
                Priority.INTERACTIVE,
                "GrabCut",
            ),
            Handlers(
                done=lambda result: self._write(document, result, label, protect),
                failed=lambda text: self.box.message.emit(f"GrabCut: {text}"),
            ),
        )

    def _write(
        self, document: Document, result: tuple[Box, np.ndarray], label: Label, protect: Protect
    ) -> None:
        """GrabCut's foreground arrived: one undo step, unless the user has moved to another image."""
        crop, foreground = result
        if self.box.document is not document or crop.is_empty:
            return
        document.apply(
            lambda labels, recorder: apply_mask(
                labels, crop, foreground, label, Provenance.HUMAN, protect, recorder
            )
        )
        self.box.message.emit("")

    def cancel(self) -> None:
        self._start = None
        self.box.preview.clear_outline()


class Picker(Tool):
    """Take the class and instance under the click (pick an instance to continue painting it)."""

    name = "pick"

    def press(self, point: Point) -> None:
        x, y = _pixel(point)
        labels = self.document.labels
        height, width = labels.shape
        if 0 <= x < width and 0 <= y < height and labels.category[y, x] != VOID:
            self.box.set_label(int(labels.category[y, x]), int(labels.instance[y, x]))


TOOL_CLASSES: tuple[type[Tool], ...] = (Brush, Eraser, SuperpixelBrush, Polygon, Fill, BoxCut, Picker)


class ToolBox(QObject):
    """The active tool and shared settings; receives the canvas's events (see ``canvas.ToolSink``)."""

    settings_changed = Signal()
    tool_changed = Signal(str)
    document_changed = Signal()
    message = Signal(str)

    def __init__(self, preview: Preview, palette: Palette, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.preview = preview
        self.palette = palette
        self.document: Document | None = None
        self.jobs: JobClient | None = None
        """Where slow tools (GrabCut) run their work; None runs it on the GUI thread."""
        self.settings = ToolSettings(category=palette.classes[0].id if len(palette) else 0)
        self.tools = {cls.name: cls(self) for cls in TOOL_CLASSES}
        self.active: Tool = self.tools[Brush.name]
        self._hover: Point | None = None

    def add_tools(self, classes: Sequence[type[Tool]]) -> None:
        """Tools beyond ``TOOL_CLASSES``, registered by the feature that owns them (the scribble tools)."""
        self.tools.update({cls.name: cls(self) for cls in classes})

    # -- settings ---------------------------------------------------------------------------------

    def set_tool(self, name: str) -> None:
        self.finish()
        self.active = self.tools[name]
        if not self.active.shows_brush:
            self.preview.hide_brush()
        self.tool_changed.emit(name)

    def set_document(self, document: Document | None) -> None:
        self.finish()
        self.document = document
        self.settings.instance = 0
        self.document_changed.emit()

    def set_palette(self, palette: Palette) -> None:
        """Keep the current class when the palette still has it (its thing flag may have changed)."""
        self.palette = palette
        s = self.settings
        if s.category in palette or not len(palette):
            self.set_label(s.category, s.instance)
        else:
            self.set_label(palette.classes[0].id)

    def set_label(self, category: int, instance: int = 0) -> None:
        """Paint ``category``; for thing classes, continue ``instance`` (0: a new one)."""
        self.settings.category = category
        self.settings.instance = instance if self._is_thing(category) else 0
        self.settings_changed.emit()

    def new_instance(self) -> None:
        """The next stroke starts a new object of the current (thing) class."""
        self.settings.instance = 0
        self.settings_changed.emit()

    def take_instance(self) -> None:
        """Give a thing class a fresh instance id, unique in the image, when it has none yet."""
        s = self.settings
        if self.document is not None and s.instance == 0 and self._is_thing(s.category):
            s.instance = self.document.labels.next_instance()
            self.settings_changed.emit()

    def _is_thing(self, category: int) -> bool:
        return category in self.palette and self.palette[category].isthing

    def set_radius(self, radius: float) -> None:
        self.settings.radius = min(MAX_RADIUS, max(MIN_RADIUS, radius))
        if self.preview.brush_visible and self._hover is not None:
            self.preview.show_brush(self._hover, self.settings.radius)
        self.settings_changed.emit()

    def grow_brush(self) -> None:
        self.set_radius(max(self.settings.radius + 1, self.settings.radius * RADIUS_STEP))

    def shrink_brush(self) -> None:
        self.set_radius(min(self.settings.radius - 1, self.settings.radius / RADIUS_STEP))

    def set_only_unlabelled(self, on: bool) -> None:
        self.settings.only_unlabelled = on
        self.settings_changed.emit()

    def finish(self) -> None:
        """End whatever the active tool has in progress, so undo and switches see whole strokes."""
        if self.document is not None:
            self.active.cancel()

    # -- events from the canvas -------------------------------------------------------------------

    def press(self, point: Point) -> None:
        if self.document is not None:
            self.active.press(point)

    def move(self, point: Point, dragging: bool) -> None:
        self._hover = point
        if self.active.shows_brush:
            self.preview.show_brush(point, self.settings.radius)
        if self.document is not None:
            self.active.move(point, dragging)

    def release(self, point: Point) -> None:
        if self.document is not None:
            self.active.release(point)

    def double_click(self, point: Point) -> None:
        if self.document is not None:
            self.active.double_click(point)

    def key(self, key: int) -> bool:
        return self.document is not None and self.active.key(key)

    def leave(self) -> None:
        self._hover = None
        self.preview.hide_brush()
