"""Model work on the shared worker: the model list and pre-labelling, with results filed on the GUI thread.

:class:`ModelCatalog` keeps the latest model list.
:class:`PreLabeller` runs one job per image (the current one INTERACTIVE, batches BATCH, so
cancel and progress are per image) and files each result on the GUI thread, where the project
lives (``Project`` is single-threaded): the prediction file, the "pre-labelled" state of an
unlabelled image, and the open document's prediction layer. Predictions never touch ground
truth, so a result is valid for its image whenever it arrives; a result superseded by a newer
job for the same image is dropped by the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from segstudio.core.labels import LabelMap
from segstudio.gui.document.session import Session
from segstudio.gui.modelling.model_backend import LazyBackend, ModelInfo, ModelList
from segstudio.gui.threads.job_client import Handlers, JobClient
from segstudio.gui.threads.worker import Job, JobContext, Priority
from segstudio.io.class_map import project_class_map
from segstudio.io.images import ImageReadError, read_rgb
from segstudio.io.project import ImageState, Project, ProjectError

PRELABEL_KIND = "prelabel"
MODELS_KIND = "models"


class ModelCatalog(QObject):
    """The models the backend offers, refreshed on request (the project's checkpoints included)."""

    changed = Signal()
    problem = Signal(str)

    def __init__(self, jobs: JobClient, backend: LazyBackend, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs, self.backend = jobs, backend
        self.models: tuple[ModelInfo, ...] = ()
        self.device = ""
        """Where the models run, as the last list said."""
        self.loaded = False
        self.asking = False

    def ensure(self, project_root: Path | None) -> None:
        """Ask for the list unless it is here or on its way."""
        if not self.loaded and not self.asking:
            self.refresh(project_root)

    def refresh(self, project_root: Path | None) -> None:
        if not self.backend.available:
            self.problem.emit("Models are not available: this window was started without a model backend")
            return
        backend = self.backend
        self.asking = True

        def run(context: JobContext) -> ModelList:
            return backend.get().list_models(project_root)

        job = Job(MODELS_KIND, "list", run, Priority.INTERACTIVE, "Listing models")
        self.jobs.submit(job, Handlers(done=self._listed, failed=self._failed, cancelled=self._failed))

    def get(self, name: str) -> ModelInfo | None:
        return next((m for m in self.models if m.name == name), None)

    def _failed(self, text: str = "") -> None:
        self.asking = False
        if text:
            self.problem.emit(text)

    def _listed(self, listing: ModelList) -> None:
        self.models, self.loaded, self.asking = listing.models, True, False
        self.device = listing.device or self.device
        self.changed.emit()
        if listing.problems:
            self.problem.emit("\n".join(listing.problems))


@dataclass(frozen=True)
class Prelabelled:
    """A job's result: the image and its predicted labels."""

    image_id: str
    labels: LabelMap


class PreLabeller(QObject):
    """Pre-labels images with a model and files the results (see the module notes)."""

    batch_progress = Signal(int, int)
    """Hundredths of images done, total hundredths (per-image progress included)."""
    batch_ended = Signal(int, int)
    """Images labelled, images asked for."""
    filed = Signal(str)
    """An image's prediction was saved (and shown when it is the open image)."""
    current_progress = Signal(int, int)
    """The current image's run: tiles done, tiles in all."""
    current_ended = Signal(str, bool)
    """The current image's run ended: the image, whether its prediction was filed."""
    status = Signal(str)
    problem = Signal(str)

    def __init__(
        self,
        jobs: JobClient,
        backend: LazyBackend,
        session: Session,
        set_state: Callable[[str, ImageState], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.jobs, self.backend, self.session = jobs, backend, session
        self._set_state = set_state
        self._batch: dict[int, float] = {}
        """Running batch: job id -> fraction done."""
        self._batch_total = 0
        self._batch_done = 0

    @property
    def batch_running(self) -> bool:
        return bool(self._batch)

    def current(self, model: str, weights: Path | None) -> int | None:
        """Pre-label the open image ahead of any batch; its pixels are the snapshot."""
        project, document = self.session.project, self.session.document
        if project is None or document is None:
            self.status.emit("No image is open")
            return None
        image_id = document.image_id
        job = self._job(project, image_id, document.rgb.copy(), model, weights, Priority.INTERACTIVE)

        def failed(text: str) -> None:
            self._failed(text)
            self.current_ended.emit(image_id, False)

        handlers = Handlers(
            done=lambda result: self.current_ended.emit(image_id, self._file(project, result)),
            failed=failed,
            cancelled=lambda: self.current_ended.emit(image_id, False),
            progress=self.current_progress.emit,
            message=self.status.emit,
        )
        return self.jobs.submit(job, handlers)

    def batch(self, image_ids: list[str], model: str, weights: Path | None) -> list[int]:
        """Pre-label ``image_ids``, one BATCH job each (added to a batch already running)."""
        project = self.session.project
        if project is None or not image_ids:
            self.status.emit("No images to pre-label")
            return []
        if not self._batch:
            self._batch_total = self._batch_done = 0
        job_ids = []
        for image_id in image_ids:
            job = self._job(project, image_id, project.image_path(image_id), model, weights, Priority.BATCH)
            job_id = self.jobs.submit(job, lambda new_id: self._batch_handlers(project, new_id))
            self._batch[job_id] = 0.0
            job_ids.append(job_id)
        self._batch_total += len(image_ids)
        self._report()
        return job_ids

    def cancel_batch(self) -> None:
        self.jobs.cancel(list(self._batch))

    def all_ids(self) -> list[str]:
        project = self.session.project
        return [] if project is None else project.image_ids()

    def unlabelled_ids(self) -> list[str]:
        project = self.session.project
        return [] if project is None else project.image_ids([ImageState.UNLABELLED])

    # -- the job ------------------------------------------------------------------------------

    def _job(
        self,
        project: Project,
        image_id: str,
        source: np.ndarray | Path,
        model: str,
        weights: Path | None,
        priority: Priority,
    ) -> Job:
        backend, palette, root = self.backend, project.palette, project.root  # immutable: safe to share

        def run(context: JobContext) -> Prelabelled:
            context.token.check()
            if isinstance(source, Path):
                try:
                    rgb = read_rgb(source)
                except ImageReadError as error:
                    raise ProjectError(str(error)) from error
            else:
                rgb = source
            edits = project_class_map(root, model, palette)  # the project's class map, if any
            labels = backend.get().prelabel(
                model,
                weights,
                rgb,
                palette,
                context.token,
                context.progress,
                context.message,
                class_map=None if edits is None else edits.map,
            )
            return Prelabelled(image_id, labels)

        return Job(PRELABEL_KIND, image_id, run, priority, f"Pre-labelling {image_id} with {model}")

    def _batch_handlers(self, project: Project, job_id: int) -> Handlers:
        def ended(labelled: bool) -> None:
            self._batch.pop(job_id, None)
            self._batch_done += labelled
            self._report()
            if not self._batch:
                self.batch_ended.emit(self._batch_done, self._batch_total)

        def done(result: Prelabelled) -> None:
            ended(self._file(project, result))

        def failed(text: str) -> None:
            self.cancel_batch()  # the same cause (missing weights, a bad file) would fail them all
            self._failed(text)
            ended(False)

        def progress(done_tiles: int, total_tiles: int) -> None:
            if job_id in self._batch:
                self._batch[job_id] = done_tiles / max(1, total_tiles)
                self._report()

        return Handlers(done, failed, lambda: ended(False), progress, None, self.status.emit)

    def _report(self) -> None:
        finished = self._batch_total - len(self._batch)
        running = sum(self._batch.values())
        self.batch_progress.emit(round(100 * (finished + running)), 100 * self._batch_total)

    # -- results on the GUI thread --------------------------------------------------------------

    def _file(self, project: Project, result: Prelabelled) -> bool:
        """Save and show a prediction; False when its project is no longer open or saving failed."""
        if project is not self.session.project:
            return False
        try:
            state = project.file_prediction(result.image_id, result.labels)
        except (ProjectError, OSError) as error:
            self.problem.emit(str(error))
            return False
        self._set_state(result.image_id, state)
        document = self.session.document
        if document is not None and document.image_id == result.image_id:
            document.set_prediction(result.labels)
        self.filed.emit(result.image_id)
        return True

    def _failed(self, text: str) -> None:
        self.problem.emit(text)
