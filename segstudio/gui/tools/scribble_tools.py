"""The scribble brush and eraser: strokes into ``Document.scribbles``, never into the ground truth.

They are brush tools (same footprint, size and class as the label brush) whose strokes go to the
scribble map's own undo history; each change is announced by ``Document.scribbles_changed``, which
repaints the scribble layer and, once the strokes pause, retrains the classifier
(``gui.tools.scribbles.ScribbleController``).
"""

from __future__ import annotations

from collections.abc import Sequence

from segstudio.core.edits import Point
from segstudio.gui.tools.tools import StrokeTool, Tool


class ScribbleBrush(StrokeTool):
    """Scribble the current class for the pixel classifier."""

    name = "scribble"
    writes_class = False
    """Scribbles are class ids only: no instance is taken."""
    erases = False

    def _begin(self, point: Point) -> None:
        self.document.scribbles.begin_stroke()

    def _end(self) -> None:
        box = self.document.scribbles.end_stroke()
        if not box.is_empty:
            self.document.scribbles_changed.emit(box)

    def _segment(self, points: Sequence[Point]) -> None:
        category = None if self.erases else self.settings.category
        box = self.document.scribbles.paint(points, self.settings.radius, category)
        if not box.is_empty:
            self.document.scribbles_changed.emit(box)


class ScribbleEraser(ScribbleBrush):
    """Erase scribbles (the labels stay as they are)."""

    name = "scribble eraser"
    erases = True


SCRIBBLE_TOOLS: tuple[type[Tool], ...] = (ScribbleBrush, ScribbleEraser)


def is_scribble_tool(tool: Tool) -> bool:
    """Whether undo and redo should act on the scribbles rather than on the labels."""
    return isinstance(tool, ScribbleBrush)
