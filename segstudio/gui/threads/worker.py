"""The one long-lived background thread: jobs in, signals out, widgets never touched off the GUI thread.

Every slow thing the window asks for (pre-labelling with a model, fine-tuning, the scribble
classifier, GrabCut on a large box) is a :class:`Job`: a function of a :class:`JobContext` that
runs on the worker thread on a snapshot the caller took (copies of arrays, never live widgets).
The worker knows nothing of torch: the model half arrives as plain callables from ``app.py``.

Rules (DESIGN.md, "Threads"):

* one job at a time, interactive jobs before batch ones; a batch job's ``token.check()`` calls are
  also yield points where waiting interactive jobs run, so a long training run never makes the
  user wait for the image they are looking at;
* a job has a ``kind`` and a ``key`` (e.g. "prelabel" and the image id). A newer job with the same
  kind and key supersedes the older one: queued, it is dropped; running, it is cancelled; its
  result, should it still arrive, is dropped as stale;
* progress, messages and partial updates are forwarded to the GUI thread (progress at most every
  ``PROGRESS_INTERVAL_S`` per job, so a fast loop cannot flood the event queue);
* a job that raises is reported with its message; the thread goes on with the next job.
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import itertools
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from segstudio.core.jobs import Cancelled, CancelToken

PROGRESS_INTERVAL_S = 0.05
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (OSError,)
"""Failures of the world, not of the code (no network, a missing or unreadable file: a failed
weights download is one): the message reaches the user, no traceback goes to stderr."""


_LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()
"""Workers whose thread may still run: joined at interpreter exit."""


@atexit.register
def _stop_live_workers() -> None:
    """A script that exits without closing its window must not destroy a running QThread (Qt aborts)."""
    for worker in list(_LIVE):
        with contextlib.suppress(RuntimeError):  # the C++ object is already gone, its thread with it
            worker.stop()


class Priority(IntEnum):
    """Lower runs first."""

    INTERACTIVE = 0
    BATCH = 1


@dataclass
class JobContext:
    """What a running job may use: its token and three ways to tell the GUI how it goes."""

    job_id: int
    token: CancelToken
    progress: Callable[[int, int], None]
    message: Callable[[str], None]
    update: Callable[[Any], None]
    """A partial result for a live view (a training curve point, a coarse prediction)."""

    def checked_progress(self, done: int, total: int) -> None:
        """Report progress at a point where stopping is safe: a cancel (and, in a batch job, a
        yield to queued interactive jobs) happens here first."""
        self.token.check()
        self.progress(done, total)


@dataclass(frozen=True)
class Job:
    """A unit of background work: ``run(context)`` returns the result delivered by ``finished``."""

    kind: str
    key: str
    run: Callable[[JobContext], Any]
    priority: Priority = Priority.BATCH
    title: str = ""
    yields: bool = False
    """An interactive job that lets interactive jobs queued meanwhile run at its check points
    (as every batch job does): a live count must not hold back a tool's job."""


@dataclass(order=True)
class _Queued:
    priority: int
    sequence: int
    job_id: int = field(compare=False)
    job: Job = field(compare=False)
    token: CancelToken = field(compare=False)


class _Loop(QThread):
    """The thread: pops jobs by priority and runs them; talks to the GUI through ``event`` only."""

    event = Signal(str, int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ready = threading.Condition()
        self.queue: list[_Queued] = []
        self.running: _Queued | None = None
        self.stopping = False
        self._nested = False

    def run(self) -> None:
        while True:
            with self.ready:
                while not self.queue and not self.stopping:
                    self.ready.wait()
                if self.stopping:
                    return
                item = heapq.heappop(self.queue)
                self.running = item
            if item.job.priority is Priority.BATCH or item.job.yields:
                item.token.set_yield_point(self._run_waiting_interactive)
            self._execute(item)
            with self.ready:
                self.running = None
                idle = not self.queue
            if idle:
                self.event.emit("idle", 0, None)

    def _run_waiting_interactive(self) -> None:
        """A batch job's check point: run the interactive jobs queued meanwhile (not recursively)."""
        if self._nested:
            return
        self._nested = True
        try:
            while True:
                with self.ready:
                    if self.stopping or not self.queue or self.queue[0].priority != Priority.INTERACTIVE:
                        return
                    item = heapq.heappop(self.queue)
                self._execute(item)
        finally:
            self._nested = False

    def _execute(self, item: _Queued) -> None:
        job_id, token = item.job_id, item.token
        if token.cancelled:
            self.event.emit("cancelled", job_id, None)
            return
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if 0 < total <= done or now - last[0] >= PROGRESS_INTERVAL_S:  # total 0: unknown
                last[0] = now
                self.event.emit("progress", job_id, (done, total))

        context = JobContext(
            job_id,
            token,
            progress,
            lambda text: self.event.emit("message", job_id, text),
            lambda payload: self.event.emit("update", job_id, payload),
        )
        self.event.emit("started", job_id, item.job.title)
        try:
            result = item.job.run(context)
        except Cancelled:
            self.event.emit("cancelled", job_id, None)
        except Exception as error:  # noqa: BLE001 (a failing job must never end the thread)
            if token.cancelled:
                self.event.emit("cancelled", job_id, None)
            else:
                if not isinstance(error, EXPECTED_FAILURES):
                    traceback.print_exc()  # a bug: its trace helps; the user gets the message either way
                self.event.emit("failed", job_id, str(error) or type(error).__name__)
        else:
            self.event.emit("cancelled" if token.cancelled else "finished", job_id, result)


class Worker(QObject):
    """The GUI's handle on the background thread. Signals arrive on the GUI thread."""

    started = Signal(int, str)
    progress = Signal(int, int, int)
    """job id, done, total"""
    message = Signal(int, str)
    update = Signal(int, object)
    finished = Signal(int, object)
    """A job's result; never emitted for a cancelled or superseded job."""
    failed = Signal(int, str)
    cancelled = Signal(int)
    """Cancelled, superseded while queued, or finished after a newer job with its kind and key came."""
    idle = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._sequence = itertools.count()
        self._tokens: dict[int, CancelToken] = {}
        self._jobs: dict[int, Job] = {}
        self._latest: dict[tuple[str, str], int] = {}
        self._loop = _Loop(self)
        self._loop.event.connect(self._on_event)
        self._loop.start()
        _LIVE.add(self)

    def submit(self, job: Job) -> int:
        """Queue ``job``, superseding any older job of the same kind and key; returns its id."""
        job_id, token = next(self._ids), CancelToken()
        self._tokens[job_id], self._jobs[job_id] = token, job
        older = self._latest.get((job.kind, job.key))
        self._latest[(job.kind, job.key)] = job_id
        if older is not None:
            self.cancel(older)
        with self._loop.ready:
            heapq.heappush(self._loop.queue, _Queued(job.priority, next(self._sequence), job_id, job, token))
            self._loop.ready.notify()
        return job_id

    def cancel(self, job_id: int) -> None:
        """Stop a job: a queued one never starts, a running one stops at its next check point."""
        token = self._tokens.get(job_id)
        if token is not None:
            token.cancel()

    def cancel_kind(self, kind: str) -> None:
        for job_id, job in list(self._jobs.items()):
            if job.kind == kind:
                self.cancel(job_id)

    def pending(self, kind: str | None = None) -> list[int]:
        """Ids of the jobs not yet reported back (queued or running), oldest first."""
        return [job_id for job_id, job in self._jobs.items() if kind is None or job.kind == kind]

    def job(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def stop(self, timeout_ms: int = 10000) -> bool:
        """Cancel everything and end the thread (at the running job's next check point)."""
        for token in self._tokens.values():
            token.cancel()
        with self._loop.ready:
            self._loop.stopping = True
            self._loop.ready.notify_all()
        return self._loop.wait(timeout_ms)

    @Slot(str, int, object)
    def _on_event(self, kind: str, job_id: int, payload: object) -> None:
        if kind == "idle":
            self.idle.emit()
        elif kind == "started":
            self.started.emit(job_id, str(payload))
        elif kind == "progress":
            done, total = payload  # type: ignore[misc]
            self.progress.emit(job_id, done, total)
        elif kind == "message":
            self.message.emit(job_id, str(payload))
        elif kind == "update":
            self.update.emit(job_id, payload)
        else:
            self._report_end(kind, job_id, payload)

    def _report_end(self, kind: str, job_id: int, payload: object) -> None:
        job = self._jobs.pop(job_id, None)
        self._tokens.pop(job_id, None)
        if job is None:
            return
        current = self._latest.get((job.kind, job.key)) == job_id
        if current:
            del self._latest[(job.kind, job.key)]
        if kind == "finished" and current:
            self.finished.emit(job_id, payload)
        elif kind == "failed" and current:
            self.failed.emit(job_id, str(payload))
        else:
            self.cancelled.emit(job_id)
