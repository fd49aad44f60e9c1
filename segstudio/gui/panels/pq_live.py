"""Panoptic quality of the open image's prediction against its ground truth, following the edits.

Unlike IoU, PQ cannot be updated from a stroke's box (a stroke can merge or split segments,
changing matches anywhere), so it is recounted whole (``core.label_pq``: ~0.17 s at 12 MP) on
the shared worker from a snapshot of the labels, at most every ``THROTTLE_MS`` while edits come
in. The snapshot (72 MB at 12 MP, 20-160 ms) is copied on the worker, not the GUI thread: the
copy is kept only when the labels' revision did not move while it was taken (edits happen on the
GUI thread meanwhile); a torn copy counts nothing and the count is scheduled again. A newer
count supersedes an older one for the same image, so the dock never shows a stale number after
the latest edit's count arrives. While the document
writes long work band by band (``Document.busy``) nothing is counted: the count follows its end.
A count never holds back a tool: it lets jobs queued meanwhile (a fill's region search) run at its
check points (``Job.yields``), and stops there when long work began after it was asked (a count
started as a fill's bands are written would only copy 72 MB to throw away). Strokes do not stop
it: a long stroke still shows numbers as it goes.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.core.label_document import LabelDocument
from segstudio.core.label_pq import PanopticQuality, label_map_pq
from segstudio.gui.document.document import Document
from segstudio.gui.threads.job_client import Handlers, JobClient
from segstudio.gui.threads.worker import Job, JobContext, Priority

THROTTLE_MS = 250
PQ_KIND = "pq"


def consistent_snapshot(model: LabelDocument) -> tuple[np.ndarray, np.ndarray, set[tuple[int, int]]] | None:
    """Category, instance and crowd copied off the GUI thread; None when an edit landed meanwhile
    (``revision`` moves with every change of the ground truth): the count is asked again after the
    edits pause, never retried in a loop that would copy 72 MB per band of long work."""
    revision, labels = model.revision, model.labels
    try:
        snapshot = labels.category.copy(), labels.instance.copy(), set(labels.crowd)
    except RuntimeError:  # the crowd set changed while it was read: an edit
        return None
    return snapshot if model.revision == revision else None


class _Stale(Exception):
    """The labels changed while a count ran: it stops, and the next count is scheduled."""


class LivePQ(QObject):
    """Recounts PQ for the open document after edits; ``updated`` carries it (None: no prediction)."""

    updated = Signal(object)
    failed = Signal(str)

    def __init__(self, jobs: JobClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.document: Document | None = None
        self.quality: PanopticQuality | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(THROTTLE_MS)
        self._timer.timeout.connect(self.recount)
        self.active = True
        """False while the IoU dock is hidden: edits then cost no recount (showing it recounts)."""

    def set_document(self, document: Document | None) -> None:
        if self.document is not None:
            self.document.metrics_changed.disconnect(self._schedule)
            self.document.busy_changed.disconnect(self._schedule)
        self.document = document
        self.quality = None
        self.updated.emit(None)
        if document is not None:
            document.metrics_changed.connect(self._schedule)
            document.busy_changed.connect(self._schedule)
            self.recount()

    def set_active(self, active: bool) -> None:
        """Count only while someone looks (the IoU dock is shown); showing it counts at once."""
        if active == self.active:
            return
        self.active = active
        if active:
            self.recount()
        else:
            self._timer.stop()

    def _schedule(self) -> None:
        """A throttle, as the IoU dock's: numbers keep coming during a long stroke (not during
        long work: its end schedules the count)."""
        busy = self.document is not None and self.document.busy
        if self.active and not busy and not self._timer.isActive():
            self._timer.start()

    def recount(self) -> int | None:
        """Count now (on the worker); returns the job id, None when there is nothing to compare."""
        self._timer.stop()
        document = self.document
        if not self.active or (document is not None and document.busy):
            return None
        if document is None or document.prediction is None:
            if self.quality is not None:
                self.quality = None
                self.updated.emit(None)
            return None
        model, prediction = document.model, document.prediction  # the prediction is never edited
        isthing = {c.id: c.isthing for c in document.palette}

        def run(context: JobContext) -> PanopticQuality | None:
            def check() -> None:
                context.token.check()  # a tool's job queued meanwhile (a fill's region search) runs here
                if document.busy:  # long work began after the ask: its end asks for a count again
                    raise _Stale

            try:
                check()
                snapshot = consistent_snapshot(model)
                if snapshot is None:
                    return None
                check()
                gt_category, gt_instance, crowd = snapshot
                return label_map_pq(
                    gt_category, gt_instance, prediction.category, prediction.instance, isthing, crowd, check
                )
            except _Stale:
                return None

        job = Job(
            PQ_KIND, document.image_id, run, Priority.INTERACTIVE, "Counting panoptic quality", yields=True
        )
        return self.jobs.submit(job, Handlers(done=lambda q: self._counted(document, q), failed=self._failed))

    def _counted(self, document: Document, quality: PanopticQuality | None) -> None:
        if document is not self.document:
            return
        if quality is None:  # the labels changed while the snapshot was taken: count them again
            self._schedule()
            return
        self.quality = quality
        self.updated.emit(quality)

    def _failed(self, text: str) -> None:
        self.quality = None
        self.failed.emit(text)
