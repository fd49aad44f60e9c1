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


def _counting(shape: tuple[int, int]) -> tuple[Document, Worker, LivePQ, list[object]]:
    """A document with a prediction, the live count on a real worker, and the results it delivers."""
    labels = LabelMap.from_arrays(np.zeros(shape, np.uint16), None, Provenance.HUMAN)
    prediction = LabelMap.from_arrays(np.zeros(shape, np.uint16), None, Provenance.MODEL)
    model = LabelDocument("img", np.zeros((*shape, 3), np.uint8), labels, builtin_palette("voc"), prediction)
    document, worker = Document(model), Worker()
    live = LivePQ(JobClient(lambda: worker))
    results: list[object] = []
    worker.finished.connect(lambda job_id, result: results.append(result))
    return document, worker, live, results


def _held(worker: Worker) -> threading.Event:
    """Holds the worker until the returned event is set (a job queued meanwhile waits)."""
    gate = threading.Event()
    worker.submit(Job("gate", "gate", lambda context: gate.wait(5), Priority.INTERACTIVE))
    return gate


def test_a_count_overtaken_by_long_work_stops_before_copying(qtbot) -> None:
    """Long work (a fill's bands) began between the ask and the start: nothing is copied or
    counted, and the work's end asks for a count of the labels as they are then."""
    document, worker, live, results = _counting((400, 400))  # two bands of long work
    try:
        gate = _held(worker)
        live.set_document(document)  # asks for a count: queued behind the gate
        band = np.ones((400, 400), bool)
        document.apply_in_bands(
            Box(0, 0, 400, 400),
            lambda m, rec, b: apply_mask(m, b, band[b.slices], (5, 0), recorder=rec),
            "Filling",
        )
        assert document.busy  # the first band is written, the second waits for the event loop
        after = threading.Event()  # a batch job runs after the count, never at its check points
        worker.submit(Job("after", "after", lambda context: after.set(), Priority.BATCH))
        gate.set()
        assert after.wait(5)  # the count ran while the long work was still under way
        qtbot.waitUntil(lambda: len(results) == 3, timeout=5000)
        assert results[1] is None and live.quality is None
        qtbot.waitUntil(lambda: live.quality is not None, timeout=5000)  # counted after the work ended
        assert not document.busy
    finally:
        assert worker.stop()


def test_a_count_asked_before_a_stroke_still_counts(qtbot) -> None:
    """An ordinary edit between the ask and the start: the count goes on (numbers keep coming
    during a long stroke)."""
    document, worker, live, results = _counting(SHAPE)
    try:
        gate = _held(worker)
        live.set_document(document)
        mask = np.ones((10, 10), bool)
        document.apply(lambda m, rec: apply_mask(m, Box(0, 0, 10, 10), mask, (5, 0), recorder=rec))
        gate.set()
        qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
        assert results[1] is not None
    finally:
        assert worker.stop()
