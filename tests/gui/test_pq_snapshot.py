"""The live PQ count's snapshot is copied on the worker and dropped when an edit landed meanwhile."""

from __future__ import annotations

import numpy as np

from segstudio.core.box import Box
from segstudio.core.edits import apply_mask
from segstudio.core.label_document import LabelDocument
from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.palette import builtin_palette
from segstudio.gui.panels.pq_live import consistent_snapshot

SHAPE = (60, 80)


class EditedWhileCopied(np.ndarray):
    """A category map whose first copy is overtaken by an edit (as the GUI thread may do)."""

    model: LabelDocument | None = None
    copies = 0

    def copy(self, *args, **kwargs):  # type: ignore[override]
        if self.model is None or self is not self.model.labels.category:  # the history's own copies
            return np.asarray(self).copy(*args, **kwargs)
        EditedWhileCopied.copies += 1
        if EditedWhileCopied.copies == 1:
            mask = np.ones((10, 10), bool)
            self.model.apply(lambda m, rec: apply_mask(m, Box(0, 0, 10, 10), mask, (5, 0), recorder=rec))
        return np.asarray(self).copy(*args, **kwargs)


def test_a_copy_overtaken_by_an_edit_is_dropped_and_the_next_one_kept() -> None:
    category = np.zeros(SHAPE, np.uint16).view(EditedWhileCopied)
    labels = LabelMap(category, np.zeros(SHAPE, np.uint32), np.full(SHAPE, Provenance.HUMAN, np.uint8))
    model = LabelDocument("img", np.zeros((*SHAPE, 3), np.uint8), labels, builtin_palette("voc"))
    EditedWhileCopied.model, EditedWhileCopied.copies = model, 0
    assert consistent_snapshot(model) is None  # the revision moved under the copy
    taken = consistent_snapshot(model)
    assert taken is not None and EditedWhileCopied.copies == 2
    snapshot, instance, crowd = taken
    assert (snapshot[:10, :10] == 5).all() and not np.shares_memory(snapshot, model.labels.category)
    np.testing.assert_array_equal(snapshot, model.labels.category)
    assert instance.shape == SHAPE and crowd == set()
