"""The GUI-thread stall probe: a QTimer heartbeat whose longest late tick is the longest time the
event loop was kept from running (a menu click, a repaint not served).

With ``SEGSTUDIO_STALL_STACKS`` set in the environment, every probe also samples the GUI thread's
stack while it is late (a watcher thread, every ``SAMPLE_MS``) and prints, at ``stop()``, where each
stall over ``REPORT_MS`` spent its time: how ``bench gui`` finds what keeps the event loop from
running. A sample is taken when the watcher next holds the GIL, so a C call that keeps the GIL shows
as the Python line that made it. Off by default: the watcher costs the GUI thread GIL switches."""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

from segstudio.gui.threads.worker import Job, Worker

PROBE_MS = 5
STACKS_ENV = "SEGSTUDIO_STALL_STACKS"
SAMPLE_MS = 2.0
REPORT_MS = 50.0
"""Stalls longer than this are reported with their stacks (the GUI goal)."""
STACK_DEPTH = 6
"""Innermost frames of the program's own code kept per sample."""


class StallProbe:
    """A QTimer on the GUI thread; the longest gap between ticks, less the interval, is the stall."""

    def __init__(self, interval_ms: int = PROBE_MS, label: str = "") -> None:
        self.interval_ms = interval_ms
        self.label = label
        self.max_stall_ms = 0.0
        self.ticks = 0
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._sampler = StackSampler(self) if os.environ.get(STACKS_ENV) else None

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()
        if self._sampler is not None:
            self._sampler.start()

    def stop(self) -> None:
        self._tick()
        self._timer.stop()
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler.report(self.label, sys.stderr)

    @property
    def last_tick(self) -> float:
        """``perf_counter()`` of the latest tick."""
        return self._last

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = (now - self._last) * 1000 - self.interval_ms
        self.max_stall_ms = max(self.max_stall_ms, stall)
        if self._sampler is not None:
            self._sampler.tick(stall)
        self._last = now
        self.ticks += 1


class StackSampler:
    """Samples the thread that runs ``probe`` (the GUI thread) whenever its ticks are late."""

    def __init__(self, probe: StallProbe) -> None:
        self._probe = probe
        self._thread_id = threading.get_ident()
        self._current: list[tuple[str, ...]] = []
        self.stalls: list[tuple[float, collections.Counter[tuple[str, ...]]]] = []
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="stall-sampler", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()

    def tick(self, stall_ms: float) -> None:
        """GUI thread: a tick ended the current stall; keep its samples when it was long."""
        samples, self._current = self._current, []
        if stall_ms > REPORT_MS:
            self.stalls.append((stall_ms, collections.Counter(samples)))

    def _watch(self) -> None:
        late_s = (self._probe.interval_ms + SAMPLE_MS) / 1000
        while not self._stop.wait(SAMPLE_MS / 1000):
            if time.perf_counter() - self._probe.last_tick < late_s:
                continue
            frame = sys._current_frames().get(self._thread_id)
            if frame is not None:
                self._current.append(_own_frames(frame))

    def report(self, label: str, out) -> None:  # noqa: ANN001 (a text stream)
        """Print each long stall's most sampled stacks, longest stall first."""
        for stall_ms, counts in sorted(self.stalls, key=lambda item: -item[0]):
            print(f"[stall {label}] {stall_ms:.0f} ms, {sum(counts.values())} samples", file=out)
            for stack, count in counts.most_common(4):
                print(f"  {count:4d}x " + "\n        ".join(stack), file=out)


def _own_frames(frame) -> tuple[str, ...]:  # noqa: ANN001 (a frame object)
    """The sampled stack as 'file:line function' lines, innermost first, the program's frames
    (and the library call they made) only."""
    lines: list[str] = []
    for entry in reversed(traceback.extract_stack(frame)):
        own = "segstudio" in entry.filename
        if own or not lines:
            lines.append(f"{_short(entry.filename)}:{entry.lineno} {entry.name}")
        if own and len(lines) >= STACK_DEPTH:
            break
    return tuple(lines)


def _short(path: str) -> str:
    marker = path.rfind("segstudio/")
    return path[marker:] if marker >= 0 else os.path.basename(path)


def probed(action: Callable[[], object], wait: Callable[[], None], label: str = "") -> tuple[float, float]:
    """(ms from calling ``action`` until ``wait`` returns, the GUI thread's longest stall meanwhile):
    queued work is let run first; ``wait`` spins the event loop until what it waits for is done."""
    for _ in range(5):
        QCoreApplication.processEvents()
    probe = StallProbe(label=label)
    probe.start()
    start = time.perf_counter()
    action()
    wait()
    elapsed = (time.perf_counter() - start) * 1000.0
    QCoreApplication.processEvents()  # the last repaint asked for and the probe's next tick
    probe.stop()
    return elapsed, probe.max_stall_ms


def run_on_worker(
    jobs: Sequence[Job], timeout_s: float, probe: StallProbe | None = None
) -> tuple[list, float]:
    """Submit ``jobs`` to a fresh app worker and spin the GUI thread's event loop (``probe`` on it)
    until the worker is idle; returns the jobs' results and the seconds from first submit to idle.
    Raises RuntimeError naming the failures when any job did not finish."""
    worker, loop = Worker(), QEventLoop()
    results: list[object] = []
    errors: list[str] = []
    worker.finished.connect(lambda job_id, result: results.append(result))
    worker.failed.connect(lambda job_id, text: errors.append(text))
    worker.idle.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    if probe is not None:
        probe.start()
    start = time.perf_counter()
    for job in jobs:
        worker.submit(job)
    loop.exec()
    elapsed = time.perf_counter() - start
    if probe is not None:
        probe.stop()
    worker.stop()
    if errors or len(results) != len(jobs):
        raise RuntimeError(f"the worker did not finish every job: {errors or len(results)}")
    return results, elapsed
