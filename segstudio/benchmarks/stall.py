"""The GUI-thread stall probe: a QTimer heartbeat whose longest late tick is the longest time the
event loop was kept from running (a menu click, a repaint not served)."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer

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
