"""The image loader thread: opening an image never holds the GUI thread, the latest request wins.

A thread of its own, not the worker's queue: the worker runs one job at a time and an interactive
job (the scribble classifier's full-resolution pass, a fill's search) runs to its end, so an open
queued behind one would wait seconds; reading files and inflating labels also needs no model.
See docs/design-notes.md ("Opening an image off the GUI thread").

Rules:

* one request is wanted at a time: a newer one replaces a request still waiting and cancels the
  running one at its next step (``loading.load_image`` checks between its steps); a result that
  arrives after a newer request is dropped, so pressing D three times quickly shows the third image;
* one image ahead: :meth:`ImageLoader.prefetch` reads the image the user will probably open next
  when no request waits; asking for it then takes the read image (checked against its files, see
  ``loading.still_fresh``), or waits for the running read instead of starting another. A prefetch
  for another image drops the one held, so at most one image is held ahead;
* results reach the GUI thread through a queued signal; nothing here touches a widget.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from segstudio.core.jobs import Cancelled, CancelToken
from segstudio.gui.document.loading import LoadedImage, load_first_readable, still_fresh
from segstudio.io.project import Project


@dataclass
class _Read:
    """One read for the thread: the first of ``image_ids`` that loads; ``number`` 0 is a prefetch."""

    number: int
    project: Project
    image_ids: tuple[str, ...]
    recover: frozenset[str]
    token: CancelToken

    def is_prefetch_of(self, project: Project, image_id: str, recovering: bool) -> bool:
        return (
            self.number == 0
            and self.project is project
            and self.image_ids == (image_id,)
            and (image_id in self.recover) == recovering
        )


class ImageLoader(QObject):
    """Reads images on one thread of its own; results arrive on the GUI thread as signals."""

    loaded = Signal(int, object, object)
    """(request number, :class:`LoadedImage`, messages of the candidates skipped before it)."""
    failed = Signal(int, object)
    """(request number, messages naming each file that could not be read)."""
    _read_done = Signal(object, object, object)
    """Thread to GUI thread: (read, LoadedImage or None, messages)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        """The thread draining the reads; it ends when none is left (a Python thread: a QRunnable
        the pool deletes leaves PySide a stale wrapper whose address a later QObject may take)."""
        self._lock = threading.Lock()
        self._waiting: _Read | None = None
        self._prefetch_waiting: _Read | None = None
        self._running: _Read | None = None
        self._draining = False
        self._numbers = itertools.count(1)
        self._wanted = 0
        """The number of the request whose result is shown (older ones are dropped)."""
        self._ahead: _Read | None = None
        """The prefetch under way or done (``_ready`` holds its image when done)."""
        self._ready: LoadedImage | None = None
        self._read_done.connect(self._arrived)

    @property
    def idle(self) -> bool:
        """No read is running or waiting."""
        with self._lock:
            return not self._draining

    @property
    def ready_image(self) -> LoadedImage | None:
        """The image read ahead, once read (None while reading or when none is)."""
        return self._ready

    def request(self, project: Project, image_ids: Sequence[str], recover: Collection[str] = ()) -> int:
        """Read the first of ``image_ids`` that loads and emit ``loaded`` (or ``failed`` when none
        does) with the returned number, unless another request comes first."""
        number = self._wanted = next(self._numbers)
        first = image_ids[0]
        ahead, ready = self._ahead, self._ready
        taken = ahead is not None and ahead.is_prefetch_of(project, first, first in recover)
        if taken and ready is not None and still_fresh(ready, project, first in recover):
            self._forget_ahead()
            self._cancel_reads()
            QTimer.singleShot(0, self, lambda: self._deliver(number, ready, []))
            return number
        with self._lock:
            running = self._running
            if taken and ready is None and running is ahead and len(image_ids) == 1:
                running.number = number  # the read ahead becomes the request: no second read
                self._ahead = None
                self._waiting = self._prefetch_waiting = None
                return number
        self._forget_ahead()
        self._cancel_reads()
        self._submit(_Read(number, project, tuple(image_ids), frozenset(recover), CancelToken()))
        return number

    def prefetch(self, project: Project, image_id: str, recovering: bool = False) -> None:
        """Read ``image_id`` ahead when the thread has nothing else to do (dropping the image held
        ahead, if another)."""
        if self._ahead is not None and self._ahead.is_prefetch_of(project, image_id, recovering):
            return
        self._forget_ahead()
        recover = frozenset([image_id] if recovering else [])
        self._ahead = _Read(0, project, (image_id,), recover, CancelToken())
        self._submit(self._ahead)

    def cancel(self) -> None:
        """Want no result of the requests made so far (the prefetched image stays)."""
        self._wanted = next(self._numbers)
        with self._lock:
            self._waiting = None
            if self._running is not None and self._running.number:
                self._running.token.cancel()

    def forget(self) -> None:
        """Cancel every read and drop the image held ahead (another project is opened)."""
        self.cancel()
        self._forget_ahead()

    def stop(self) -> None:
        """Cancel everything and wait for the running read to stop (the window closes)."""
        self.forget()
        thread = self._thread
        if thread is not None:
            thread.join()

    def _forget_ahead(self) -> None:
        if self._ahead is not None:
            self._ahead.token.cancel()
        self._ahead, self._ready = None, None

    def _cancel_reads(self) -> None:
        with self._lock:
            self._waiting = self._prefetch_waiting = None
            if self._running is not None:
                self._running.token.cancel()

    def _submit(self, read: _Read) -> None:
        with self._lock:
            if read.number:
                self._waiting = read
            else:
                self._prefetch_waiting = read
            if self._draining:
                return
            self._draining = True
            self._thread = threading.Thread(target=self._drain, name="image-loader")
            self._thread.start()

    def _drain(self) -> None:
        """Loader thread: run the waiting request, else the waiting prefetch, until none is left."""
        while True:
            with self._lock:
                read = self._waiting or self._prefetch_waiting
                if read is None:
                    self._running, self._draining = None, False
                    return
                if read is self._waiting:
                    self._waiting = None
                else:
                    self._prefetch_waiting = None
                self._running = read
            try:
                loaded, problems = load_first_readable(
                    read.project, read.image_ids, read.recover, read.token.check
                )
            except Cancelled:
                continue
            except Exception as error:  # noqa: BLE001 (a bug must not end the thread; the user hears of it)
                traceback.print_exc()
                loaded, problems = None, [f"{read.image_ids[0]}: {type(error).__name__}: {error}"]
            try:
                self._read_done.emit(read, loaded, problems)
            except RuntimeError:  # the loader was deleted (its window is gone): nobody waits for it
                with self._lock:
                    self._running, self._draining = None, False
                return

    @Slot(object, object, object)
    def _arrived(self, read: _Read, loaded: LoadedImage | None, problems: list[str]) -> None:
        """GUI thread: a read ended; keep it ahead, hand it on, or drop it when no longer wanted."""
        if read.token.cancelled:
            return
        if read.number == 0:
            if read is self._ahead and loaded is not None:
                self._ready = loaded
            return
        if read.number != self._wanted:
            return
        if loaded is not None and not still_fresh(loaded, read.project, loaded.recovering):
            self._submit(_Read(read.number, read.project, read.image_ids, read.recover, CancelToken()))
            return  # a prefetch promoted to this request, whose files changed meanwhile: read again
        self._deliver(read.number, loaded, problems)

    def _deliver(self, number: int, loaded: LoadedImage | None, problems: list[str]) -> None:
        if number != self._wanted:
            return
        if loaded is None:
            self.failed.emit(number, problems)
        else:
            self.loaded.emit(number, loaded, problems)
