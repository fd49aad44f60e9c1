"""Files written off the GUI thread, the latest write per file wins; nothing is lost on close.

Encoding and fsyncing a 12 MP file takes tens of milliseconds, which the GUI thread must never
spend (the scribbles are saved on every pause in scribbling). The GUI thread hands a write (a
function over data it has already copied) to :class:`FileWrites` under a key, the file's path;
one thread of its own runs the writes in the order they came. A write handed in while an older
one of the same key still waits replaces it (only the newest content matters); a running one
finishes first, so writes of one file land in order and the last one handed in is the last made.

Whoever reads a file back, leaves its project or closes the window first calls :meth:`settle`
(for that key, or for all): it blocks until the writes have landed, so a read never sees an older
file than the one last handed in, and closing loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QThreadPool, Signal

Write = Callable[[], None]
"""Writes one file from data the caller no longer changes; raises on failure (its message is shown)."""


class FileWrites(QObject):
    """One writer thread; writes keyed by file, the waiting one of a key replaced by a newer one."""

    failed = Signal(str, str)
    """(key, error message): a write raised; the file keeps what the last good write left."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._changed = threading.Condition()
        self._waiting: dict[str, Write] = {}
        self._running: str | None = None
        self._draining = False

    @property
    def busy(self) -> bool:
        """A write is running or waiting."""
        with self._changed:
            return self._running is not None or bool(self._waiting)

    def pending(self, key: str) -> bool:
        """A write of ``key`` is running or waiting."""
        with self._changed:
            return self._running == key or key in self._waiting

    def submit(self, key: str, write: Write) -> None:
        """Run ``write`` soon on the writer thread, replacing a write of ``key`` that still waits."""
        with self._changed:
            self._waiting.pop(key, None)  # re-inserted last: writes run in the order handed in
            self._waiting[key] = write
            if self._draining:
                return
            self._draining = True
        self._pool.start(self._drain)  # a callable, not QRunnable.create (a stale wrapper: see tests)

    def settle(self, key: str | None = None) -> None:
        """Block until the writes of ``key`` (None: every write) have landed."""
        with self._changed:
            if key is None:
                self._changed.wait_for(lambda: not self._draining)
            else:
                self._changed.wait_for(lambda: self._running != key and key not in self._waiting)

    def _drain(self) -> None:
        """Writer thread: run the waiting writes, oldest first, until none is left."""
        while True:
            with self._changed:
                if not self._waiting:
                    self._draining = False
                    self._changed.notify_all()
                    return
                key = next(iter(self._waiting))
                write = self._waiting.pop(key)
                self._running = key
            try:
                write()
            except Exception as error:  # noqa: BLE001 (any failure is reported; later writes still run)
                self.failed.emit(key, str(error) or type(error).__name__)
            finally:
                with self._changed:
                    self._running = None
                    self._changed.notify_all()
