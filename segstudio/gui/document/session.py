"""The open project and image: loading, saving, and the debounced autosave journal.

The window asks the questions (save? recover?); this object does what the answers mean, so
the rules of "never lose work" live in one place and can be driven without dialogs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.core.label_document import LabelDocument
from segstudio.core.palette import Palette
from segstudio.gui.document.document import Document
from segstudio.gui.document.journal import JournalWriter, Snapshot
from segstudio.io.project import ImageState, JournalReview, Project, ProjectError

AUTOSAVE_MS = 2000
"""Quiet time after the last edit before the journal is written."""


class Session(QObject):
    """Holds the project and the current :class:`Document`; emits what views need to follow."""

    project_opened = Signal(object)
    document_opened = Signal(object)
    saved = Signal(str)
    """An image's labels were saved (its state in the manifest may have changed)."""
    problem = Signal(str)
    """A file could not be used; the work goes on (the window shows a non-blocking message)."""
    status = Signal(str)

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

    @property
    def autosave_timer(self) -> QTimer:
        return self._autosave

    def set_project(self, project: Project) -> None:
        """Switch to ``project``; the caller has already dealt with unsaved work."""
        self._autosave.stop()
        self.journal.settle(keep_waiting=True)  # the old project's last entry still lands
        self.project = project
        self.document = None
        self._recover.clear()
        self.project_opened.emit(project)

    def open_image(self, image_id: str) -> Document:
        """Load an image with its labels (or their journal, when recovering), prediction and depth.

        Raises ProjectError naming the file when the image or its labels cannot be used; the
        current document is then kept. An unusable prediction or depth map is reported and left out.
        """
        project = self._project()
        rgb = project.read_image(image_id)
        recovering = image_id in self._recover
        labels = project.recover(image_id) if recovering else project.load_labels(image_id)
        try:
            prediction = project.load_prediction(image_id)
        except ProjectError as error:
            prediction = None
            self.problem.emit(f"The prediction was left out: {error}")
        try:
            depth = project.read_depth(image_id)
        except ProjectError as error:
            depth = None
            self.problem.emit(f"The depth map was left out: {error}")
        model = LabelDocument(
            image_id, rgb, labels, project.palette, prediction, depth=depth, dirty=recovering
        )
        document = Document(model)
        self._autosave.stop()
        self.document = document
        document.changed.connect(self._edited)
        self.document_opened.emit(document)
        return document

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
        """The window closes: no more autosaves, and the running write finishes before we go."""
        self._autosave.stop()
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
        """Open these images from their journals from now on (the current one at once)."""
        self._recover.update(image_ids)
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
