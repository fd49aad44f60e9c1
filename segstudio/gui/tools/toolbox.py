"""The tool box: the active tool, the settings the tools share, and the events the canvas sends.

It holds what the next stroke writes (class, object, brush radius, the "only unlabelled" lock)
and chooses the object a thing class's stroke writes (``core.instance_choice``): fresh ids are
reserved here, so a stroke made while GrabCut runs never takes the id the box will write.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject, Qt, Signal

from segstudio.core.box import Box
from segstudio.core.colour_fill import MAX_TOLERANCE
from segstudio.core.edits import Point, pixel_of
from segstudio.core.instance_choice import InstanceMode, joined_instance
from segstudio.core.palette import Palette
from segstudio.gui.canvas.canvas import Preview
from segstudio.gui.document.document import Document
from segstudio.gui.threads.job_client import JobClient
from segstudio.gui.tools.tools import TOOL_CLASSES, Brush, ColourFill, Tool, ToolSettings

MIN_RADIUS, MAX_RADIUS = 0.5, 512.0
RADIUS_STEP = 1.25
TOLERANCE_STEP = 4
"""What [ and ] add to or take from the colour fill's tolerance."""


class ToolBox(QObject):
    """The active tool and shared settings; receives the canvas's events (see ``canvas.ToolSink``)."""

    settings_changed = Signal()
    tool_changed = Signal(str)
    document_changed = Signal()
    message = Signal(str)

    def __init__(
        self, preview: Preview, palette: Palette, jobs: JobClient, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.preview = preview
        self.palette = palette
        self.document: Document | None = None
        self.jobs = jobs
        """Where slow tools (GrabCut, fill regions, superpixels) run their work: the worker."""
        self.settings = ToolSettings(category=palette.classes[0].id if len(palette) else 0)
        self.tools = {cls.name: cls(self) for cls in TOOL_CLASSES}
        self.active: Tool = self.tools[Brush.name]
        self._hover: Point | None = None
        self.modifiers = Qt.KeyboardModifier.NoModifier
        """The keys held at the latest press (click to segment: Alt for a negative point)."""
        self.join_held = False
        """Ctrl was held at the latest press: that object goes into the object under the cursor."""
        self._issued = 0
        """At least the highest instance id in this image's labels or handed out (GrabCut's is
        written later): the image's maximum when it opens, then raised by each changed box's, so a
        press never scans the whole 12 MP instance map."""

    def add_tools(self, classes: Sequence[type[Tool]]) -> None:
        """Tools beyond ``TOOL_CLASSES``, registered by the feature that owns them (the scribble tools)."""
        self.tools.update({cls.name: cls(self) for cls in classes})

    def add_tool(self, tool: Tool) -> None:
        """A tool built by the feature that owns it, with what it needs (click to segment: its
        SAM service), since the tool box cannot import other features."""
        self.tools[tool.name] = tool

    # -- settings ---------------------------------------------------------------------------------

    def set_tool(self, name: str) -> None:
        self.finish()
        self.active = self.tools[name]
        if not self.active.shows_brush:
            self.preview.hide_brush()
        self.tool_changed.emit(name)

    def set_document(self, document: Document | None) -> None:
        self.finish()
        if self.document is not None:
            self.document.changed.disconnect(self._labels_changed)
        self.document = document
        self.settings.instance, self.settings.mode = 0, InstanceMode.AUTO
        self._issued = 0 if document is None else document.next_instance - 1
        if document is not None:
            document.changed.connect(self._labels_changed)
        self.document_changed.emit()

    def _labels_changed(self, box: Box) -> None:
        if self.document is not None:  # the document keeps its highest instance id box by box
            self._issued = max(self._issued, self.document.next_instance - 1)

    def set_palette(self, palette: Palette) -> None:
        """Keep the current class when the palette still has it (its thing flag may have changed)."""
        self.palette = palette
        s = self.settings
        if s.category in palette or not len(palette):
            self.set_label(s.category, s.instance)
        else:
            self.set_label(palette.classes[0].id)

    def set_label(self, category: int, instance: int = 0) -> None:
        """Paint ``category``; a thing class's objects are chosen as ``core.instance_choice`` says
        (``instance``: the current object, continued with Ctrl)."""
        s = self.settings
        s.category = category
        s.instance = instance if self._is_thing(category) else 0
        s.mode = InstanceMode.AUTO
        self.settings_changed.emit()

    def pick(self, category: int, instance: int) -> None:
        """The picker: paint ``category``, and continue its object ``instance`` until told otherwise."""
        self.set_label(category, instance)
        if self.settings.instance:
            self.settings.mode = InstanceMode.PICKED
            self.settings_changed.emit()

    def new_instance(self) -> None:
        """N: the next object of the current (thing) class is new, whatever it touches."""
        self.settings.mode = InstanceMode.NEW
        self.settings_changed.emit()

    def instance_at(self, point: Point) -> int:
        """The instance of the current class under ``point`` (0: none, or another class there)."""
        if self.document is None:
            return 0
        labels = self.document.labels
        x, y = pixel_of(point)
        height, width = labels.shape
        if not (0 <= x < width and 0 <= y < height) or labels.category[y, x] != self.settings.category:
            return 0
        return int(labels.instance[y, x])

    def fresh_instance(self) -> int:
        """An id no object of the image has, nor one handed out and not yet written (GrabCut)."""
        assert self.document is not None
        self._issued += 1
        return self._issued

    def begin_object(self, start: Point, *, join: bool = False, outline: bool = False) -> bool:
        """Set the instance the object beginning at ``start`` writes; True when it is provisional
        (AUTO brush or fill: it becomes the object it touches, see :meth:`join_touched`).

        ``join`` (Ctrl): the object under ``start``, else the current one. ``outline``: polygons
        and boxes, always new objects in AUTO.
        """
        s = self.settings
        if self.document is None or not self._is_thing(s.category):
            return False
        provisional = False
        if join:
            s.instance = self.instance_at(start) or s.instance or self.fresh_instance()
        elif s.mode is not InstanceMode.PICKED or not s.instance:
            s.instance = self.fresh_instance()
            provisional = s.mode is InstanceMode.AUTO and not outline
        self.settings_changed.emit()
        return provisional

    def join_touched(self, contacts: dict[int, int], start: int) -> None:
        """A provisional object touching ``contacts`` becomes the one it joins (if any)."""
        target = joined_instance(contacts, start)
        if target:
            self.settings.instance = target
            self.settings_changed.emit()

    def end_object(self) -> None:
        """The object is written: N's "new anyway" is used up."""
        if self.settings.mode is InstanceMode.NEW:
            self.settings.mode = InstanceMode.AUTO
            self.settings_changed.emit()

    def _is_thing(self, category: int) -> bool:
        return category in self.palette and self.palette[category].isthing

    def set_radius(self, radius: float) -> None:
        self.settings.radius = min(MAX_RADIUS, max(MIN_RADIUS, radius))
        if self.preview.brush_visible and self._hover is not None:
            self.preview.show_brush(self._hover, self.settings.radius)
        self.settings_changed.emit()

    def grow_brush(self) -> None:
        """]: a bigger brush, or with the colour fill a wider tolerance."""
        if isinstance(self.active, ColourFill):
            self.set_tolerance(self.settings.tolerance + TOLERANCE_STEP)
        else:
            self.set_radius(max(self.settings.radius + 1, self.settings.radius * RADIUS_STEP))

    def shrink_brush(self) -> None:
        if isinstance(self.active, ColourFill):
            self.set_tolerance(self.settings.tolerance - TOLERANCE_STEP)
        else:
            self.set_radius(min(self.settings.radius - 1, self.settings.radius / RADIUS_STEP))

    def set_tolerance(self, tolerance: int) -> None:
        self.settings.tolerance = min(MAX_TOLERANCE, max(0, tolerance))
        self.settings_changed.emit()

    def set_only_unlabelled(self, on: bool) -> None:
        self.settings.only_unlabelled = on
        self.settings_changed.emit()

    def finish(self) -> None:
        """End whatever the active tool has in progress, and the document's long work, so undo,
        saves and switches see whole strokes."""
        if self.document is not None:
            self.active.cancel()
            self.document.settle()

    # -- events from the canvas -------------------------------------------------------------------

    def press(self, point: Point, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        """A left press; Ctrl held makes the object begun here go into the object under the cursor."""
        self.modifiers = modifiers
        self.join_held = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        if self.document is not None:
            self.document.settle()  # long work (an accept, an undo) ends before new ids are chosen
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
