"""Saving an image's labels off the GUI thread; the document counts as saved when the write lands.

Compressing, writing and fsyncing a 12 MP label file and committing its state to the index took
19-60 ms on a quiet machine and up to 1.8 s of fsync under disk load, all on the GUI thread. Now
the GUI thread hands ``Project.save_labels`` of a copy of the labels to a
:class:`~segstudio.gui.threads.file_writes.FileWrites` writer under the labels file's path: the
same rules as the scribble files (one thread, the newest waiting write of a file wins, writes of
one file land in the order handed in; the write itself stays atomic: temp file and rename).

Not even the copy needs the GUI thread (~20 ms at 12 MP on a quiet machine, several times that
under load): a :class:`LabelsCopy` is made by whichever thread needs it first, the writer as its
first step (numpy's copy lets the GUI thread run meanwhile) or the GUI thread just before it
changes the labels (``Document.keep_for_save``: every change of the labels settles the document
first).

Each save is a :class:`SaveRequest` naming the document and its revision when asked. Its
:class:`SaveOutcome` comes back on the GUI thread (``landed``) once the write ran, or at once from
:meth:`LabelSaves.settle`, which whoever reads the file or the index next calls first. Only the
latest request of an image counts (an older one that still waited never runs; one that ran first is
passed over), so "saved" means the newest content handed in is on disk. A write that fails journals
its copy instead (the autosave journal, ``Project.autosave``), so the edits survive even when the
image was left meanwhile; its outcome says whether that worked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from segstudio.core.labels import LabelMap
from segstudio.gui.document.document import Document
from segstudio.gui.threads.file_writes import FileWrites
from segstudio.io.project import ImageState, Project


class LabelsCopy:
    """The labels as a save found them, copied once by whichever thread asks first (see the module
    notes); the live labels must not change before :meth:`take` returned on some thread."""

    def __init__(self, live: LabelMap) -> None:
        self._live: LabelMap | None = live
        self._copy: LabelMap | None = None
        self._lock = threading.Lock()

    def take(self) -> LabelMap:
        """The copy (made now, by this thread, unless made already; waits while another makes it)."""
        with self._lock:
            if self._copy is None:
                assert self._live is not None
                self._copy, self._live = self._live.copy(), None
            return self._copy


@dataclass(frozen=True, eq=False)
class SaveRequest:
    """One save as handed in: the document, its revision when copied, and the state to record."""

    document: Document
    revision: int
    state: ImageState

    @property
    def image_id(self) -> str:
        return self.document.image_id

    @property
    def current(self) -> bool:
        """The document still holds exactly what this save writes (no edit since the copy)."""
        return self.document.revision == self.revision


@dataclass(frozen=True)
class SaveOutcome:
    """How a save ended: ``error`` None when the file and the index were written."""

    request: SaveRequest
    path: str
    error: str | None = None
    journaled: bool = False
    """The write failed and the copy went to the autosave journal instead."""


class LabelSaves(QObject):
    """The labels' writer thread, the latest request per image, and the outcomes for the GUI thread."""

    landed = Signal(object)
    """A :class:`SaveOutcome` of an image's latest save (on the GUI thread)."""
    _arrived = Signal()
    """Writer thread -> GUI thread: outcomes wait in ``_outcomes``."""

    def __init__(
        self, before_write: Callable[[], None] = lambda: None, parent: QObject | None = None
    ) -> None:
        """``before_write`` runs on the writer thread before each save (the session waits there
        for a running journal write, so no entry older than the save lands after it)."""
        super().__init__(parent)
        self.writes = FileWrites(self)
        self._before_write = before_write
        self._latest: dict[str, SaveRequest] = {}
        self._outcomes: list[SaveOutcome] = []
        self._lock = threading.Lock()
        self._arrived.connect(self.collect)

    @property
    def busy(self) -> bool:
        """A save is on its way (handed in, its outcome not yet taken)."""
        return bool(self._latest)

    def pending(self, image_id: str) -> SaveRequest | None:
        """The latest save of ``image_id`` not yet landed, if any."""
        return self._latest.get(image_id)

    def submit(self, project: Project, request: SaveRequest, copy: LabelsCopy) -> None:
        """Save the labels of ``copy`` as ``request`` says, on the writer thread."""
        path = project.labels_file(request.image_id)
        self._latest[request.image_id] = request

        def write() -> None:
            labels = copy.take()
            self._before_write()
            try:
                project.save_labels(request.image_id, labels, request.state)
            except Exception as error:  # noqa: BLE001 (every failure keeps the edits and is told)
                journaled = _journal(project, request, labels)
                self._arrive(SaveOutcome(request, str(path), _reason(error), journaled))
            else:
                self._arrive(SaveOutcome(request, str(path)))

        self.writes.submit(str(path), write)

    def settle(self, image_id: str | None = None) -> None:
        """Block until the saves (all of them when one of ``image_id`` is on its way, or when None)
        landed, and hand their outcomes on now. Writes run in order: waiting for all costs no more
        than waiting for the last."""
        if image_id is None or image_id in self._latest:
            self.writes.settle()
        self.collect()

    def collect(self) -> None:
        """GUI thread: emit ``landed`` for each latest save whose write ran (older ones passed over)."""
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        for outcome in outcomes:
            request = outcome.request
            if self._latest.get(request.image_id) is request:
                del self._latest[request.image_id]
                self.landed.emit(outcome)

    def _arrive(self, outcome: SaveOutcome) -> None:
        """Writer thread: keep the outcome and wake the GUI thread."""
        with self._lock:
            self._outcomes.append(outcome)
        with contextlib.suppress(RuntimeError):  # the window is gone: nobody waits for the outcome
            self._arrived.emit()


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _journal(project: Project, request: SaveRequest, labels: LabelMap) -> bool:
    """Writer thread: keep a failed save's copy in the autosave journal (False when that fails too)."""
    try:
        project.autosave(request.image_id, labels)
    except Exception:  # noqa: BLE001 (the caller says the edits are only in memory now)
        return False
    return True
