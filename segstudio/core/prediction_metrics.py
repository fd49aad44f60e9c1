"""A prediction's live metrics counted off the GUI thread, against a snapshot of the labels.

Counting a new 12 MP prediction against the ground truth (confusion matrix and human corrections)
costs ~70 ms; done where the prediction is made (a worker), the GUI thread only checks that the
labels have not changed since the snapshot (the document's revision) and takes the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from segstudio.core.labels import Provenance
from segstudio.core.metrics import ConfusionMatrix


def human_corrections(gt_category: np.ndarray, provenance: np.ndarray, pred_category: np.ndarray) -> int:
    """Pixels a human wrote last whose class differs from the prediction (OpenCV's compares on
    large maps: a new 12 MP prediction counts them on the GUI thread)."""
    if gt_category.ndim == 2 and gt_category.size >= 4096 and provenance.dtype == np.uint8:
        differs = cv2.compare(gt_category, pred_category, cv2.CMP_NE)
        differs &= cv2.compare(provenance, float(Provenance.HUMAN), cv2.CMP_EQ)
        return int(cv2.countNonZero(differs))
    return int(np.count_nonzero((provenance == Provenance.HUMAN) & (gt_category != pred_category)))


@dataclass(frozen=True)
class PredictionMetrics:
    """A prediction's confusion counts and human corrections against the labels at ``revision``."""

    revision: int
    class_ids: tuple[int, ...]
    confusion: ConfusionMatrix
    corrections: int

    def holds_for(self, revision: int, class_ids: tuple[int, ...]) -> bool:
        """Whether the counts still apply: the same labels (revision) and the same classes."""
        return revision == self.revision and class_ids == self.class_ids


@dataclass(frozen=True)
class LabelsSnapshot:
    """The ground truth at one revision of the open image (copies: never changed afterwards)."""

    revision: int
    category: np.ndarray
    provenance: np.ndarray
    class_ids: tuple[int, ...]

    def count(self, prediction: np.ndarray) -> PredictionMetrics:
        """The metrics of category map ``prediction`` against these labels."""
        confusion = ConfusionMatrix.from_maps(self.category, prediction, self.class_ids)
        corrections = human_corrections(self.category, self.provenance, prediction)
        return PredictionMetrics(self.revision, self.class_ids, confusion, corrections)
