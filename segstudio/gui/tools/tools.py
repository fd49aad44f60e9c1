"""Mouse and keyboard -> ``core.edits`` calls: brush, eraser, polygon, label fill, colour fill
(magic wand), GrabCut box, picker, superpixel brush.

Tools are small classes with ``press / move / release`` (and ``double_click``, ``key``) in image
coordinates. Each mouse press to release is one stroke, i.e. one undo step; a brush mouse-move
applies only the new segment from the previous sample, so only its box is written and repainted.
The tool box (``gui.tools.toolbox``) holds the shared settings (class, instance, brush radius, the
"only unlabelled" lock) and forwards the canvas's events to the active tool. Which object a
stroke of a thing class writes follows ``core.instance_choice``: a new one unless it touches one
(brush, superpixels, fill), N for a new one anyway, the picker or Ctrl to continue one. The fills
and box-to-mask do their whole-image or slow part on the worker and write band by band.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt

from segstudio.core.box import Box
from segstudio.core.colour_fill import DEFAULT_TOLERANCE, similar_colour_region
from segstudio.core.edits import (
    Label,
    Point,
    Protect,
    Recorder,
    apply_mask,
    brush_stroke,
    erase_stroke,
    fill_polygon,
    fill_region,
    grabcut_foreground,
    pixel_of,
)
from segstudio.core.instance_choice import InstanceMode, joined_instance, touching_instances
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.superpixels import paint_superpixels
from segstudio.gui.canvas.superpixel_layer import SuperpixelLayer
from segstudio.gui.document.document import Document
from segstudio.gui.threads.job_client import Handlers
from segstudio.gui.threads.worker import Job, Priority

if TYPE_CHECKING:
    from segstudio.gui.tools.toolbox import ToolBox


@dataclass
class ToolSettings:
    """What the next stroke writes and how."""

    category: int
    instance: int = 0
    """The current object of a thing class: the last one written or picked (0: none yet)."""
    mode: InstanceMode = InstanceMode.AUTO
    """How the next object of a thing class gets its instance (see ``core.instance_choice``)."""
    radius: float = 8.0
    tolerance: int = DEFAULT_TOLERANCE
    """The colour fill's bound on each channel's difference from the clicked colour (0..255)."""
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

    def __init__(self, toolbox: ToolBox) -> None:
        self.toolbox = toolbox
        self._requests = 0
        """Worker jobs asked for so far (their keys)."""

    @property
    def document(self) -> Document:
        assert self.toolbox.document is not None
        return self.toolbox.document

    @property
    def settings(self) -> ToolSettings:
        return self.toolbox.settings

    def press(self, point: Point) -> None: ...

    def move(self, point: Point, dragging: bool) -> None: ...

    def release(self, point: Point) -> None: ...

    def double_click(self, point: Point) -> None:
        """The second click of a double click; the first one already arrived as a press."""

    def key(self, key: int) -> bool:
        return False

    def size_text(self) -> str:
        """What [ and ] change for this tool, for the status bar."""
        return f"r {round(self.settings.radius, 1):g}"

    def cancel(self) -> None:
        """Finish or drop whatever is in progress (tool switch, image switch, undo)."""

    def run_on_worker(
        self, kind: str, title: str, work: Callable[[], object], done: Callable[[object], None]
    ) -> None:
        """Run ``work`` as an interactive job of its own (every click counts: none supersedes
        another); ``done`` gets its result on the GUI thread, failures reach the status bar."""
        jobs = self.toolbox.jobs
        self._requests += 1
        self.toolbox.message.emit(f"{title}…")
        jobs.submit(
            Job(
                kind,
                f"{self.document.image_id}#{self._requests}",
                lambda context: work(),
                Priority.INTERACTIVE,
                title,
            ),
            Handlers(done=done, failed=lambda text: self.toolbox.message.emit(f"{title}: {text}")),
        )


class StrokeTool(Tool):
    """Brush-like: press starts a stroke, each move paints the segment from the last sample."""

    shows_brush = True
    writes_class = True
    """False for the eraser: it writes VOID, so it needs no instance id."""

    def __init__(self, toolbox: ToolBox) -> None:
        super().__init__(toolbox)
        self._last: Point | None = None
        self._changed = Box.empty()
        self._provisional = False
        """The stroke writes a fresh id that becomes the object it touches, if any, at the end."""
        self._object = (0, 0)
        """(class, instance) the stroke began writing."""
        self._start_instance = 0

    def _paint(self, labels: LabelMap, points: Sequence[Point], recorder: Recorder) -> Box:
        raise NotImplementedError

    def _segment(self, points: Sequence[Point]) -> None:
        box = self.document.edit(lambda labels, recorder: self._paint(labels, points, recorder))
        self._changed = self._changed.union(box)

    def _begin(self, point: Point) -> None:
        """Choose the stroke's object and open its undo step."""
        self._changed = Box.empty()
        self._provisional = False
        if self.writes_class:
            self._start_instance = self.toolbox.instance_at(point)
            self._provisional = self.toolbox.begin_object(point, join=self.toolbox.join_held)
        self._object = self.settings.label
        self.document.begin_stroke()

    def _end(self) -> None:
        """Close the undo step; a provisional id becomes the object the stroke touched, if any."""
        if self._provisional and not self._changed.is_empty:
            (category, provisional), box = self._object, self._changed
            window = box.slices
            labels = self.document.labels
            mine = (labels.category[window] == category) & (labels.instance[window] == provisional)
            contacts = touching_instances(labels, box, mine, category, exclude=provisional)
            target = joined_instance(contacts, self._start_instance)
            if target:
                value = (category, target)
                self.document.edit(
                    lambda labels, recorder: apply_mask(
                        labels, box, mine, value, Provenance.HUMAN, Protect.NONE, recorder
                    )
                )
                if self.settings.category == category:  # not when the class changed mid-stroke
                    self.settings.instance = target
                    self.toolbox.settings_changed.emit()
        self.document.end_stroke()
        if self.writes_class:
            self.toolbox.end_object()

    def press(self, point: Point) -> None:
        self.cancel()  # a press whose release never came (focus lost mid-drag) ends there
        self._begin(point)
        self._last = point
        self._segment([point])

    def move(self, point: Point, dragging: bool) -> None:
        if self._last is None or not dragging or pixel_of(point) == pixel_of(self._last):
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

    def __init__(self, toolbox: ToolBox) -> None:
        super().__init__(toolbox)
        self.layer = SuperpixelLayer(toolbox.preview.scene)
        self._painted: set[int] = set()
        toolbox.tool_changed.connect(self._show_boundaries)
        toolbox.document_changed.connect(self._show_boundaries)

    def _show_boundaries(self, *_: object) -> None:
        active = self.toolbox.active is self
        self.layer.show(self.toolbox.document if active else None, self.toolbox.jobs)

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

    def __init__(self, toolbox: ToolBox) -> None:
        super().__init__(toolbox)
        self.vertices: list[Point] = []
        self._join = False

    def _add(self, point: Point) -> None:
        if not self.vertices or pixel_of(point) != pixel_of(self.vertices[-1]):
            self.vertices.append(point)
        self.toolbox.preview.show_outline(self.vertices)

    def move(self, point: Point, dragging: bool) -> None:
        if self.vertices:
            self.toolbox.preview.show_outline([*self.vertices, point], closed=True)

    def double_click(self, point: Point) -> None:
        self.press(point)
        self.close()

    def press(self, point: Point) -> None:
        if not self.vertices:
            self._join = self.toolbox.join_held  # Ctrl at the first corner: into the object under it
        self._add(point)

    def key(self, key: int) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.vertices:
            self.close()
        elif key == Qt.Key.Key_Escape and self.vertices:
            self.cancel()
        elif key == Qt.Key.Key_Backspace and self.vertices:
            self.vertices.pop()
            self.toolbox.preview.show_outline(self.vertices)
        else:
            return False
        return True

    def close(self) -> None:
        """Fill the polygon (when it has three distinct corners) as one undo step."""
        vertices, s = list(self.vertices), self.settings
        self.cancel()
        if len({pixel_of(v) for v in vertices}) < 3:
            return
        self.toolbox.begin_object(vertices[0], join=self._join, outline=True)
        self.document.apply(
            lambda labels, recorder: fill_polygon(
                labels, vertices, s.label, protect=s.protect, recorder=recorder
            )
        )
        self.toolbox.end_object()

    def cancel(self) -> None:
        self.vertices.clear()
        self.toolbox.preview.clear_outline()


@dataclass(frozen=True)
class FillRequest:
    """A fill click: where, which class, and what the object choice needs from the moment of the click."""

    point: Point
    category: int
    start: int
    """The instance of the class under the click (0: none)."""
    join: bool
    """Ctrl was held."""
    tolerance: int = DEFAULT_TOLERANCE
    """The colour fill's per-channel tolerance (the label fill has none)."""


FillResult = tuple[Box, np.ndarray, dict[int, int]]
"""A fill region's box, its mask over the box, and the objects of the class it touches."""


def _with_contacts(labels: LabelMap, box: Box, region: np.ndarray, category: int) -> FillResult:
    contacts = touching_instances(labels, box, region, category) if not box.is_empty else {}
    return box, region, contacts


def find_fill(labels: LabelMap, point: Point, category: int) -> FillResult:
    """The label fill's region under ``point`` and the objects of ``category`` it touches (reads
    only; runs on the worker on a snapshot)."""
    return _with_contacts(labels, *fill_region(labels, point), category)


def find_colour_fill(
    rgb: np.ndarray, labels: LabelMap, point: Point, category: int, tolerance: int
) -> FillResult:
    """The colour fill's region (``core.colour_fill``) and the objects of ``category`` it touches."""
    return _with_contacts(labels, *similar_colour_region(rgb, point, tolerance), category)


def paint_mask(
    document: Document,
    box: Box,
    mask: np.ndarray,
    label: Label,
    protect: Protect,
    title: str,
    done: Callable[[Box], None] | None = None,
) -> None:
    """Write ``label`` where ``mask`` (over ``box``) is set as one undo step, band by band."""

    def band_edit(labels: LabelMap, recorder: Recorder, band: Box) -> Box:
        inside = mask[band.shift(-box.top, -box.left).slices]
        return apply_mask(labels, band, inside, label, Provenance.HUMAN, protect, recorder)

    document.apply_in_bands(box, band_edit, title, done)


class Fill(Tool):
    """Label fill: the connected region of equal labels (class and object) under the click. The
    region is found on the worker (a whole-image pass) and written band by band."""

    name = "label fill"
    title = "Label fill"
    unchanged = "the region already has this label, or the unlabelled-only lock keeps it"

    def press(self, point: Point) -> None:
        s, document = self.settings, self.document
        request = FillRequest(
            point, s.category, self.toolbox.instance_at(point), self.toolbox.join_held, s.tolerance
        )
        self._find(document, request)

    def _region(self, document: Document, labels: LabelMap, request: FillRequest) -> FillResult:
        """The region to fill (on the worker, from a snapshot of the labels)."""
        return find_fill(labels, request.point, request.category)

    def _find(self, document: Document, request: FillRequest) -> None:
        labels, revision = document.labels, document.revision
        height, width = labels.shape
        snapshot = LabelMap(
            labels.category.copy(), labels.instance.copy(), np.zeros((height, width), np.uint8)
        )
        self.run_on_worker(
            self.name,
            self.title,
            lambda: self._region(document, snapshot, request),
            lambda result: self._write(document, revision, request, result),  # type: ignore[arg-type]
        )

    def _write(self, document: Document, revision: int, request: FillRequest, result: FillResult) -> None:
        """The region arrived: write it, unless the image or class changed meanwhile; labels that
        changed meanwhile (another fill landed first) make it look again from the labels as they are."""
        box, region, contacts = result
        s = self.settings
        if self.toolbox.document is not document or box.is_empty:
            return
        if s.category != request.category:
            self.toolbox.message.emit(f"{self.title} dropped: the class changed before the region was found")
            return
        if document.revision != revision:
            self._find(document, request)
            return
        if self.toolbox.begin_object(request.point, join=request.join):
            self.toolbox.join_touched(contacts, request.start)
        paint_mask(document, box, region, s.label, s.protect, self.title, self._filled)
        self.toolbox.end_object()

    def _filled(self, changed: Box) -> None:
        """Say why a fill changed nothing."""
        self.toolbox.message.emit(f"Nothing filled: {self.unchanged}" if changed.is_empty else "")


class ColourFill(Fill):
    """Colour fill (magic wand): the connected pixels whose colour is within the tolerance of the
    clicked pixel's, found on the worker and written band by band like the label fill."""

    name = "colour fill"
    title = "Colour fill"
    unchanged = "those pixels already have this label, or the unlabelled-only lock keeps them"

    def _region(self, document: Document, labels: LabelMap, request: FillRequest) -> FillResult:
        return find_colour_fill(document.rgb, labels, request.point, request.category, request.tolerance)

    def size_text(self) -> str:
        return f"tolerance {self.settings.tolerance}"


class BoxCut(Tool):
    """Drag a box around an object; GrabCut writes its foreground on release."""

    name = "box"

    def __init__(self, toolbox: ToolBox) -> None:
        super().__init__(toolbox)
        self._start: Point | None = None
        self._join = False

    def press(self, point: Point) -> None:
        self._start = point
        self._join = self.toolbox.join_held

    def move(self, point: Point, dragging: bool) -> None:
        if self._start is not None and dragging:
            (x0, y0), (x1, y1) = self._start, point
            self.toolbox.preview.show_outline([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], closed=True)

    def release(self, point: Point) -> None:
        if self._start is None:
            return
        start = self._start
        (x0, y0), (x1, y1) = pixel_of(start), pixel_of(point)
        self.cancel()
        rect = Box(min(y0, y1), min(x0, x1), max(y0, y1) + 1, max(x0, x1) + 1)
        if rect.height < 3 or rect.width < 3:
            return
        s, rgb, document = self.settings, self.document.rgb, self.document
        self.toolbox.begin_object(start, join=self._join, outline=True)
        self.toolbox.end_object()  # the id is reserved now: strokes made while GrabCut runs take others
        label, protect, shape = s.label, s.protect, document.shape
        self.run_on_worker(
            "grabcut",
            "GrabCut",
            lambda: grabcut_foreground(rgb, shape, rect),
            lambda result: self._write(document, result, label, protect),  # type: ignore[arg-type]
        )

    def _write(
        self, document: Document, result: tuple[Box, np.ndarray], label: Label, protect: Protect
    ) -> None:
        """GrabCut's foreground arrived: one undo step, unless the user has moved to another image."""
        crop, foreground = result
        if self.toolbox.document is not document or crop.is_empty:
            return
        paint_mask(
            document, crop, foreground, label, protect, "Box to mask", lambda _: self.toolbox.message.emit("")
        )

    def cancel(self) -> None:
        self._start = None
        self.toolbox.preview.clear_outline()


class Picker(Tool):
    """Take the class and instance under the click (pick an instance to continue painting it)."""

    name = "pick"

    def press(self, point: Point) -> None:
        x, y = pixel_of(point)
        labels = self.document.labels
        height, width = labels.shape
        if 0 <= x < width and 0 <= y < height and labels.category[y, x] != VOID:
            self.toolbox.pick(int(labels.category[y, x]), int(labels.instance[y, x]))


TOOL_CLASSES: tuple[type[Tool], ...] = (
    Brush,
    Eraser,
    SuperpixelBrush,
    Polygon,
    Fill,
    ColourFill,
    BoxCut,
    Picker,
)
"""The label tools, in menu order (the scribble tools are added by their feature)."""
