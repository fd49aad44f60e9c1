"""The open image's labels as a Qt-free model: edits, undo history, live metrics, plain events.

Every change to the ground truth goes through :meth:`LabelDocument.edit` (inside a stroke),
:meth:`LabelDocument.apply` (a one-shot stroke) or the undo/redo and band work below, and ends
in ``_sync(box)``: the IoU confusion matrix and the "changed by the human" count follow the box
from a shadow copy of its old contents, then ``changed(box)`` tells views to repaint that box.
Nothing here scans the whole image per edit. As napari keeps its layer models Qt-free, the GUI's
``gui.document.Document`` forwards these events to Qt signals and drives the long work (a band
per event-loop turn); tests and any front end without Qt use this class directly.

Long edits are *work*: iterators that do one part (a band of at most ``BAND_PIXELS``) per
``next()``, each part synced like a stroke. Run to the end (``for _ in work: pass``) they are one
ordinary call.

Undo and redo cost what writing the changed pixels back costs: each step carries what it did to
the metrics (:class:`MetricsDelta`, its history note), so reverting it adds that delta back instead
of recounting its box; the shadow copy and the views follow the step's box once. Only a step made
under another prediction or class list (its delta no longer applies) is recounted, a part per turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from segstudio.core.box import Box
from segstudio.core.edits import Protect, Recorder, copy_prediction
from segstudio.core.events import Event
from segstudio.core.history import History, Replay, StrokeRecorder
from segstudio.core.labels import LabelMap
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import Palette
from segstudio.core.prediction_metrics import LabelsSnapshot, PredictionMetrics, human_corrections
from segstudio.core.scribbles import ScribbleMap

Edit = Callable[[LabelMap, Recorder], Box]
"""An edit of the ground truth: writes through the recorder it is given, returns the changed box."""

BandEdit = Callable[[LabelMap, Recorder, Box], Box]
"""An edit confined to a band (a box) it is given: one slice of a long edit."""

Progress = Callable[[int, int], None]
"""``(parts done, parts)`` of long work; ``parts`` is 0 when not known ahead (undo, redo)."""

BAND_PIXELS = 1 << 17
"""Pixels per band of long work: a few milliseconds of writing, syncing and repainting."""
REPLAY_PIXELS = 1 << 21
"""Pixels an undo or redo with a known metrics delta writes back per event-loop turn: ~6 turns at
12 MP keep each under the 50 ms stall goal, where one turn for all stalled the window ~100 ms."""


@dataclass(frozen=True)
class MetricsDelta:
    """What one undo step did to the live metrics, against the prediction it was made under
    (its serial number, not the map: a step must not keep an old 12 MP prediction alive)."""

    prediction: int
    class_ids: tuple[int, ...]
    counts: np.ndarray
    """Confusion-matrix counts after the step minus before."""
    corrections: int

    def applies(self, prediction: int, confusion: ConfusionMatrix | None) -> bool:
        """Whether the delta still holds: the same prediction (serial) and the same classes."""
        return (
            prediction == self.prediction
            and confusion is not None
            and tuple(confusion.class_ids.tolist()) == self.class_ids
        )


def _groups(parts: Iterator[Box], pixels: int) -> Iterator[tuple[Box, bool]]:
    """Run ``parts`` (each written as it is taken) in groups of about ``pixels``, yielding each
    group's box and whether it is the last. One part is taken ahead to know that, so the last
    group needs no event-loop turn of its own (a small step is done within the call)."""
    box, area = Box.empty(), 0
    ahead = next(parts, None)
    while ahead is not None:
        part, ahead = ahead, next(parts, None)
        box, area = box.union(part), area + part.area
        if area >= pixels or ahead is None:
            yield box, ahead is None
            box, area = Box.empty(), 0


class _Stroked(Protocol):
    def begin_stroke(self) -> None: ...
    def end_stroke(self) -> Box: ...
    def edit(self, edit: Edit) -> Box: ...


class Strokes:
    """``apply`` and ``stroke`` for a class with ``begin_stroke``, ``edit`` and ``end_stroke``:
    the label model, and its Qt face whose ``begin_stroke`` first finishes long work."""

    def apply(self: _Stroked, edit: Edit) -> Box:
        """Run an edit as a stroke of its own (a fill, a polygon, GrabCut)."""
        with Strokes.stroke(self):
            return self.edit(edit)

    @contextmanager
    def stroke(self: _Stroked) -> Iterator[None]:
        """One undo step around the edits made inside."""
        self.begin_stroke()
        try:
            yield
        finally:
            self.end_stroke()


class LabelDocument(Strokes):
    """One image being labelled: pixels, ground truth, prediction, scribbles, history, metrics.

    Events (:class:`~segstudio.core.events.Event`): ``changed(Box)`` after every change of the
    ground truth; ``dirty_changed(bool)``; ``metrics_changed()`` when the confusion matrix or the
    correction count moved; ``prediction_changed()`` when a new prediction (or none) replaced it;
    ``stroke_ended(int | None)`` with the serial of the undo step a stroke became (None: no step);
    ``replaying(Replay)`` before an undo or redo writes anything and ``replayed()`` after its last
    part (views may keep what they showed before and after a step, to swap it back).
    """

    def __init__(
        self,
        image_id: str,
        rgb: np.ndarray,
        labels: LabelMap,
        palette: Palette,
        prediction: LabelMap | None = None,
        *,
        depth: np.ndarray | None = None,
        dirty: bool = False,
    ) -> None:
        if labels.shape != rgb.shape[:2]:
            raise ValueError(f"{image_id}: labels are {labels.shape}, image is {rgb.shape[:2]}")
        if prediction is not None and prediction.shape != labels.shape:
            raise ValueError(f"{image_id}: prediction is {prediction.shape}, labels are {labels.shape}")
        if depth is not None and depth.shape != labels.shape:
            raise ValueError(f"{image_id}: depth map is {depth.shape}, labels are {labels.shape}")
        self.changed = Event()
        self.dirty_changed = Event()
        self.metrics_changed = Event()
        self.prediction_changed = Event()
        self.stroke_ended = Event()
        self.replaying = Event()
        self.replayed = Event()
        self.image_id = image_id
        self.rgb = rgb
        self.labels = labels
        self.prediction = prediction
        self.depth = depth
        """(H, W) uint16 millimetres (0 = no reading), or None when the image has no depth map."""
        self.palette = palette
        self.history = History()
        self._recorder: StrokeRecorder | None = None
        self._top_step: int | None = None
        """The undo step on top when the open stroke began (a stroke that made none leaves it there)."""
        self._stroke_metrics: tuple[int, np.ndarray, int] | None = None
        """(prediction serial, confusion counts, corrections) when the open stroke began."""
        self._prediction_serial = 0
        """Counts predictions shown: an undo step's metrics delta holds for its serial only."""
        self.revision = 0
        """Counts changes of the ground truth: a result computed from older labels is stale."""
        self._dirty = dirty
        self._stale_shadow = Box.empty()
        """Where the shadow copy lags the labels: an undo or redo with a known metrics delta reads
        nothing from it, so it is brought up to date only before an edit or a recount reads it."""
        self.confusion: ConfusionMatrix | None = None
        self.human_corrections = 0
        """Human-written ground-truth pixels whose class differs from the prediction."""
        self.scribbles = ScribbleMap(labels.shape)
        """Class scribbles for the pixel classifier: beside the ground truth, never in it."""
        self.uncertainty: np.ndarray | None = None
        """Per-pixel uncertainty of the prediction (uint8, 255 = two classes tie), when it has one."""
        if prediction is not None:
            self._start_metrics()

    def _start_metrics(self, counted: PredictionMetrics | None = None) -> None:
        # Old contents of edited boxes, so metrics follow edits of any origin (undo included);
        # already current when a prediction was shown (every edit synced it), else copied.
        if self.confusion is None:
            self._shadow_category = self.labels.category.copy()
            self._shadow_provenance = self.labels.provenance.copy()
            self._stale_shadow = Box.empty()
        if counted is not None and counted.holds_for(self.revision, tuple(self.palette.ids)):
            self.confusion, self.human_corrections = counted.confusion, counted.corrections
            self.metrics_changed.emit()
        else:
            self._recount()

    def set_prediction(
        self,
        prediction: LabelMap | None,
        uncertainty: np.ndarray | None = None,
        metrics: PredictionMetrics | None = None,
    ) -> None:
        """Show a new model (or scribble classifier) output; metrics are recounted once for it,
        unless ``metrics`` counted it (off the GUI thread) against the labels as they still are.

        The ground truth is untouched: accepting the prediction is a separate, undoable step.
        ``uncertainty`` (uint8 per pixel) comes with a prediction that has one (the scribble classifier).
        """
        if prediction is not None and prediction.shape != self.labels.shape:
            shapes = f"prediction is {prediction.shape}, labels are {self.labels.shape}"
            raise ValueError(f"{self.image_id}: {shapes}")
        if uncertainty is not None and (prediction is None or uncertainty.shape != self.labels.shape):
            raise ValueError(f"{self.image_id}: uncertainty needs a prediction of the image's size")
        self.prediction = prediction
        self.uncertainty = uncertainty
        self._prediction_serial += 1
        if prediction is None:
            self.confusion = None
            self.human_corrections = 0
            self.metrics_changed.emit()
        else:
            self._start_metrics(metrics)
        self.prediction_changed.emit()

    def labels_snapshot(self) -> LabelsSnapshot:
        """A copy of the ground truth at this revision, to count a coming prediction against it
        on a worker (``LabelsSnapshot.count``; ~6 ms of copying at 12 MP instead of ~70 ms of counting)."""
        return LabelsSnapshot(
            self.revision,
            self.labels.category.copy(),
            self.labels.provenance.copy(),
            tuple(self.palette.ids),
        )

    # -- state ------------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Edits not yet saved to the project's label file."""
        return self._dirty

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)

    def mark_saved(self) -> None:
        self._set_dirty(False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @property
    def in_stroke(self) -> bool:
        return self._recorder is not None

    # -- edits ------------------------------------------------------------------------------------

    def begin_stroke(self) -> None:
        """Start one undo step (a mouse press); edits until ``end_stroke`` undo together."""
        self._follow_shadow()
        self._recorder = self.history.begin(self.labels)
        self._top_step = self.history.undo_serial
        self._note_metrics()

    def end_stroke(self) -> Box:
        """Close the undo step; returns the box it changed overall."""
        self._recorder = None
        box = self.history.end(note=self._metrics_delta())
        top = self.history.undo_serial  # the same: no step, or one too big for the history to keep
        self.stroke_ended.emit(top if top != self._top_step else None)
        return box

    def _note_metrics(self) -> None:
        """Remember the metrics as a stroke begins, to note what the stroke did to them."""
        confusion = self.confusion
        self._stroke_metrics = (
            None
            if self.prediction is None or confusion is None
            else (self._prediction_serial, confusion.counts.copy(), self.human_corrections)
        )

    def _metrics_delta(self) -> MetricsDelta | None:
        start, self._stroke_metrics = self._stroke_metrics, None
        if start is None or self.confusion is None or start[0] != self._prediction_serial:
            return None
        serial, counts, corrections = start
        if counts.shape != self.confusion.counts.shape:
            return None
        return MetricsDelta(
            serial,
            tuple(self.confusion.class_ids.tolist()),
            self.confusion.counts - counts,
            self.human_corrections - corrections,
        )

    def edit(self, edit: Edit) -> Box:
        """Run one edit inside the current stroke and propagate its box."""
        if self._recorder is None:
            raise RuntimeError("edit() needs a stroke; call begin_stroke() or use apply()")
        box = edit(self.labels, self._recorder)
        self._sync(box)
        return box

    # -- long work ----------------------------------------------------------------------------------

    def undo_work(self, progress: Progress | None = None) -> Iterator[None]:
        """Revert the last step, a part per ``next()`` (nothing inside a stroke); the step moves
        to the redo stack at once, so run the work to its end before any other edit."""
        if self.in_stroke:
            return iter(())
        note, replay = self.history.undo_note, self.history.next_replay(forward=False)
        return self._replay(self.history.undo_parts(self.labels), note, -1, progress, replay)

    def redo_work(self, progress: Progress | None = None) -> Iterator[None]:
        """Re-apply the last undone step, a part per ``next()`` (see :meth:`undo_work`)."""
        if self.in_stroke:
            return iter(())
        note, replay = self.history.redo_note, self.history.next_replay(forward=True)
        return self._replay(self.history.redo_parts(self.labels), note, 1, progress, replay)

    def _replay(
        self,
        parts: Iterator[Box],
        note: object,
        sign: int,
        progress: Progress | None,
        replay: Replay | None,
    ) -> Iterator[None]:
        """``replaying``, the step's parts (:meth:`_write_back`), then ``replayed``."""
        if replay is None:
            return
        self.replaying.emit(replay)
        try:
            yield from self._write_back(parts, note, sign, progress)
        finally:
            self.replayed.emit()

    def _write_back(
        self, parts: Iterator[Box], note: object, sign: int, progress: Progress | None
    ) -> Iterator[None]:
        """Write a step back: with its metrics delta (``sign`` -1 undoes it) a group of
        ``REPLAY_PIXELS`` per ``next()``, nothing recounted; else a part per ``next()``, each
        part's box recounted."""
        if isinstance(note, MetricsDelta) and note.applies(self._prediction_serial, self.confusion):
            delta = (note.counts * sign, note.corrections * sign)
            for done, (box, last) in enumerate(_groups(parts, REPLAY_PIXELS), 1):
                self._sync(box, delta)
                delta = (np.zeros_like(note.counts), 0)  # counted once, with the first group
                if progress is not None:
                    progress(done, 0)
                if not last:
                    yield
            return
        self._follow_shadow()  # each part is recounted from it
        for done, box in enumerate(parts, 1):
            self._sync(box)
            if progress is not None:
                progress(done, 0)
            yield

    def band_work(
        self,
        box: Box,
        edit: BandEdit,
        progress: Progress | None = None,
        done: Callable[[Box], None] | None = None,
    ) -> Iterator[None]:
        """``edit`` over ``box`` band by band as one undo step, a band per ``next()``; ``done``
        gets the box it changed at the end (the undo step is closed even when stopped early)."""
        bands = box.clip(self.shape).bands(BAND_PIXELS)
        self._follow_shadow()
        recorder = self._recorder = self.history.begin(self.labels)
        self._note_metrics()
        changed = Box.empty()
        try:
            for count, band in enumerate(bands, 1):
                changed = changed.union(self.edit(lambda labels, recorder, b=band: edit(labels, recorder, b)))
                recorder.seal()
                if progress is not None:
                    progress(count, len(bands))
                if count < len(bands):
                    yield
        finally:
            self.end_stroke()
        if done is not None:
            done(changed)

    def accept_edit(self, category: int | None = None, replace: bool = False) -> BandEdit | None:
        """The band edit that copies the prediction (all of it, or one class) into the ground
        truth, for :meth:`band_work` over the whole image; None without a prediction.

        Written with MODEL provenance; pixels a human wrote are kept unless ``replace``. Predicted
        instance ids are moved past the ground truth's so they never merge with existing objects.
        """
        prediction = self.prediction
        if prediction is None:
            return None
        protect = Protect.NONE if replace else Protect.HUMAN
        offset = self.labels.next_instance() - 1

        def accept(labels: LabelMap, recorder: Recorder, band: Box) -> Box:
            return copy_prediction(
                labels,
                prediction,
                band,
                category=category,
                instance_offset=offset,
                protect=protect,
                recorder=recorder,
            )

        return accept

    # -- palette and metrics ----------------------------------------------------------------------

    def set_palette(self, palette: Palette) -> None:
        """Use another palette; the metrics are recounted once when its class ids differ."""
        ids_changed = palette.ids != self.palette.ids
        self.palette = palette
        if ids_changed and self.prediction is not None:
            self._recount()

    def _recount(self) -> None:
        """Whole-image metrics: only when the image opens or the class list changes."""
        assert self.prediction is not None
        self.confusion = ConfusionMatrix.from_maps(
            self.labels.category, self.prediction.category, self.palette.ids
        )
        self.human_corrections = human_corrections(
            self.labels.category, self.labels.provenance, self.prediction.category
        )
        self.metrics_changed.emit()

    def _follow_shadow(self) -> None:
        """Copy the labels into the shadow where replays left it behind (before it is read)."""
        stale, self._stale_shadow = self._stale_shadow, Box.empty()
        if not stale.is_empty and self.confusion is not None:
            window = stale.slices
            self._shadow_category[window] = self.labels.category[window]
            self._shadow_provenance[window] = self.labels.provenance[window]

    def _sync(self, box: Box, delta: tuple[np.ndarray, int] | None = None) -> None:
        """Follow a change confined to ``box``: metrics by difference (or by the known ``delta`` of
        counts and corrections, for undo and redo: the shadow copy then follows later, see
        ``_stale_shadow``), shadow copy, then tell views."""
        if box.is_empty:
            return
        self.revision += 1
        if delta is not None and self.confusion is not None:
            self._stale_shadow = self._stale_shadow.union(box)
            if delta[1] or delta[0].any():  # a replayed step's later groups: counted already
                self.confusion.add_counts(delta[0])
                self.human_corrections += delta[1]
                self.metrics_changed.emit()
        elif self.prediction is not None and self.confusion is not None:
            window = box.slices
            category, provenance = self.labels.category[window], self.labels.provenance[window]
            predicted = self.prediction.category[window]
            old_category, old_provenance = self._shadow_category[window], self._shadow_provenance[window]
            self.confusion.update_box(
                box, self.labels.category, self.prediction.category, gt_before=old_category
            )
            self.human_corrections += human_corrections(category, provenance, predicted)
            self.human_corrections -= human_corrections(old_category, old_provenance, predicted)
            old_category[...] = category
            old_provenance[...] = provenance
            self.metrics_changed.emit()
        self._set_dirty(True)
        self.changed.emit(box)
