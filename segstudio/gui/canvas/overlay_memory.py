"""What the ground-truth overlays showed before and after recent undo steps, to swap back on undo
and redo instead of recomputing them.

Recomputing the overlays of a 12 MP step (an accepted prediction: varied classes and instances)
took ~30-50 ms of the GUI thread per undo or redo, copying them back ~5 ms. A step's label
states before and after it are fixed while it is in the history (``core.history``'s serials), and
an overlay is a function of the labels and its own rule (``IndexedLayer.content_key``: the
palette's class ids, the prediction it compares with), so pixels saved for a state are exact
whenever that state comes back under the same rule:

- while a stroke is open, each refresh first saves the box it is about to recompute (the state
  before the stroke, for those pixels); the stroke's step keeps them as its "before";
- an undo or redo first saves the step's box (the state it leaves), then puts back what was saved
  for the state it goes to, if anything was; its writes then repaint nothing more for those layers.

Saved pixels are bounded by ``max_bytes`` (the least recently saved are dropped first) and by
``MAX_CAPTURES`` pieces per stroke (a long brush stroke is many small boxes, cheap to recompute).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from segstudio.core.box import Box
from segstudio.core.history import Replay
from segstudio.gui.canvas.layers import IndexedLayer

MAX_BYTES = 96 * 2**20
"""Two whole-image states of three overlays at 12 MP (36 MB each), and some smaller steps."""
MAX_CAPTURES = 512
"""Pieces saved per stroke at most: a band edit of 12 MP is ~100, a brush stroke may be thousands."""


@dataclass
class _Saved:
    """One layer's pixels for one state: pieces oldest first (an older piece wins where they
    overlap: it holds the pixel as it was before the stroke touched it)."""

    key: tuple[int, int]
    pieces: list[tuple[Box, np.ndarray]] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(indices.nbytes for _, indices in self.pieces)

    def whole(self, shape: tuple[int, int]) -> bool:
        """One piece holding a whole map of ``shape`` (it can be swapped in, not copied)."""
        return len(self.pieces) == 1 and self.pieces[0][1].shape == shape

    def restore(self, layer: IndexedLayer) -> None:
        for box, indices in reversed(self.pieces):
            layer.restore(box, indices)


class _Before:
    """One layer's pixels before the open stroke, saved edit by edit. Pieces of whole rows (a band
    edit's) go into one full-size map, completed from the layer when the stroke ends, so the
    step's undo swaps that map in rather than copying it; other pieces are kept as they come."""

    def __init__(self, layer: IndexedLayer) -> None:
        self.key = layer.content_key
        self.edits = 0
        self.pieces: list[tuple[Box, np.ndarray]] = []
        self.rows: np.ndarray | None = None
        """The full-size map, valid on the ``covered`` rows (None: not whole-row pieces)."""
        self.covered = np.zeros(layer.index_shape[0], bool)

    def add(self, layer: IndexedLayer, box: Box) -> None:
        if layer.content_key != self.key:
            return  # rebuilt mid-stroke (a prediction arrived): one edit short, kept nowhere
        self.edits += 1
        height, width = layer.index_shape
        grown = layer.reach(box)
        if grown.width < width or self.pieces:
            self._to_pieces()
            self.pieces.append(layer.save(box))
            return
        if self.rows is None:
            self.rows = np.empty((height, width), np.uint8)  # pages are taken as rows are written
        self._copy_rows(layer, np.flatnonzero(~self.covered[grown.top : grown.bottom]) + grown.top)

    def finish(self, layer: IndexedLayer, edits: int) -> _Saved | None:
        """What was saved, when it has every one of the stroke's ``edits`` under one rule."""
        if self.edits != edits or layer.content_key != self.key:
            return None
        if self.rows is not None and self.covered.sum() * 2 >= len(self.covered):
            self._copy_rows(layer, np.flatnonzero(~self.covered))  # unchanged there: as it was
            return _Saved(self.key, [(Box.full(layer.index_shape), self.rows)])
        self._to_pieces()
        return _Saved(self.key, self.pieces)

    def _copy_rows(self, layer: IndexedLayer, rows: np.ndarray) -> None:
        assert self.rows is not None
        width = self.rows.shape[1]
        for top, bottom in _runs(rows):
            layer.read(Box(top, 0, bottom, width), self.rows[top:bottom])
        self.covered[rows] = True

    def _to_pieces(self) -> None:
        """Hand the rows saved so far over as pieces (views of the map)."""
        if self.rows is not None:
            width = self.rows.shape[1]
            runs = _runs(np.flatnonzero(self.covered))
            self.pieces = [(Box(top, 0, bottom, width), self.rows[top:bottom]) for top, bottom in runs]
            self.rows = None


def _runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """Sorted row numbers as ``(top, bottom)`` runs of consecutive rows."""
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    return [(int(run[0]), int(run[-1]) + 1) for run in np.split(rows, breaks)]


State = tuple[int, bool]
"""(step serial, after the step)."""


class OverlayMemory:
    """Saved overlay pixels per step state; see the module notes."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._states: OrderedDict[State, dict[str, _Saved]] = OrderedDict()
        self._stroke: dict[str, _Before] = {}
        self._stroke_edits = 0
        self.restored = 0
        """Layers put back from memory so far (rather than recomputed)."""

    def clear(self) -> None:
        """Forget everything (another document)."""
        self._states.clear()
        self._stroke, self._stroke_edits = {}, 0

    def before_edit(self, layers: Mapping[str, IndexedLayer], box: Box) -> None:
        """An edit inside an open stroke is about to recompute ``box``: save what it shows now."""
        self._stroke_edits += 1
        if self._stroke_edits > MAX_CAPTURES:
            self._stroke.clear()  # the step's undo recomputes
            return
        for name, layer in layers.items():
            if self._stroke_edits == 1:
                self._stroke[name] = _Before(layer)
            before = self._stroke.get(name)
            if before is not None:
                before.add(layer, box)

    def stroke_ended(self, step: int | None, layers: Mapping[str, IndexedLayer]) -> None:
        """The open stroke became ``step`` (None: no step): what it saved is that step's "before"
        (for the layers saved at every edit of it, under one rule)."""
        stroke, edits = self._stroke, self._stroke_edits
        self._stroke, self._stroke_edits = {}, 0
        if step is None:
            return
        kept = {}
        for name, before in stroke.items():
            layer = layers.get(name)
            saved = None if layer is None else before.finish(layer, edits)
            if saved is not None:
                kept[name] = saved
        self._keep((step, False), kept)

    def replay(self, replay: Replay, layers: Mapping[str, IndexedLayer]) -> set[str]:
        """An undo or redo is about to write: save the state it leaves, put back the one it goes to
        where saved; returns the names of the layers put back (their refreshes can be skipped
        until the replay ends)."""
        if replay.box.is_empty:
            return set()
        arriving = self._states.pop((replay.step, replay.forward), {})
        leaving: dict[str, _Saved] = {}
        restored = set()
        for name, layer in layers.items():
            key, saved = layer.content_key, arriving.get(name)
            fits = saved is not None and saved.key == key
            if fits and saved.whole(layer.index_shape):
                whole = Box.full(layer.index_shape)
                leaving[name] = _Saved(key, [(whole, layer.exchange(saved.pieces[0][1]))])
            else:
                leaving[name] = _Saved(key, [layer.save(replay.box)])
                if fits:
                    saved.restore(layer)
            if fits:
                restored.add(name)
        self.restored += len(restored)
        self._keep((replay.step, not replay.forward), leaving)
        return restored

    @property
    def nbytes(self) -> int:
        return sum(saved.nbytes for layers in self._states.values() for saved in layers.values())

    def _keep(self, state: State, layers: dict[str, _Saved]) -> None:
        if not layers or sum(saved.nbytes for saved in layers.values()) > self.max_bytes:
            return
        self._states[state] = layers
        self._states.move_to_end(state)
        while self.nbytes > self.max_bytes:
            self._states.popitem(last=False)
