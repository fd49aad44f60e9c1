"""Python's cycle collector runs on the GUI thread only, on a timer.

The collector runs in whichever thread happens to allocate when its thresholds trip. When that is
the worker thread and the garbage holds Qt wrappers (a closed window's widgets, say), their C++
objects are destroyed there: ``QObject::~QObject`` holds Qt's connection lock while it asks Python
(for the GIL) about overrides, as the GUI thread, holding the GIL, waits for that lock to connect a
signal: both wait forever. (Seen: a dialog's ``QKeySequenceEdit`` built while the worker counted PQ.)
So, as pyqtgraph's ``GarbageCollector`` does, automatic collection is switched off and the GUI
thread collects, generation by generation with the usual thresholds, every ``INTERVAL_MS``.
Reference counting, which frees almost everything, is untouched.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Collects cycles on the GUI thread; :meth:`stop` gives collection back to Python."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.collect)
        gc.disable()
        self.timer.start()

    def collect(self) -> int:
        """What Python would have collected by now (young generations first), found here."""
        counts = gc.get_count()
        found = 0
        for generation in range(3):
            if counts[generation] <= self.thresholds[generation]:
                break
            found += gc.collect(generation)
        return found

    def stop(self) -> None:
        self.timer.stop()
        gc.enable()


_collector: GuiThreadCollector | None = None


def collect_on_gui_thread() -> GuiThreadCollector:
    """Install the collector once per application (called by every main window; idempotent)."""
    global _collector
    if _collector is None:
        _collector = GuiThreadCollector(QCoreApplication.instance())
    return _collector


def stop_collecting_on_gui_thread() -> None:
    """Back to Python's own collection (tests between GUI and non-GUI modules)."""
    global _collector
    if _collector is not None:
        _collector.stop()
        gc.collect()
        _collector = None
