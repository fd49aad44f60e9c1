"""The autosave journal written off the GUI thread: at most one write in flight, the latest wins.

Compressing and writing a 12 MP label map takes over a hundred milliseconds; copying it takes a
few. So the GUI thread only copies the labels (a snapshot) and hands them here; one pool thread
writes them. A snapshot handed in while a write runs waits in a single slot, replacing any older
one, so a burst of autosaves costs one extra write, never a queue.

Ordering with saves: when the GUI thread hands in a save it drops the waiting snapshot
(:meth:`drop_waiting`), and the save's writer thread waits for the running write (:meth:`wait`)
before it writes; no snapshot is handed in while a save is on its way (``session``). Discarding
calls :meth:`settle`. So a journal entry can never be written after (and on top of) the save that
made it stale; every later entry holds edits made after that save, and is rightly "newer than saved".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThreadPool, Signal

from segstudio.core.labels import LabelMap

JournalWrite = Callable[[str, LabelMap], None]
"""Writes one image's journal entry (``Project.autosave``); raises OSError or ProjectError-like errors."""


@dataclass(frozen=True)
class Snapshot:
    """Labels copied on the GUI thread, and the function that journals them."""

    image_id: str
    labels: LabelMap
    write: JournalWrite


class JournalWriter(QObject):
    """Writes :class:`Snapshot`s on a thread of its own; reports each result on the GUI thread."""

    written = Signal(str)
    """An image's journal entry was written."""
    failed = Signal(str, str)
    """(image id, error message): the entry could not be written."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._lock = threading.Lock()
        self._waiting: Snapshot | None = None
        self._running = False

    @property
    def busy(self) -> bool:
        """A write is running or waiting."""
        with self._lock:
            return self._running or self._waiting is not None

    def submit(self, snapshot: Snapshot) -> None:
        """Journal ``snapshot`` soon; replaces a snapshot still waiting for the running write."""
        with self._lock:
            self._waiting = snapshot
            if self._running:
                return
            self._running = True
        self._pool.start(self._drain)  # a callable, not QRunnable.create (a stale wrapper: see tests)

    def drop_waiting(self) -> None:
        """Forget the snapshot waiting for the running write (a save of newer labels is coming)."""
        with self._lock:
            self._waiting = None

    def wait(self) -> None:
        """Block until no write runs (any thread; the label saves wait here before writing)."""
        self._pool.waitForDone()

    def settle(self, keep_waiting: bool = False) -> None:
        """Block until no write runs; the waiting snapshot is dropped unless ``keep_waiting``."""
        if not keep_waiting:
            self.drop_waiting()
        self.wait()

    def _drain(self) -> None:
        """Pool thread: write snapshots until none waits."""
        while True:
            with self._lock:
                snapshot, self._waiting = self._waiting, None
                if snapshot is None:
                    self._running = False
                    return
            try:
                snapshot.write(snapshot.image_id, snapshot.labels)
            except Exception as error:  # noqa: BLE001 (any failure is reported; the thread must go on)
                self.failed.emit(snapshot.image_id, str(error))
            else:
                self.written.emit(snapshot.image_id)
