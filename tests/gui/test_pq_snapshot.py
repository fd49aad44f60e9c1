"""The live PQ count's snapshot is copied on the worker and dropped when an edit landed meanwhile
(or before it started)."""

from __future__ import annotations

import threading

import numpy as np

from segstudio.core.box import Box
from segstudio.core.edits import apply_mask
from segstudio.core.label_document import LabelDocument
from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.palette import builtin_palette
from segstudio.gui.document.document import Document
from segstudio.gui.panels.pq_live import LivePQ, consistent_snapshot
from segstudio.gui.threads.job_client import JobClient
from segstudio.gui.threads.worker import Job, Priority, Worker

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


def test_a_count_asked_before_an_edit_is_dropped_before_copying(qtbot) -> None:
    """The labels moved between the ask and the start (a fill's bands began): nothing is copied
    or counted, and a count is scheduled again for the labels as they are."""
    labels = LabelMap.from_arrays(np.zeros(SHAPE, np.uint16), None, Provenance.HUMAN)
    prediction = LabelMap.from_arrays(np.zeros(SHAPE, np.uint16), None, Provenance.MODEL)
    model = LabelDocument("img", np.zeros((*SHAPE, 3), np.uint8), labels, builtin_palette("voc"), prediction)
    document = Document(model)
    worker = Worker()
    try:
        live = LivePQ(JobClient(lambda: worker))
        results: list[object] = []
        worker.finished.connect(lambda job_id, result: results.append(result))
        gate = threading.Event()
        worker.submit(Job("gate", "gate", lambda context: gate.wait(5), Priority.INTERACTIVE))
        live.document = document  # no count on assignment: the next one is asked below
        document.metrics_changed.connect(live._schedule)
        assert live.recount() is not None  # queued behind the gate
        mask = np.ones((10, 10), bool)
        document.apply(lambda m, rec: apply_mask(m, Box(0, 0, 10, 10), mask, (5, 0), recorder=rec))
        live._timer.stop()  # the edit's own scheduling: only the dropped count's is looked at
        gate.set()
        qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
        assert results[1] is None and live.quality is None
        assert live._timer.isActive()  # asked again
        with qtbot.waitSignal(live.updated, timeout=5000) as updated:
            live.recount()
        assert updated.args[0] is not None and live.quality is not None
    finally:
        assert worker.stop()
