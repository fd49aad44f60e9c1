"""The GUI-thread stall probe: a QTimer heartbeat whose longest late tick is the longest time the
event loop was kept from running (a menu click, a repaint not served)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtCore import QEventLoop, QTimer

from segstudio.gui.threads.worker import Job, Worker

PROBE_MS = 5


class StallProbe:
    """A QTimer on the GUI thread; the longest gap between ticks, less the interval, is the stall."""

    def __init__(self, interval_ms: int = PROBE_MS) -> None:
        self.interval_ms = interval_ms
        self.max_stall_ms = 0.0
        self.ticks = 0
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._tick()
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_stall_ms = max(self.max_stall_ms, (now - self._last) * 1000 - self.interval_ms)
        self._last = now
        self.ticks += 1


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
