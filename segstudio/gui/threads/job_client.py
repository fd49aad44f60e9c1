"""Per-job callbacks on the shared worker: each feature hears only about the jobs it submitted.

The worker runs everybody's jobs (models, the scribble classifier, GrabCut, superpixels) and
emits one set of signals; :class:`JobClient` routes them to the :class:`Handlers` given with each
job, on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from segstudio.gui.threads.worker import Job, Worker


@dataclass
class Handlers:
    """What to call when one job reports back (all optional)."""

    done: Callable[[Any], None] | None = None
    failed: Callable[[str], None] | None = None
    cancelled: Callable[[], None] | None = None
    progress: Callable[[int, int], None] | None = None
    update: Callable[[Any], None] | None = None
    message: Callable[[str], None] | None = None


class JobClient(QObject):
    """Submits jobs to the window's worker (created on first use) and routes back their signals."""

    def __init__(self, worker: Callable[[], Worker], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._get_worker = worker
        self._worker: Worker | None = None
        self._handlers: dict[int, Handlers] = {}

    @property
    def worker(self) -> Worker:
        if self._worker is None:
            worker = self._worker = self._get_worker()
            worker.finished.connect(lambda job_id, result: self._end(job_id, "done", result))
            worker.failed.connect(lambda job_id, text: self._end(job_id, "failed", text))
            worker.cancelled.connect(lambda job_id: self._end(job_id, "cancelled", None))
            worker.progress.connect(self._progress)
            worker.update.connect(lambda job_id, payload: self._call(job_id, "update", payload))
            worker.message.connect(lambda job_id, text: self._call(job_id, "message", text))
        return self._worker

    def submit(self, job: Job, handlers: Handlers | Callable[[int], Handlers]) -> int:
        """Queue ``job``; ``handlers`` may be a function of the new job's id."""
        job_id = self.worker.submit(job)
        self._handlers[job_id] = handlers(job_id) if callable(handlers) else handlers
        return job_id

    def cancel(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self.worker.cancel(job_id)

    def pending(self) -> list[int]:
        return list(self._handlers)

    def _progress(self, job_id: int, done: int, total: int) -> None:
        handlers = self._handlers.get(job_id)
        if handlers is not None and handlers.progress is not None:
            handlers.progress(done, total)

    def _call(self, job_id: int, what: str, payload: Any) -> None:
        handlers = self._handlers.get(job_id)
        callback = None if handlers is None else getattr(handlers, what)
        if callback is not None:
            callback(payload)

    def _end(self, job_id: int, what: str, payload: Any) -> None:
        handlers = self._handlers.pop(job_id, None)
        if handlers is None:
            return
        if what == "cancelled":
            if handlers.cancelled is not None:
                handlers.cancelled()
        else:
            callback = handlers.done if what == "done" else handlers.failed
            if callback is not None:
                callback(payload)


class SoloJob(QObject):
    """One job at a time of one feature (an export, an import), with its outcome as signals."""

    progress = Signal(int, int)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, jobs: JobClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.job_id: int | None = None

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def start(self, job: Job) -> int:
        """Submit ``job`` (the caller checks ``running`` first: one at a time)."""
        self.job_id = self.jobs.submit(
            job,
            Handlers(
                done=lambda result: self._end(self.done.emit, result),
                failed=lambda text: self._end(self.failed.emit, text),
                cancelled=lambda: self._end(self.cancelled.emit),
                progress=self.progress.emit,
            ),
        )
        return self.job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.jobs.cancel([self.job_id])

    def _end(self, emit: Callable[..., None], *payload: Any) -> None:
        self.job_id = None
        emit(*payload)
