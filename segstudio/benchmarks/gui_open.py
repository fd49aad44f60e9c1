"""Opening 12 MP photos in ``segstudio bench gui``: to the screen, the GUI thread's stall meanwhile,
and D to the next photo once it was read ahead.

An image is read on the loader thread and shown when it arrives (``gui.document.loader``); "on
screen" below means: the window's document is that image, every overlay of it is built (they
are filled a band per event-loop turn) and the canvas has been delivered a paint since (one is
asked for then: a small image's may already have come within the turn that showed it). A
``PROBE_MS`` QTimer on the GUI thread (``benchmarks.stall``) measures the longest time the event
loop was kept from running meanwhile.

- ``open_12mp_ms``, ``open_12mp_max_stall_ms``: ``MainWindow.open_image`` of the photo from the
  small image, nothing read ahead (the small image's read-ahead is let finish first);
- ``next_12mp_prefetched_ms``, ``next_12mp_max_stall_ms``: D (``step_image(1)``) from the photo to
  the next 12 MP photo of the list, after the window has read it ahead (a labeller working on
  the photo meanwhile).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QApplication

from segstudio.benchmarks.stall import probed
from segstudio.gui.main_window import MainWindow

OPEN_TIMEOUT_S = 120.0
WAKE_MS = 10


class _Painted(QObject):
    """Counts the Paint events a widget is delivered."""

    def __init__(self, widget: QObject) -> None:
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def _until(condition: Callable[[], bool], what: str) -> None:
    """Run the event loop until ``condition`` holds. It sleeps while nothing happens, as the app's
    does: a loop spinning ``processEvents`` would take the GIL from the loader thread."""
    app = QApplication.instance()
    deadline = time.perf_counter() + OPEN_TIMEOUT_S
    wake = QTimer()
    wake.start(WAKE_MS)  # checks the deadline (and a condition no event announces) now and then
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the window never {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    wake.stop()


def shown(window: MainWindow, image_id: str) -> bool:
    """``image_id`` is open with every overlay built (none left to fill)."""
    return window.session.loading_id is None and window.image_name == image_id and not window.canvas.building


def open_and_wait(window: MainWindow, image_id: str) -> None:
    """Open ``image_id`` and wait until it is shown (raises when it was refused)."""
    window.open_image(image_id)
    _until(lambda: window.session.loading_id is None, f"finished reading {image_id}")
    if window.image_name != image_id:
        raise RuntimeError(f"the benchmark's image {image_id} did not open")
    _until(lambda: shown(window, image_id), f"built the overlays of {image_id}")


def reading_done(window: MainWindow) -> None:
    """Wait until the loader reads nothing, the next image's read-ahead included."""
    _until(lambda: window.session.idle, "finished reading ahead")


def timed_open(
    window: MainWindow, action: Callable[[], object], image_id: str, label: str
) -> tuple[float, float]:
    """(ms from ``action`` until ``image_id`` is on screen, the GUI thread's longest stall meanwhile)."""
    painted = _Painted(window.canvas.viewport())

    def until_on_screen() -> None:
        _until(lambda: shown(window, image_id), f"showed {image_id}")
        painted.count = 0
        window.canvas.viewport().update()  # merges with the paint the last overlay asked for, if still due
        _until(lambda: painted.count > 0, f"painted {image_id}")

    try:
        return probed(action, until_on_screen, label)
    finally:
        painted.deleteLater()


def measure_open(window: MainWindow, repeats: int, photo: str, away: str) -> list[tuple[float, float]]:
    """Open ``photo`` from ``away`` (a small image) ``repeats`` times, nothing read ahead; the first
    (cold) run is dropped."""
    samples = []
    for _ in range(repeats + 1):
        open_and_wait(window, away)
        reading_done(window)
        samples.append(timed_open(window, lambda: window.open_image(photo), photo, "open 12 MP"))
    return samples[1:]


def measure_next(window: MainWindow, repeats: int, photo: str, following: str) -> list[tuple[float, float]]:
    """D from ``photo`` to ``following`` (the next in the list, also 12 MP) once it was read ahead."""
    loader = window.session.loader

    def read_ahead() -> bool:
        return loader.ready_image is not None and loader.ready_image.image_id == following

    samples = []
    for _ in range(repeats):
        open_and_wait(window, photo)
        _until(read_ahead, f"read {following} ahead")
        samples.append(timed_open(window, lambda: window.step_image(1), following, "D to the next 12 MP"))
    return samples
