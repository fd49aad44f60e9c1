"""The open image in the GUI: the Qt face of a :class:`~segstudio.core.label_document.LabelDocument`.

The label logic (edits, undo history, live metrics) is Qt-free in ``core.label_document``; this
QObject forwards its events to Qt signals for the views and runs its long work (accepting a
prediction, a fill or GrabCut result over a large box, undo or redo of them) a band per
event-loop turn on a zero-interval timer, each band synced and repainted like a stroke, so the
window never stalls on a 12 MP image. The first band runs at once (a small edit is done when the
call returns); :meth:`Document.settle` finishes the rest before anything else touches the labels
(a new stroke, undo, save). Undo and redo write their groups back to back within a turn of
``REPLAY_TURN_S``: each turn between them costs a repaint of the whole changed view, so fewer,
fuller turns finish sooner while no turn holds the window much longer than that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.core.box import Box
from segstudio.core.history import History
from segstudio.core.label_document import BAND_PIXELS, BandEdit, Edit, LabelDocument, Strokes
from segstudio.core.labels import LabelMap
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import Palette
from segstudio.core.prediction_metrics import LabelsSnapshot, PredictionMetrics
from segstudio.core.scribbles import ScribbleMap
from segstudio.gui.document.loading import ReadScribbles, screen_pixels

__all__ = ["BAND_PIXELS", "BandEdit", "Document", "Edit", "REPLAY_TURN_S"]

REPLAY_TURN_S = 0.025
"""An undo or redo writes another group in the same event-loop turn while the turn, with one more
group as long as the last one, stays within this (a group of ``REPLAY_PIXELS`` is ~5-10 ms at
12 MP on a quiet machine: a few per turn; on a loaded one a group is a turn, as it was)."""


class Document(QObject, Strokes):
    """One image being labelled; emits ``changed(Box)`` after every change of the ground truth.

    The labels, history and metrics are ``model``'s (a :class:`LabelDocument`); the read-only
    properties below are its, so views need not know the split."""

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
    stroke_ended = Signal(object)
    """The serial of the undo step a stroke (or long edit) became; None when it made none."""
    replaying = Signal(object)
    """An undo or redo (``core.history.Replay``) is about to write its step."""
    replayed = Signal()
    """The undo or redo announced by ``replaying`` has written its last part."""

    def __init__(
        self,
        model: LabelDocument,
        parent: QObject | None = None,
        *,
        screen: np.ndarray | None = None,
        next_instance: int | None = None,
        scribbles_read: ReadScribbles | None = None,
    ) -> None:
        """``screen``: the photo as ``loading.screen_pixels`` makes it; ``next_instance``: the labels'
        first free instance id as read (both made here when not given; the loader makes them off
        the GUI thread); ``scribbles_read``: the scribble file the loader put into the model."""
        super().__init__(parent)
        self.model = model
        self.scribbles_read = scribbles_read
        self._screen = screen
        self._next_instance = model.labels.next_instance() if next_instance is None else next_instance
        self.model.changed.connect(self._note_instances)
        self.model.changed.connect(self.changed.emit)
        self.model.dirty_changed.connect(self.dirty_changed.emit)
        self.model.metrics_changed.connect(self.metrics_changed.emit)
        self.model.prediction_changed.connect(self.prediction_changed.emit)
        self.model.stroke_ended.connect(self.stroke_ended.emit)
        self.model.replaying.connect(self.replaying.emit)
        self.model.replayed.connect(self.replayed.emit)
        self._work: Iterator[None] | None = None
        self._turn_s = 0.0
        """How long one turn of the running work may take (0: a step per turn)."""
        self.replay_turn_s = REPLAY_TURN_S
        """The turn length of undo and redo (tests set 0 for a group per turn)."""
        self._work_timer = QTimer(self)
        self._work_timer.setInterval(0)
        self._work_timer.timeout.connect(self._work_step)
        self._after_stroke: list[Callable[[], None]] = []
        """Long work that arrived (from the worker) while a mouse stroke was open: started after it."""
        self._for_saves: list[Callable[[], object]] = []
        """Copies of the labels that saves on their way still have to take (before any change)."""

    # -- the model's state ----------------------------------------------------------------------

    @property
    def image_id(self) -> str:
        return self.model.image_id

    @property
    def rgb(self) -> np.ndarray:
        return self.model.rgb

    @property
    def next_instance(self) -> int:
        """An instance id no pixel has had since the document was opened (the tools count on from
        it): kept box by box as edits write, so taking a document over costs no pass over a 12 MP
        instance map, and undo and redo none over what they write back."""
        return self._next_instance

    def _note_instances(self, box: Box) -> None:
        # An undo or redo (outside any stroke) only brings back ids an edit or the opening saw.
        if self.model.in_stroke and not box.is_empty:
            self._next_instance = max(self._next_instance, int(self.labels.instance[box.slices].max()) + 1)

    @property
    def screen(self) -> np.ndarray:
        """The photo as the screen draws it (BGRX, Qt's RGB32): made off the GUI thread by the loader."""
        if self._screen is None:
            self._screen = screen_pixels(self.model.rgb)
        return self._screen

    @property
    def labels(self) -> LabelMap:
        return self.model.labels

    @property
    def prediction(self) -> LabelMap | None:
        return self.model.prediction

    @property
    def uncertainty(self) -> np.ndarray | None:
        """Per-pixel uncertainty of the prediction (uint8, 255 = two classes tie), when it has one."""
        return self.model.uncertainty

    @property
    def depth(self) -> np.ndarray | None:
        """(H, W) uint16 millimetres (0 = no reading), or None when the image has no depth map."""
        return self.model.depth

    @property
    def palette(self) -> Palette:
        return self.model.palette

    @property
    def scribbles(self) -> ScribbleMap:
        return self.model.scribbles

    @property
    def history(self) -> History:
        return self.model.history

    @property
    def revision(self) -> int:
        """Counts changes of the ground truth: a result computed from older labels is stale."""
        return self.model.revision

    @property
    def confusion(self) -> ConfusionMatrix | None:
        return self.model.confusion

    @property
    def human_corrections(self) -> int:
        """Human-written ground-truth pixels whose class differs from the prediction."""
        return self.model.human_corrections

    @property
    def dirty(self) -> bool:
        """Edits not yet saved to the project's label file."""
        return self.model.dirty

    @property
    def shape(self) -> tuple[int, int]:
        return self.model.shape

    @property
    def in_stroke(self) -> bool:
        return self.model.in_stroke

    def mark_saved(self) -> None:
        self.model.mark_saved()

    def set_prediction(
        self,
        prediction: LabelMap | None,
        uncertainty: np.ndarray | None = None,
        metrics: PredictionMetrics | None = None,
    ) -> None:
        """Show a new model (or scribble classifier) output (``LabelDocument.set_prediction``)."""
        self.model.set_prediction(prediction, uncertainty, metrics)

    def labels_snapshot(self) -> LabelsSnapshot:
        """The labels at this revision, for a worker to count a coming prediction against."""
        return self.model.labels_snapshot()

    def set_palette(self, palette: Palette) -> None:
        """Use another palette; the metrics are recounted once when its class ids differ."""
        self.model.set_palette(palette)

    # -- long work ------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Long work is under way (see :meth:`settle`)."""
        return self._work is not None

    def settle(self) -> None:
        """Finish long work now, before anything else reads or writes the labels; the saves on
        their way take their copies first (every change of the labels comes through here)."""
        takes, self._for_saves = self._for_saves, []
        for take in takes:
            take()
        while self._work is not None:
            self._work_step()

    def keep_for_save(self, take: Callable[[], object]) -> None:
        """A save copies the labels with ``take`` on its own thread; the next change calls it
        first (it returns at once when the copy is made, waits while it is being made)."""
        self._for_saves.append(take)

    def _start(self, work: Iterator[None], turn_s: float = 0.0) -> None:
        """Run ``work`` a turn now and the rest a turn per event-loop turn: a turn is one step,
        and more while one more (as long as the last) keeps it within ``turn_s``."""
        self._work, self._turn_s = work, turn_s
        self._work_step()
        if self._work is not None:
            self._work_timer.start()
            self.busy_changed.emit(True)

    def _work_step(self) -> None:
        work = self._work
        if work is None:
            return
        started = last = time.perf_counter()
        try:
            next(work)
            while (now := time.perf_counter()) - started + (now - last) <= self._turn_s:
                last = now  # one more step, expected to take as long as the last one did
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

    def _progress(self, title: str) -> Callable[[int, int], None]:
        return lambda done, total: self.work_progress.emit(title, done, total)

    # -- edits ----------------------------------------------------------------------------------

    def begin_stroke(self) -> None:
        """Start one undo step (a mouse press); edits until ``end_stroke`` undo together."""
        self.settle()
        self.model.begin_stroke()

    def end_stroke(self) -> Box:
        """Close the undo step; returns the box it changed overall."""
        box = self.model.end_stroke()
        waiting, self._after_stroke = self._after_stroke, []
        for start in waiting:
            QTimer.singleShot(0, self, start)
        return box

    def edit(self, edit: Edit) -> Box:
        """Run one edit inside the current stroke and propagate its box."""
        return self.model.edit(edit)

    def undo(self) -> None:
        """Revert the last step, part by part (a long step's groups back to back within turns of
        ``replay_turn_s``)."""
        self.settle()
        if not self.in_stroke:
            self._start(self.model.undo_work(self._progress("Undoing")), self.replay_turn_s)

    def redo(self) -> None:
        self.settle()
        if not self.in_stroke:
            self._start(self.model.redo_work(self._progress("Redoing")), self.replay_turn_s)

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
        self._start(self.model.band_work(box, edit, self._progress(title), done))

    def accept_prediction(
        self,
        category: int | None = None,
        replace: bool = False,
        done: Callable[[Box], None] | None = None,
    ) -> None:
        """Copy the prediction (all of it, or one class) into the ground truth as one undo step,
        band by band (long work); ``done`` gets the changed box (empty: nothing to accept).
        See ``LabelDocument.accept_edit`` for what is written."""
        self.settle()
        accept = self.model.accept_edit(category, replace)
        if accept is None:
            if done is not None:
                done(Box.empty())
            return
        self.apply_in_bands(Box.full(self.shape), accept, "Accepting the prediction", done)
