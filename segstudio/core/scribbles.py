"""One image's scribbles: brush strokes of classes that train the pixel classifier, with their own undo.

Scribbles are hints, not labels: they live beside the ground truth, never in it. The map is a
category map like ``LabelMap.category`` (uint16 palette class ids, ``VOID`` = not scribbled), so
the canvas draws it with the palette like any label layer. The classifier and the scribble PNG
use the CLI's convention instead (0 = not scribbled, ``k = id + 1``): :meth:`ScribbleMap.values`
and :meth:`ScribbleMap.from_values` convert. Undo works per stroke, on the stroke's box only.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segstudio.core.box import Box
from segstudio.core.edits import Point, brush_footprint
from segstudio.core.labels import CATEGORY_DTYPE, VOID

MAX_UNDO = 200
"""Scribble strokes kept for undo (each holds only its box, so this bounds little memory)."""


@dataclass(frozen=True)
class _Step:
    """One stroke: its box and the box's contents before and after."""

    box: Box
    before: np.ndarray
    after: np.ndarray


class ScribbleMap:
    """An ``(H, W)`` uint16 map of scribbled class ids (``VOID`` where nothing is scribbled)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.category = np.full(shape, VOID, CATEGORY_DTYPE)
        self._undo: deque[_Step] = deque(maxlen=MAX_UNDO)
        self._redo: list[_Step] = []
        self._stroke: tuple[Box, np.ndarray] | None = None
        """While a stroke runs: the box it touched so far and a copy of the map from its start."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.category.shape  # type: ignore[return-value]

    @property
    def in_stroke(self) -> bool:
        return self._stroke is not None

    # -- strokes ---------------------------------------------------------------------------------

    def begin_stroke(self) -> None:
        """Start one undo step (a mouse press)."""
        self._stroke = (Box.empty(), self.category.copy())

    def paint(self, points: Sequence[Point], radius: float, category: int | None) -> Box:
        """Scribble ``category`` (None: erase) under a brush along ``points``; returns the changed box.

        The brush covers the same pixels as the label brush (``core.edits.brush_stroke``).
        """
        if self._stroke is None:
            raise RuntimeError("paint() needs a stroke; call begin_stroke() first")
        value = VOID if category is None else category
        if not 0 <= value <= VOID:
            raise ValueError(f"class id {value} is outside 0..{VOID - 1}")
        mask, box = brush_footprint(self.shape, points, radius)
        if box.is_empty:
            return Box.empty()
        window = self.category[box.slices]
        change = mask & (window != value)
        tight = Box.of_mask(change)
        if tight.is_empty:
            return Box.empty()
        window[change] = value
        changed = tight.shift(box.top, box.left)
        self._stroke = (self._stroke[0].union(changed), self._stroke[1])
        return changed

    def end_stroke(self) -> Box:
        """Close the undo step; returns the box the whole stroke changed (empty: no step kept)."""
        if self._stroke is None:
            return Box.empty()
        box, start = self._stroke
        self._stroke = None
        if box.is_empty:
            return box
        self._undo.append(_Step(box, start[box.slices].copy(), self.category[box.slices].copy()))
        self._redo.clear()
        return box

    def undo(self) -> Box:
        """Take back the last stroke; returns its box (empty: nothing to undo or a stroke is open)."""
        if self.in_stroke or not self._undo:
            return Box.empty()
        step = self._undo.pop()
        self.category[step.box.slices] = step.before
        self._redo.append(step)
        return step.box

    def redo(self) -> Box:
        if self.in_stroke or not self._redo:
            return Box.empty()
        step = self._redo.pop()
        self.category[step.box.slices] = step.after
        self._undo.append(step)
        return step.box

    def clear(self) -> Box:
        """Remove every scribble as one undoable step; returns the box that changed."""
        self.begin_stroke()
        box = Box.of_mask(self.category != VOID)
        if not box.is_empty:
            self.category[box.slices] = VOID
            self._stroke = (box, self._stroke[1])  # type: ignore[index]
        return self.end_stroke()

    # -- conversion ------------------------------------------------------------------------------

    def values(self) -> np.ndarray:
        """A copy in the classifier's convention: 0 = not scribbled, ``id + 1`` = class ``id``.

        One uint16 add: VOID (0xFFFF) + 1 wraps to 0, exactly "not scribbled" (one pass instead
        of a where; this runs on the GUI thread for every training run of a 12 MP image)."""
        assert self.category.dtype == CATEGORY_DTYPE and np.iinfo(CATEGORY_DTYPE).max == VOID
        return np.add(self.category, CATEGORY_DTYPE(1), dtype=CATEGORY_DTYPE)

    def load_values(self, values: np.ndarray) -> Box:
        """Replace the map with ``values`` (classifier convention); clears undo; returns the full box."""
        values = np.asarray(values)
        if values.shape != self.shape:
            raise ValueError(f"scribbles are {values.shape}; the image is {self.shape}")
        if not np.issubdtype(values.dtype, np.integer) or (values.size and int(values.max()) > VOID):
            raise ValueError(f"scribble values must be integers in 0..{VOID}; got {values.dtype}")
        self.category[...] = np.where(values == 0, VOID, values.astype(np.int64) - 1)
        self._undo.clear()
        self._redo.clear()
        self._stroke = None
        return Box.full(self.shape)

    def counts(self) -> dict[int, int]:
        """Scribbled pixels per class id."""
        ids, counts = np.unique(self.category[self.category != VOID], return_counts=True)
        return dict(zip(ids.tolist(), counts.tolist(), strict=True))


def value_counts(values: np.ndarray) -> Counter[int]:
    """Pixels per scribbled value of ``values`` (classifier convention; 0, not scribbled, left out)."""
    found, counts = np.unique(values[values != 0], return_counts=True)
    return Counter(dict(zip(found.tolist(), counts.tolist(), strict=True)))


def categories_from_values(labels: np.ndarray) -> np.ndarray:
    """The classifier's output (``id + 1`` per pixel, never 0) as palette class ids, uint16."""
    return (np.asarray(labels).astype(np.int64) - 1).astype(CATEGORY_DTYPE)
