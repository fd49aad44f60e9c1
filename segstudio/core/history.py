"""Undo/redo as compact diffs over changed boxes, within a memory bound.

A stroke (one mouse press to release, or one fill) groups many edits::

    recorder = history.begin(labels)
    brush_stroke(labels, points, 8, value, recorder=recorder)   # any number of edits
    history.end()                                               # one undo step

or ``with history.stroke(labels) as recorder: ...``. Edits call ``recorder.record(labels, box,
mask)`` *before* they write (``core.edits.apply_mask`` does it for every edit), so the recorder
keeps the old values of exactly the pixels about to change; nothing scans the whole image.
``end()`` merges the stroke into one diff over the union box holding only the pixels whose
final value differs from the first: a bit mask of them (none when every pixel of the box
changed) plus their old and new category, instance and provenance, small ones zlib-compressed
when that pays off. Large value arrays (a 12 MP accept or fill) are kept as arrays: undo must
write them back in milliseconds, and decompressing 70 MB took a good part of a second; the
memory bound still holds (such a step is counted at its full size).

A long edit (a whole-image fill, accepting a prediction) writes band by band and calls
``recorder.seal()`` after each band: the writes so far become one *part* of the step, so no
single call ever merges the whole image, and undo can restore the step part by part
(:meth:`History.undo_parts`), one band per event-loop turn, each part a small box.

Crowd flags are part of the state: the set is remembered at ``begin`` and compared at ``end``,
so any crowd change made inside a stroke (the edits themselves never change crowd flags; the GUI
may toggle one between ``begin`` and ``end``) is undone and redone with the stroke.
"""

from __future__ import annotations

import itertools
import zlib
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from segstudio.core.box import Box
from segstudio.core.labels import LabelMap

_ENTRY_OVERHEAD = 1600
"""Bytes charged per undo step for its Python objects (measured with tracemalloc on CPython 3),
so that ``nbytes`` tracks real memory even for many tiny steps."""

_LAYERS = ("category", "instance", "provenance")

RAW_BYTES = 1 << 16
"""Value arrays at least this large are kept as they are, not compressed: unpacking costs nothing."""

_SERIALS = itertools.count(1)
"""Step serial numbers, unique in the process: a view may keep what it showed before and after a
step under its serial (a step's before and after are fixed label states while it is in a history)."""


@dataclass(frozen=True, slots=True)
class Replay:
    """An undo or redo about to be written: the step's serial, the way (``forward``: redo) and the
    box it writes (empty for a step that changed crowd flags only)."""

    step: int
    forward: bool
    box: Box


@dataclass(frozen=True, slots=True)
class _Packed:
    """A 1-D array's bytes, zlib-compressed when that saves at least a quarter; an array of one
    repeated value (the VOID a fill overwrote, the provenance it wrote) is kept as that value and
    its length, which costs nothing to pack or unpack; a large array (``RAW_BYTES``) as itself."""

    data: bytes | np.ndarray
    dtype: np.dtype
    compressed: bool
    repeat: int = 0
    """Non-zero: ``data`` is one value, repeated this many times."""

    @classmethod
    def pack(cls, array: np.ndarray, raw_from: int | None = RAW_BYTES) -> _Packed:
        """Pack ``array``; one of ``raw_from`` bytes or more is kept as an array (bit masks pass
        None: they compress well and unpack fast)."""
        array = np.ascontiguousarray(array)
        if array.size >= 64 and (array == array[0]).all():
            return cls(array[:1].tobytes(), array.dtype, False, array.size)
        if raw_from is not None and array.nbytes >= raw_from:
            array = array if array.base is None else array.copy()  # never a view of the labels
            array.flags.writeable = False
            return cls(array, array.dtype, False)
        raw = array.tobytes()
        if len(raw) >= 64:
            squeezed = zlib.compress(raw, 1)
            if len(squeezed) * 4 <= len(raw) * 3:
                return cls(squeezed, array.dtype, True)
        return cls(raw, array.dtype, False)

    def unpack(self) -> np.ndarray:
        """The array (for a repeated value a read-only view of it, no copy)."""
        if self.repeat:
            return np.broadcast_to(np.frombuffer(self.data, self.dtype), (self.repeat,))
        if isinstance(self.data, np.ndarray):
            return self.data
        return np.frombuffer(zlib.decompress(self.data) if self.compressed else self.data, self.dtype)

    @property
    def value(self) -> np.ndarray | None:
        """The repeated value (a 0-d array), or None when the values differ."""
        return np.frombuffer(self.data, self.dtype)[0] if self.repeat else None

    @property
    def nbytes(self) -> int:
        return self.data.nbytes if isinstance(self.data, np.ndarray) else len(self.data)


@dataclass(frozen=True, slots=True)
class _Diff:
    """One undo step: which pixels of ``box`` changed, their values before and after, crowd delta."""

    shape: tuple[int, int]
    box: Box
    changed: _Packed | None  # np.packbits of the changed pixels of ``box``, row-major; None: all
    before: tuple[_Packed, ...]  # category, instance, provenance of the changed pixels
    after: tuple[_Packed, ...]
    crowd_added: frozenset[tuple[int, int]]
    crowd_removed: frozenset[tuple[int, int]]

    @property
    def nbytes(self) -> int:
        changed = () if self.changed is None else (self.changed,)
        return _ENTRY_OVERHEAD + sum(p.nbytes for p in (*changed, *self.before, *self.after))

    def apply(self, labels: LabelMap, forward: bool) -> Box:
        """Write the values after (``forward``) or before this step; return the box touched.

        A box whose every pixel changed is written whole (a copy, or a fill for a repeated value)."""
        if labels.shape != self.shape:
            raise ValueError(f"this history belongs to a {self.shape} map, not {labels.shape}")
        shape = (self.box.height, self.box.width)
        mask = None
        if self.changed is not None:
            mask = np.unpackbits(self.changed.unpack(), count=self.box.area).view(bool).reshape(shape)
        for name, packed in zip(_LAYERS, self.after if forward else self.before, strict=True):
            target = getattr(labels, name)[self.box.slices]
            value = packed.value
            if mask is None:
                target[...] = value if value is not None else packed.unpack().reshape(shape)
            else:
                target[mask] = value if value is not None else packed.unpack()
        added, removed = (
            (self.crowd_added, self.crowd_removed) if forward else (self.crowd_removed, self.crowd_added)
        )
        labels.crowd -= removed
        labels.crowd |= added
        return self.box


@dataclass(frozen=True, slots=True)
class _Step:
    """One undo step: its parts in the order they were written (most steps have one), and the
    caller's note (``History.end(note=...)``: e.g. what the step did to metrics kept beside it)."""

    parts: tuple[_Diff, ...]
    note: object = None
    serial: int = field(default_factory=lambda: next(_SERIALS))

    @property
    def nbytes(self) -> int:
        return sum(part.nbytes for part in self.parts)

    @property
    def box(self) -> Box:
        return reduce(Box.union, (part.box for part in self.parts), Box.empty())

    def apply(self, labels: LabelMap, forward: bool) -> Iterator[Box]:
        """Write the parts forward in order, or backward in reverse; yields each part's box."""
        for part in self.parts if forward else reversed(self.parts):
            yield part.apply(labels, forward)


def _bits(changed: np.ndarray) -> _Packed | None:
    """The changed pixels of a diff's box as packed bits; None when all of them changed."""
    return None if changed.all() else _Packed.pack(np.packbits(changed), raw_from=None)


class StrokeRecorder:
    """Collects the old values of every write in one stroke; made by :meth:`History.begin`."""

    def __init__(self, labels: LabelMap) -> None:
        self.labels = labels
        self._crowd = frozenset(labels.crowd)
        self._writes: list[tuple[Box, np.ndarray, tuple[np.ndarray, ...]]] = []
        self._parts: list[_Diff] = []
        self._open = True

    def record(self, labels: LabelMap, box: Box, mask: np.ndarray) -> None:
        """Remember the current values of the pixels ``mask`` in ``box``; call before writing them."""
        if not self._open:
            raise RuntimeError("this stroke has ended; start another with History.begin")
        if labels is not self.labels:
            raise ValueError("the recorder belongs to another label map")
        mask = mask.copy()
        window = box.slices
        self._writes.append((box, mask, tuple(getattr(labels, name)[window][mask] for name in _LAYERS)))

    def seal(self) -> None:
        """Make the writes so far one part of the step (a band of a long edit is done)."""
        if not self._open:
            raise RuntimeError("this stroke has ended; start another with History.begin")
        part = self._merge()
        if part is not None:
            self._parts.append(part)

    def finish(self, note: object = None) -> _Step | None:
        """Close the stroke as one step of its parts; ``None`` when nothing ended up different."""
        self.seal()
        self._open = False
        return _Step(tuple(self._parts), note) if self._parts else None

    def _merge(self) -> _Diff | None:
        """The writes since the last seal as one diff over their union box (and the crowd change)."""
        labels = self.labels
        crowd = frozenset(labels.crowd)
        if len(self._writes) == 1:  # a band of a long edit: its recorded pixels are the diff
            return self._single(*self._writes.pop(), crowd)
        union = reduce(Box.union, (box for box, _, _ in self._writes), Box.empty())
        touched = np.zeros((union.height, union.width), bool)
        before = [np.empty(touched.shape, getattr(labels, name).dtype) for name in _LAYERS]
        # Oldest write last, so each pixel keeps the value it had before the stroke began.
        for box, mask, olds in reversed(self._writes):
            window = box.shift(-union.top, -union.left).slices
            touched[window] |= mask
            for layer, old in zip(before, olds, strict=True):
                layer[window][mask] = old
        self._writes.clear()
        now = [getattr(labels, name)[union.slices] for name in _LAYERS]
        changed = touched & reduce(np.logical_or, [b != n for b, n in zip(before, now, strict=True)])
        tight = Box.of_mask(changed)
        if tight.is_empty and crowd == self._crowd:
            return None
        changed = changed[tight.slices]
        diff = _Diff(
            shape=labels.shape,
            box=tight.shift(union.top, union.left),
            changed=_bits(changed),
            before=tuple(_Packed.pack(layer[tight.slices][changed]) for layer in before),
            after=tuple(_Packed.pack(layer[tight.slices][changed]) for layer in now),
            crowd_added=crowd - self._crowd,
            crowd_removed=self._crowd - crowd,
        )
        self._crowd = crowd
        return diff

    def _single(
        self, box: Box, mask: np.ndarray, olds: tuple[np.ndarray, ...], crowd: frozenset[tuple[int, int]]
    ) -> _Diff | None:
        """One write since the last seal: no union to build, only its pixels to compare."""
        now = tuple(getattr(self.labels, name)[box.slices][mask] for name in _LAYERS)
        differs = reduce(np.logical_or, [old != new for old, new in zip(olds, now, strict=True)])
        if not differs.all():
            mask = mask.copy()
            mask[mask] = differs
            olds = tuple(old[differs] for old in olds)
            now = tuple(new[differs] for new in now)
        tight = Box.of_mask(mask)
        if tight.is_empty and crowd == self._crowd:
            return None
        diff = _Diff(
            shape=self.labels.shape,
            box=tight.shift(box.top, box.left),
            changed=_bits(mask[tight.slices]),
            before=tuple(_Packed.pack(old) for old in olds),
            after=tuple(_Packed.pack(new) for new in now),
            crowd_added=crowd - self._crowd,
            crowd_removed=self._crowd - crowd,
        )
        self._crowd = crowd
        return diff


class History:
    """Undo and redo stacks of strokes for one label map, holding at most ``max_bytes`` of diffs.

    When a new stroke pushes the total over the bound, the oldest steps are forgotten; a single
    step bigger than the whole bound is not kept at all. A new stroke that changed something
    clears the redo stack; an empty stroke leaves both stacks alone.
    """

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._undo: deque[_Step] = deque()
        self._redo: list[_Step] = []
        self._nbytes = 0
        self._recorder: StrokeRecorder | None = None

    def begin(self, labels: LabelMap) -> StrokeRecorder:
        """Start a stroke on ``labels``; pass the recorder to every edit of the stroke."""
        if self._recorder is not None:
            raise RuntimeError("a stroke is already in progress; end it first")
        self._recorder = StrokeRecorder(labels)
        return self._recorder

    def end(self, note: object = None) -> Box:
        """Finish the stroke as one undo step; return the box it changed (empty when nothing did).

        ``note`` rides with the step (``undo_note``/``redo_note`` read it back)."""
        if self._recorder is None:
            raise RuntimeError("no stroke in progress")
        step, self._recorder = self._recorder.finish(note), None
        if step is None:
            return Box.empty()
        self._nbytes -= sum(s.nbytes for s in self._redo)
        self._redo.clear()
        self._undo.append(step)
        self._nbytes += step.nbytes
        while self._undo and self._nbytes > self.max_bytes:
            self._nbytes -= self._undo.popleft().nbytes
        return step.box

    @contextmanager
    def stroke(self, labels: LabelMap) -> Iterator[StrokeRecorder]:
        """``begin`` and ``end`` around a block, ending the stroke even when the block raises."""
        recorder = self.begin(labels)
        try:
            yield recorder
        finally:
            self.end()

    def undo(self, labels: LabelMap) -> Box:
        """Revert the latest stroke; return the box to repaint (empty when there is nothing to undo)."""
        return reduce(Box.union, self.undo_parts(labels), Box.empty())

    def redo(self, labels: LabelMap) -> Box:
        """Re-apply the latest undone stroke; return the box to repaint (empty when none)."""
        return reduce(Box.union, self.redo_parts(labels), Box.empty())

    def undo_parts(self, labels: LabelMap) -> Iterator[Box]:
        """Revert the latest stroke part by part, yielding each part's box: the step moves to the
        redo stack at once, so the caller must run the iterator to its end (before any other
        edit, undo or redo), a part per event-loop turn if it likes."""
        return self._move(labels, self._undo, self._redo, forward=False)

    def redo_parts(self, labels: LabelMap) -> Iterator[Box]:
        """Re-apply the latest undone stroke part by part (see :meth:`undo_parts`)."""
        return self._move(labels, self._redo, self._undo, forward=True)

    def _move(
        self, labels: LabelMap, source: list | deque, target: list | deque, forward: bool
    ) -> Iterator[Box]:
        if self._recorder is not None:
            raise RuntimeError("cannot undo or redo in the middle of a stroke")
        if not source:
            return iter(())
        step = source[-1]
        if step.parts[0].shape != labels.shape:
            raise ValueError(f"this history belongs to a {step.parts[0].shape} map, not {labels.shape}")
        target.append(source.pop())
        return step.apply(labels, forward)

    def next_replay(self, forward: bool) -> Replay | None:
        """What :meth:`redo_parts` (``forward``) or :meth:`undo_parts` would write; None when nothing."""
        source = self._redo if forward else self._undo
        return Replay(source[-1].serial, forward, source[-1].box) if source else None

    @property
    def undo_serial(self) -> int | None:
        """The serial of the step ``undo`` would revert (None when there is none)."""
        return self._undo[-1].serial if self._undo else None

    @property
    def undo_note(self) -> object:
        """The note of the step ``undo`` would revert (None when there is none)."""
        return self._undo[-1].note if self._undo else None

    @property
    def redo_note(self) -> object:
        """The note of the step ``redo`` would re-apply (None when there is none)."""
        return self._redo[-1].note if self._redo else None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def nbytes(self) -> int:
        """Bytes held by the undo and redo stacks (payload plus a per-step overhead estimate)."""
        return self._nbytes

    def clear(self) -> None:
        """Forget every step (e.g. after loading another image into the same map)."""
        self._undo.clear()
        self._redo.clear()
        self._nbytes = 0

    def __len__(self) -> int:
        """Number of undoable steps."""
        return len(self._undo)
