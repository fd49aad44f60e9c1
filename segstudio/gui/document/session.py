"""The open project and image: loading, saving, and the debounced autosave journal.

The window asks the questions (save? recover?); this object does what the answers mean, so
the rules of "never lose work" live in one place and can be driven without dialogs.

Opening an image is asynchronous: :meth:`Session.open_image` hands the read to the loader thread
(``loader``) and returns; until the image arrives no document is open (``document`` is None, so
no edit can reach the image being left or the one coming), ``loading_id`` names the image on its
way, and the window keeps showing the previous one. The image arrives as ``document_opened``; an
image that cannot be read as ``unreadable``, after which the previous document is open again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.core.palette import Palette
from segstudio.gui.document.document import Document
from segstudio.gui.document.journal import JournalWriter, Snapshot
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
    """An image's labels were saved (its state in the manifest may have changed)."""
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
        """Journal the current document's unsaved labels on the journal thread (a copy; see ``journal``)."""
        document = self.document
        if self.project is None or document is None or not document.dirty:
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
        self.journal.settle()

    def save(self, state: ImageState | None = None) -> None:
        """Save the current labels; state ``edited`` after edits unless given. Raises on failure."""
        project, document = self._project(), self.document
        if document is None:
            return
        if state is None:
            state = ImageState.EDITED if document.dirty else project.entry(document.image_id).state
        self._autosave.stop()
        self.journal.settle()  # a journal entry written after the save would look newer than it
        try:
            project.save_labels(document.image_id, document.labels, state)
        except BaseException:
            self._autosave.start()  # still unsaved: keep journaling the edits
            raise
        self._recover.discard(document.image_id)
        document.mark_saved()
        self.saved.emit(document.image_id)

    def discard(self) -> None:
        """Forget the current document's unsaved edits, journal included."""
        document = self.document
        if self.project is None or document is None:
            return
        self._autosave.stop()
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
