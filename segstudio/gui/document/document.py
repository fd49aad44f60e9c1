"""The open image: pixels, ground truth, prediction, undo history and live metrics.

Every change to the ground truth goes through :meth:`Document.edit` (inside a stroke),
:meth:`Document.apply` (a one-shot stroke) or undo/redo, and ends in ``_sync(box)``: the IoU
confusion matrix and the "changed by the human" count follow the box from a shadow copy of its
old contents, then ``changed(box)`` tells views to repaint that box. Nothing here scans the whole
image per edit. Qt-light: a QObject for its signals and one zero-interval timer.

Long edits (accepting a prediction, a fill or GrabCut result over a large box, undo or redo of
them) run as *work*: a band of at most ``BAND_PIXELS`` per event-loop turn, each band synced and
repainted like a stroke, so the window never stalls on a 12 MP image. The first band runs at
once (a small edit is done when the call returns); :meth:`Document.settle` finishes the rest
before anything else touches the labels (a new stroke, undo, save).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.core.box import Box
from segstudio.core.edits import Protect, Recorder, copy_prediction
from segstudio.core.history import History, StrokeRecorder
from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import Palette
from segstudio.core.scribbles import ScribbleMap

Edit = Callable[[LabelMap, Recorder], Box]
"""An edit of the ground truth: writes through the recorder it is given, returns the changed box."""

BandEdit = Callable[[LabelMap, Recorder, Box], Box]
"""An edit confined to a band (a box) it is given: one slice of a long edit."""

BAND_PIXELS = 1 << 17
"""Pixels per band of long work: a few milliseconds of writing, syncing and repainting."""


def _human_corrections(gt_category: np.ndarray, provenance: np.ndarray, pred_category: np.ndarray) -> int:
    """Pixels a human wrote last whose class differs from the prediction."""
    return int(np.count_nonzero((provenance == Provenance.HUMAN) & (gt_category != pred_category)))


class Document(QObject):
    """One image being labelled; emits ``changed(Box)`` after every change of the ground truth."""

    changed = Signal(object)
    """Box of ground-truth pixels that changed (repaint it)."""
    dirty_changed = Signal(bool)
    metrics_changed = Signal()
    """The confusion matrix or the correction count moved (only with a prediction)."""
    prediction_changed = Signal()
    """A new prediction replaced the old one (or none): views rebuild the prediction overlays."""
    scribbles_changed = Signal(object)
    """Box of ``scribbles`` that changed (repaint it; the scribble classifier retrains)."""
    work_progress = Signal(str, int, int)
    """(title, bands done, bands) of long work (see the module notes)."""
    busy_changed = Signal(bool)
    """Long work started (True, after its first band) or ended (False)."""

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
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if labels.shape != rgb.shape[:2]:
            raise ValueError(f"{image_id}: labels are {labels.shape}, image is {rgb.shape[:2]}")
        if prediction is not None and prediction.shape != labels.shape:
            raise ValueError(f"{image_id}: prediction is {prediction.shape}, labels are {labels.shape}")
        if depth is not None and depth.shape != labels.shape:
            raise ValueError(f"{image_id}: depth map is {depth.shape}, labels are {labels.shape}")
        self.image_id = image_id
        self.rgb = rgb
        self.labels = labels
        self.prediction = prediction
        self.depth = depth
        """(H, W) uint16 millimetres (0 = no reading), or None when the image has no depth map."""
        self.palette = palette
        self.history = History()
        self._recorder: StrokeRecorder | None = None
        self.revision = 0
        """Counts changes of the ground truth: a result computed from older labels is stale."""
        self._work: Iterator[None] | None = None
        self._work_timer = QTimer(self)
        self._work_timer.setInterval(0)
        self._work_timer.timeout.connect(self._work_step)
        self._after_stroke: list[Callable[[], None]] = []
        """Long work that arrived (from the worker) while a mouse stroke was open: started after it."""
        self._dirty = dirty
        self.confusion: ConfusionMatrix | None = None
        self.human_corrections = 0
        """Human-written ground-truth pixels whose class differs from the prediction."""
        self.scribbles = ScribbleMap(labels.shape)
        """Class scribbles for the pixel classifier: beside the ground truth, never in it."""
        self.uncertainty: np.ndarray | None = None
        """Per-pixel uncertainty of the prediction (uint8, 255 = two classes tie), when it has one."""
        if prediction is not None:
            self._start_metrics()

    def _start_metrics(self) -> None:
        # Old contents of edited boxes, so metrics follow edits of any origin (undo included).
        self._shadow_category = self.labels.category.copy()
        self._shadow_provenance = self.labels.provenance.copy()
        self._recount()

    def set_prediction(self, prediction: LabelMap | None, uncertainty: np.ndarray | None = None) -> None:
        """Show a new model (or scribble classifier) output; metrics are recounted once for it.

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
        if prediction is None:
            self.confusion = None
            self.human_corrections = 0
            self.metrics_changed.emit()
        else:
            self._start_metrics()
        self.prediction_changed.emit()

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

    @property
    def busy(self) -> bool:
        """Long work is under way (see :meth:`settle`)."""
        return self._work is not None

    def settle(self) -> None:
        """Finish long work now, before anything else reads or writes the labels."""
        while self._work is not None:
            self._work_step()

    def _start(self, work: Iterator[None]) -> None:
        """Run ``work`` a step now and the rest a step per event-loop turn."""
        self._work = work
        self._work_step()
        if self._work is not None:
            self._work_timer.start()
            self.busy_changed.emit(True)

    def _work_step(self) -> None:
        work = self._work
        if work is None:
            return
        try:
            next(work)
        except StopIteration:
            self._work = None
        except BaseException:
            self._work = None
            raise
        finally:
            if self._work is None and self._work_timer.isActive():
                self._work_timer.stop()
                self.busy_changed.emit(False)

    def begin_stroke(self) -> None:
        """Start one undo step (a mouse press); edits until ``end_stroke`` undo together."""
        self.settle()
        self._recorder = self.history.begin(self.labels)

    def end_stroke(self) -> Box:
        """Close the undo step; returns the box it changed overall."""
        self._recorder = None
        box = self.history.end()
        waiting, self._after_stroke = self._after_stroke, []
        for start in waiting:
            QTimer.singleShot(0, self, start)
        return box

    def edit(self, edit: Edit) -> Box:
        """Run one edit inside the current stroke and propagate its box."""
        if self._recorder is None:
            raise RuntimeError("edit() needs a stroke; call begin_stroke() or use apply()")
        box = edit(self.labels, self._recorder)
        self._sync(box)
        return box

    def apply(self, edit: Edit) -> Box:
        """Run an edit as a stroke of its own (a fill, a polygon, GrabCut)."""
        with self.stroke():
            return self.edit(edit)

    @contextmanager
    def stroke(self) -> Iterator[None]:
        self.begin_stroke()
        try:
            yield
        finally:
            self.end_stroke()

    def undo(self) -> None:
        """Revert the last step, part by part (a long step's bands a turn each)."""
        self.settle()
        if not self.in_stroke:
            self._start(self._replay(self.history.undo_parts(self.labels), "Undoing"))

    def redo(self) -> None:
        self.settle()
        if not self.in_stroke:
            self._start(self._replay(self.history.redo_parts(self.labels), "Redoing"))

    def _replay(self, parts: Iterator[Box], title: str) -> Iterator[None]:
        for done, box in enumerate(parts, 1):
            self._sync(box)
            self.work_progress.emit(title, done, 0)
            yield

    def apply_in_bands(
        self, box: Box, edit: BandEdit, title: str, done: Callable[[Box], None] | None = None
    ) -> None:
        """Run ``edit`` over ``box`` band by band as one undo step (long work, see the module
        notes); ``done`` gets the box it changed at the end. Arriving while a mouse stroke is open
        (a worker's result mid-drag), it starts when the stroke ends, as a step of its own."""
        if self.in_stroke and self._work is None:
            self._after_stroke.append(lambda: self.apply_in_bands(box, edit, title, done))
            return
        self.settle()
        self._start(self._banded(box.clip(self.shape).bands(BAND_PIXELS), edit, title, done))

    def _banded(
        self, bands: list[Box], edit: BandEdit, title: str, done: Callable[[Box], None] | None
    ) -> Iterator[None]:
        recorder = self._recorder = self.history.begin(self.labels)
        changed = Box.empty()
        try:
            for count, band in enumerate(bands, 1):
                changed = changed.union(self.edit(lambda labels, recorder, b=band: edit(labels, recorder, b)))
                recorder.seal()
                self.work_progress.emit(title, count, len(bands))
                if count < len(bands):
                    yield
        finally:
            self.end_stroke()
        if done is not None:
            done(changed)

    def accept_prediction(
        self,
        category: int | None = None,
        replace: bool = False,
        done: Callable[[Box], None] | None = None,
    ) -> None:
        """Copy the prediction (all of it, or one class) into the ground truth as one undo step,
        band by band (long work); ``done`` gets the changed box (empty: nothing to accept).

        Written with MODEL provenance; pixels a human wrote are kept unless ``replace``. Predicted
        instance ids are moved past the ground truth's so they never merge with existing objects.
        """
        self.settle()
        prediction = self.prediction
        if prediction is None:
            if done is not None:
                done(Box.empty())
            return
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

        self.apply_in_bands(Box.full(self.shape), accept, "Accepting the prediction", done)

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
        self.human_corrections = _human_corrections(
            self.labels.category, self.labels.provenance, self.prediction.category
        )
        self.metrics_changed.emit()

    def _sync(self, box: Box) -> None:
        """Follow a change confined to ``box``: metrics by difference, shadow copy, then tell views."""
        if box.is_empty:
            return
        self.revision += 1
        if self.prediction is not None and self.confusion is not None:
            window = box.slices
            category, provenance = self.labels.category[window], self.labels.provenance[window]
            predicted = self.prediction.category[window]
            old_category, old_provenance = self._shadow_category[window], self._shadow_provenance[window]
            self.confusion.update_box(
                box, self.labels.category, self.prediction.category, gt_before=old_category
            )
            self.human_corrections += _human_corrections(category, provenance, predicted)
            self.human_corrections -= _human_corrections(old_category, old_provenance, predicted)
            old_category[...] = category
            old_provenance[...] = provenance
            self.metrics_changed.emit()
        self._set_dirty(True)
        self.changed.emit(box)
