"""The open project and image: loading, saving, and the debounced autosave journal.

The window asks the questions (save? recover?); this object does what the answers mean, so
the rules of "never lose work" live in one place and can be driven without dialogs.

Opening an image is asynchronous: :meth:`Session.open_image` hands the read to the loader thread
(``loader``) and returns; until the image arrives no document is open (``document`` is None, so
no edit can reach the image being left or the one coming), ``loading_id`` names the image on its
way, and the window keeps showing the previous one. The image arrives as ``document_opened``; an
image that cannot be read as ``unreadable``, after which the previous document is open again.

Saving is asynchronous too (``label_saves``): :meth:`Session.save` hands the labels to the writer
thread (which copies them) and returns; the document is marked saved (``saved``) when the write
lands, or the failure comes as ``save_failed`` with the edits kept. Reading an image whose save is
on its way, leaving the project and closing first let the save land (:meth:`Session.settle_saves`).
While a save is on its way no journal entry is written (the save would remove it); the autosave
timer starts again when it lands.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.core.palette import Palette
from segstudio.gui.document.document import Document
from segstudio.gui.document.journal import JournalWriter, Snapshot
from segstudio.gui.document.label_saves import LabelSaves, LabelsCopy, SaveOutcome, SaveRequest
from segstudio.gui.document.loader import ImageLoader
from segstudio.gui.document.loading import LoadedImage
from segstudio.io.project import ImageState, JournalReview, Project, ProjectError

AUTOSAVE_MS = 2000
"""Quiet time after the last edit before the journal is written."""
PREFETCH_DELAY_MS = 400
"""The next image is read ahead this long after one is shown: its overlays are built first."""


class Session(QObject):
    """Holds the project and the current :class:`Document`; emits what views need to follow."""

    project_opened = Signal(object)
    document_opened = Signal(object)
    saved = Signal(str)
    """An image's labels were saved: the write landed (its state in the index may have changed)."""
    save_failed = Signal(str, str)
    """(image id, message naming the file and the problem): the edits are kept, unsaved."""
    problem = Signal(str)
    """A file could not be used; the work goes on (the window shows a non-blocking message)."""
    status = Signal(str)
    loading = Signal(str)
    """An image is being read (its id); the previous one stays on screen, closed for edits."""
    unreadable = Signal(object, object)
    """(messages naming each file that could not be read, the document open now or None)."""
    reopened = Signal(object)
    """The document left for an image that did not come is open again (None: there was none)."""

    def __init__(self, autosave_ms: int = AUTOSAVE_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.document: Document | None = None
        self._recover: set[str] = set()
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(autosave_ms)
        self._autosave.timeout.connect(self.autosave_in_background)
        self.journal = JournalWriter(self)
        self.journal.written.connect(lambda image_id: self.status.emit(f"Autosaved {image_id}"))
        self.journal.failed.connect(lambda image_id, error: self.status.emit(f"Autosave failed: {error}"))
        self.saves = LabelSaves(self.journal.wait, self)
        self._failed_saves = 0
        self.saves.landed.connect(self._save_landed)
        self.loader = ImageLoader(self)
        self.loader.loaded.connect(self._loaded)
        self.loader.failed.connect(self._failed)
        self.loading_id: str | None = None
        """The image being read (None when none is)."""
        self._request = 0
        self._left: Document | None = None
        """The document left for the image being read: open again if that image cannot be read."""
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.setInterval(PREFETCH_DELAY_MS)
        self._prefetch_timer.timeout.connect(self._prefetch_now)
        self._prefetch_id: str | None = None

    @property
    def autosave_timer(self) -> QTimer:
        return self._autosave

    def set_project(self, project: Project) -> None:
        """Switch to ``project``; the caller has already dealt with unsaved work."""
        self._autosave.stop()
        self.settle_saves()  # the caller saw the outcome of its saves (``MainWindow.maybe_save``)
        self.journal.settle(keep_waiting=True)  # the old project's last entry still lands
        self.loader.forget()
        self._prefetch_timer.stop()
        self.loading_id, self._left = None, None
        self.project = project
        self.document = None
        self._recover.clear()
        self.project_opened.emit(project)

    def open_image(self, image_id: str) -> None:
        """Start reading an image with its labels (or their journal, when recovering), prediction
        and depth; it arrives as ``document_opened`` (see the module notes). The caller has dealt
        with unsaved work. Asking for the image being left takes it back at once."""
        if self.loading_id is not None and self._left is not None and self._left.image_id == image_id:
            self.loader.cancel()
            self._reopen_left()
            return
        self.open_first_readable([image_id])

    def open_first_readable(self, image_ids: Sequence[str]) -> None:
        """Start reading the first of ``image_ids`` that can be read (a project's first image);
        ``unreadable`` names those that could not be."""
        if not image_ids:
            return
        project = self._project()
        if self.saves.pending(image_ids[0]) is not None:  # reopened before its save landed: read that
            self.settle_saves(image_ids[0])
        self._prefetch_timer.stop()
        self._autosave.stop()
        if self.document is not None:
            self._left = self.document
        self.document = None
        self.loading_id = image_ids[0]
        self._request = self.loader.request(project, image_ids, self._recover)
        self.loading.emit(image_ids[0])

    def prefetch(self, image_id: str | None) -> None:
        """Read ``image_id`` ahead soon (the image D would open), keeping one image ahead at most."""
        self._prefetch_id = image_id
        self._prefetch_timer.start()

    @property
    def idle(self) -> bool:
        """Nothing is being read, nor about to be read ahead."""
        return self.loading_id is None and not self._prefetch_timer.isActive() and self.loader.idle

    def _prefetch_now(self) -> None:
        image_id = self._prefetch_id
        if image_id is not None and self.project is not None and self.loading_id is None:
            self.loader.prefetch(self.project, image_id, image_id in self._recover)

    def _loaded(self, number: int, loaded: LoadedImage, skipped: list[str]) -> None:
        if number != self._request:
            return
        self.loading_id, self._left = None, None
        document = Document(
            loaded.model,
            screen=loaded.screen,
            next_instance=loaded.next_instance,
            scribbles_read=loaded.scribbles,
        )
        self._autosave.stop()
        self.document = document
        document.changed.connect(self._edited)
        for problem in loaded.problems:
            self.problem.emit(problem)
        if skipped:
            self.unreadable.emit(skipped, document)
        self.document_opened.emit(document)

    def _failed(self, number: int, problems: list[str]) -> None:
        if number != self._request:
            return
        self._reopen_left()
        self.unreadable.emit(problems, self.document)

    def _reopen_left(self) -> None:
        """Open again the document left for an image that will not come (as it was: nothing is read)."""
        self.loading_id, self.document, self._left = None, self._left, None
        if self.document is not None and self.document.dirty:
            self._autosave.start()
        self.reopened.emit(self.document)

    def _project(self) -> Project:
        if self.project is None:
            raise ProjectError("no project is open")
        return self.project

    def _edited(self) -> None:
        self._autosave.start()  # restarts: the journal is written once edits pause

    def autosave_in_background(self) -> None:
        """Journal the current document's unsaved labels on the journal thread (a copy; see ``journal``);
        while a save is on its way, once it has landed instead (see the module notes)."""
        document = self.document
        if self.project is None or document is None or not document.dirty or self.saves.busy:
            return
        self.journal.submit(Snapshot(document.image_id, document.labels.copy(), self.project.autosave))

    def autosave_now(self) -> None:
        """Journal the current document's unsaved labels and wait until the entry is written."""
        self.autosave_in_background()
        self.journal.settle(keep_waiting=True)

    def close(self) -> None:
        """The window closes: no more autosaves or reads, and the running write finishes before we go."""
        self._autosave.stop()
        self._prefetch_timer.stop()
        self.loader.stop()
        self.settle_saves()
        self.journal.settle()

    @property
    def unsaved(self) -> bool:
        """The current document has edits that no save on its way holds."""
        document = self.document
        return document is not None and document.dirty and self._on_its_way(document) is None

    def _on_its_way(self, document: Document) -> SaveRequest | None:
        """The save on its way that holds exactly ``document``'s labels now, if any."""
        pending = self.saves.pending(document.image_id)
        return pending if pending is not None and pending.document is document and pending.current else None

    def save(self, state: ImageState | None = None) -> None:
        """Start saving the current labels on the writer thread and return (the copy is made there
        unless an edit comes first, ``label_saves``); state ``edited`` after edits unless given.
        It lands as ``saved``, or fails as ``save_failed``; a save of what is on its way already is
        not asked again. Raises ProjectError when the image is no longer in the index."""
        project, document = self._project(), self.document
        if document is None:
            return
        on_its_way = self._on_its_way(document)
        if state is None:
            if on_its_way is not None:
                return  # this content is on its way already
            state = ImageState.EDITED if document.dirty else project.entry(document.image_id).state
        elif on_its_way is not None and on_its_way.state is state:
            return
        self._autosave.stop()
        self.journal.drop_waiting()  # a journal entry written after the save would look newer than it
        request = SaveRequest(document, document.revision, state)
        copy = LabelsCopy(document.labels)

        def before_change() -> None:  # copied first, if the writer has not yet (``label_saves``)
            if self.saves.pending(request.image_id) is request:  # a superseded save never writes
                copy.take()

        document.keep_for_save(before_change)
        self.saves.submit(project, request, copy)

    def settle_saves(self, image_id: str | None = None) -> bool:
        """Block until the saves on their way (of ``image_id``; None: all) landed, their outcomes
        handed on; False when the last save of one failed (``save_failed`` was emitted)."""
        failed_before = self._failed_saves
        self.saves.settle(image_id)
        return self._failed_saves == failed_before

    def _save_landed(self, outcome: SaveOutcome) -> None:
        """GUI thread: the latest save of an image ran (see ``label_saves``)."""
        request = outcome.request
        document = request.document
        if outcome.error is None:
            self._recover.discard(request.image_id)
            if request.current:
                document.mark_saved()
            self.saved.emit(request.image_id)
        else:
            self._failed_saves += 1
            if outcome.journaled:
                self._recover.add(request.image_id)  # opened again from the journal, not the old file
                kept = "Your edits are kept (in the autosave journal too)"
            else:
                kept = "The autosave journal could not be written either: your edits are only in memory"
            message = (
                f"The labels of {request.image_id} could not be saved to {outcome.path}: {outcome.error}.\n"
                f"{kept}; save again once the problem is fixed."
            )
            self.save_failed.emit(request.image_id, message)
        current = self.document
        if current is not None and current.dirty and not self.saves.busy:
            self._autosave.start()  # journaling paused while the save was on its way

    def discard(self) -> None:
        """Forget the current document's unsaved edits, journal included."""
        document = self.document
        if self.project is None or document is None:
            return
        self._autosave.stop()
        self.settle_saves(document.image_id)  # a failed save's journal entry goes too
        self.journal.settle()
        self.project.discard_autosave(document.image_id)
        self._recover.discard(document.image_id)
        document.mark_saved()

    def journal_review(self) -> JournalReview:
        return JournalReview([], []) if self.project is None else self.project.journal_review()

    def set_aside_journal(self, image_id: str) -> Path:
        return self._project().set_aside_journal(image_id)

    def recover(self, image_ids: list[str]) -> None:
        """Open these images from their journals from now on (the current one, or the one on its
        way, at once)."""
        self._recover.update(image_ids)
        if self.loading_id in self._recover:  # on its way from its saved labels: read it again
            self.open_first_readable([self.loading_id])
            return
        document = self.document
        if document is not None and document.image_id in self._recover and not document.dirty:
            self.open_image(document.image_id)

    def discard_recoverable(self, image_ids: list[str]) -> None:
        project = self._project()
        for image_id in image_ids:
            project.discard_autosave(image_id)

    def set_palette(self, palette: Palette) -> None:
        """Make ``palette`` the project's (saved in the index) and the document's."""
        project = self._project()
        if self.document is not None:
            self.document.set_palette(palette)
        try:
            project.set_palette(palette)
        except ProjectError as error:
            self.problem.emit(f"The palette could not be saved: {error}")
