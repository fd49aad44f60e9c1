"""The open image: pixels, ground truth, prediction, undo history and live metrics.

Every change to the ground truth goes through :meth:`Document.edit` (inside a stroke),
:meth:`Document.apply` (a one-shot stroke) or undo/redo, and ends in ``_sync(box)``: the IoU
confusion matrix and the "changed by the human" count follow the box from a shadow copy of its
old contents, then ``changed(box)`` tells views to repaint that box. Nothing here scans the whole
image per edit. Qt-light: a QObject only for its signals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from PySide6.QtCore import QObject, Signal

from segstudio.core.box import Box
from segstudio.core.edits import Protect, Recorder, set_from_mask
from segstudio.core.history import History
from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import Palette
from segstudio.core.scribbles import ScribbleMap

Edit = Callable[[LabelMap, Recorder], Box]
"""An edit of the ground truth: writes through the recorder it is given, returns the changed box."""


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
        self._recorder: Recorder | None = None
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

    def begin_stroke(self) -> None:
        """Start one undo step (a mouse press); edits until ``end_stroke`` undo together."""
        self._recorder = self.history.begin(self.labels)

    def end_stroke(self) -> Box:
        """Close the undo step; returns the box it changed overall."""
        self._recorder = None
        return self.history.end()

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

    def undo(self) -> Box:
        if self.in_stroke:
            return Box.empty()
        box = self.history.undo(self.labels)
        self._sync(box)
        return box

    def redo(self) -> Box:
        if self.in_stroke:
            return Box.empty()
        box = self.history.redo(self.labels)
        self._sync(box)
        return box

    def accept_prediction(self, category: int | None = None, replace: bool = False) -> Box:
        """Copy the prediction (all of it, or one class) into the ground truth as one undo step.

        Written with MODEL provenance; pixels a human wrote are kept unless ``replace``. Predicted
        instance ids are moved past the ground truth's so they never merge with existing objects.
        """
        prediction = self.prediction
        if prediction is None:
            return Box.empty()
        protect = Protect.NONE if replace else Protect.HUMAN
        offset = self.labels.next_instance() - 1
        segments = [s for s in prediction.segments() if category is None or s.category == category]
        changed = Box.empty()
        with self.stroke():
            for segment in segments:
                window = segment.box.slices
                mask = (prediction.category[window] == segment.category) & (
                    prediction.instance[window] == segment.instance
                )
                instance = segment.instance + offset if segment.instance else 0
                changed = changed.union(
                    self.edit(
                        lambda labels, recorder, m=mask, s=segment, i=instance: set_from_mask(
                            labels,
                            m,
                            (s.category, i),
                            box=s.box,
                            provenance=Provenance.MODEL,
                            protect=protect,
                            recorder=recorder,
                        )
                    )
                )
        return changed

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
