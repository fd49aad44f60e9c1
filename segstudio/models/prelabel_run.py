"""The driver of a dataset-wide pre-label run: what to do, who does it, and the project's record.

Whoever runs the batches (``local_batches`` here, in this process; ``segstudio.cluster.prelabel``
on a Ray cluster) writes the prediction files; the driver alone writes the index, one transaction
per finished batch (which model made each file, unlabelled -> pre-labelled). So:

- a rerun skips every image whose prediction the same model and weights made (``--only`` picks
  the candidates; the index answers "done?" without opening a file);
- the records of images about to be redone are dropped before any is rewritten, so a stopped
  run never leaves a record naming another model than the file's;
- a stopped or crashed run leaves whole prediction files only (each is written atomically); a file
  written but not yet recorded is simply redone by the next run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from segstudio.io.prediction_files import ImageTask
from segstudio.io.project import ImageState, Project
from segstudio.models.prelabel import BatchLabeller, PrelabelPlan

Only = Literal["unlabelled", "all"]
ONLY_STATES: dict[str, tuple[ImageState, ...] | None] = {
    "unlabelled": (ImageState.UNLABELLED, ImageState.PRELABELLED),
    "all": None,
}
"""``--only``: "unlabelled" = no person has labelled it yet (unlabelled or pre-labelled)."""

Finished = tuple[Sequence[ImageTask], Sequence[str]]
"""A finished batch: its tasks and, per task, "" (prediction written) or why it failed."""
Executor = Callable[[PrelabelPlan, list[ImageTask]], Iterator[Finished]]
ProgressCallback = Callable[[int, int], None]


@dataclass
class PrelabelSummary:
    """What a run did; ``stopped`` when Ctrl+C (or the caller) ended it early."""

    model: str
    weights: str
    candidates: int
    """Images ``--only`` chose."""
    skipped: int
    """Of those, already pre-labelled by this model and weights."""
    labelled: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False

    @property
    def remaining(self) -> int:
        return self.candidates - self.skipped - self.labelled - len(self.failed)

    @property
    def images_per_s(self) -> float:
        return self.labelled / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights": self.weights,
            "candidates": self.candidates,
            "skipped": self.skipped,
            "labelled": self.labelled,
            "failed": [{"image": image, "error": error} for image, error in self.failed],
            "remaining": self.remaining,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 2),
            "stopped": self.stopped,
        }


def pending_tasks(project: Project, plan: PrelabelPlan, only: Only) -> tuple[list[ImageTask], int]:
    """The images to do (list order) and how many ``only`` chose in all."""
    states = ONLY_STATES[only]
    candidates = len(project) if states is None else sum(project.state_counts()[s] for s in states)
    entries = project.entries(states, unpredicted_by=plan.source)
    return [project.image_task(entry) for entry in entries], candidates


def local_batches(
    plan: PrelabelPlan, tasks: list[ImageTask], num_threads: int | None = None
) -> Iterator[Finished]:
    """Run the batches in this process, ``num_threads`` torch threads (default: every core)."""
    labeller = BatchLabeller(plan, num_threads=num_threads or os.cpu_count())
    for start in range(0, len(tasks), plan.batch_size):
        batch = tasks[start : start + plan.batch_size]
        yield batch, labeller(batch)


class _CtrlC:
    """Ctrl+C for the length of a run (main thread only: signals go there). Outside ``deferred``
    blocks it raises KeyboardInterrupt at once, as Python's own handler does; inside one it is
    raised when the block ends. Either way it is also noted, and ``check`` raises it when the next
    batch arrives: library code the interrupt lands in while waiting (Ray Data's iterator and its
    clean-up) could otherwise swallow it, and the run would go on to the end (seen once in CI)."""

    def __init__(self) -> None:
        self.noted = False
        self._deferring = False

    def _handle(self, number: int, frame: object) -> None:
        self.noted = True
        if not self._deferring:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Ctrl+C during the block is raised when it ends."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        self.check()

    def check(self) -> None:
        if self.noted:
            raise KeyboardInterrupt


def run_prelabel(
    project: Project,
    plan: PrelabelPlan,
    only: Only,
    execute: Executor = local_batches,
    progress: ProgressCallback | None = None,
) -> PrelabelSummary:
    """Pre-label what ``only`` chooses and this model has not done yet; see the module notes.

    Ctrl+C (KeyboardInterrupt) stops the executor and returns the summary with ``stopped``: what
    finished is recorded, the rest is done by the next run.
    """
    tasks, candidates = pending_tasks(project, plan, only)
    summary = PrelabelSummary(plan.source.model, plan.source.weights, candidates, candidates - len(tasks))
    start = time.perf_counter()
    if progress is not None:
        progress(0, len(tasks))
    if not tasks:
        return summary
    project.forget_predictions([task.id for task in tasks])
    batches = execute(plan, tasks)
    ctrl_c = _CtrlC()
    try:
        with ctrl_c.installed():
            for batch, errors in batches:
                ctrl_c.check()  # a Ctrl+C that the wait for this batch swallowed
                with ctrl_c.deferred():  # recorded and counted together, or neither
                    written = [t.id for t, e in zip(batch, errors, strict=True) if not e]
                    project.record_predictions(written, plan.source)
                    summary.failed += [(t.id, e) for t, e in zip(batch, errors, strict=True) if e]
                    summary.labelled += len(written)
                if progress is not None:
                    progress(summary.labelled + len(summary.failed), len(tasks))
    except KeyboardInterrupt:
        summary.stopped = True
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        summary.seconds = time.perf_counter() - start
    return summary
