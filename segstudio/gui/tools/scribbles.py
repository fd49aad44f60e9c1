"""Live scribble classification (ilastik / Labkit style): scribble, pause, see the whole image labelled.

Every pause in scribbling (``DEBOUNCE_MS`` after a stroke, an undo or a redo) the controller saves
the scribbles (``PROJECT/scribbles/ID.scribbles``, written on a thread of its own by
``gui.threads.file_writes``: the GUI thread only copies them; reading them back, another project or
closing the window waits for the write) and submits one INTERACTIVE job of kind ``"scribbles"``
keyed by the image id to the window's :class:`Worker`, with a snapshot of the scribbles. The job
(``core.scribble_run.classify_scribbles``) takes the image's features from a cache shared across
jobs, trains the forest, predicts every pixel and its uncertainty. A newer job for the same image
supersedes the older one, which stops at its next stage boundary; its result, should it still
arrive, is dropped by the worker. The result becomes the document's prediction (MODEL provenance),
so the IoU dock, the disagreement layer and "Accept the prediction" work on it as on a model's,
and it is saved as a model's is (``io.scribble_prediction``: file and index row written by the job
on the worker), so reopening the image shows it.

On an image larger than ``core.scribble_run.COARSE_PIXELS`` (a 12 MP photo) the job is the coarse
pass (``classify_coarse``: a downscaled copy, its features prefetched by a BATCH ``"scribble-features"``
job as soon as a scribble tool is chosen), shown as the prediction at once but not filed; its
arrival submits the full-resolution run as a BATCH ``"scribbles-refine"`` job (the same snapshot),
whose feature tiles are yield points: a newer stroke's coarse job runs between them, and the tiles
already computed stay cached. The refined result replaces the coarse one and is filed.

Scribbles of one class only are not trained on: the forest would paint the whole image with that
class (``train_from_scribbles``), which reads as a bug; the status bar asks for a second class.
Scribbles are training hints, saved as they are drawn; discarding label edits does not discard them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.core.box import Box
from segstudio.core.features import FeatureCache
from segstudio.core.pixel_classifier import ClassifierParams, PixelClassifier
from segstudio.core.prediction_metrics import LabelsSnapshot
from segstudio.core.scribble_run import (
    ScribbleRequest,
    ScribbleResult,
    classify_coarse,
    coarse_factor,
    prefetch_coarse_features,
)
from segstudio.gui.document.document import Document
from segstudio.gui.document.loading import path_stamp
from segstudio.gui.document.session import Session
from segstudio.gui.threads.file_writes import FileWrites
from segstudio.gui.threads.worker import Job, Priority, Worker
from segstudio.gui.tools.scribble_tally import ScribbleTally
from segstudio.gui.tools.scribble_tools import SCRIBBLE_TOOLS, is_scribble_tool
from segstudio.gui.tools.toolbox import ToolBox
from segstudio.io.project import Project, ProjectError
from segstudio.io.scribble_file import load_scribbles, scribbles_target, write_scribbles
from segstudio.io.scribble_prediction import FiledScribbles, classify_and_file

JOB_KIND = "scribbles"
REFINE_KIND = "scribbles-refine"
FEATURES_KIND = "scribble-features"
DEBOUNCE_MS = 300
"""Quiet time after a scribble change before the classifier retrains."""


class ScribbleController(QObject):
    """Owns the scribble tools' side effects: saving, training jobs, applying their results."""

    status = Signal(str)
    """A line for the status bar: progress, timings, or why nothing was trained."""
    applied = Signal(object)
    """A :class:`ScribbleResult` became the current document's prediction."""
    mode_entered = Signal()
    """A scribble tool was chosen (the window shows the prediction layer)."""

    def __init__(
        self,
        worker: Callable[[], Worker],
        session: Session,
        toolbox: ToolBox,
        parent: QObject | None = None,
        debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        super().__init__(parent)
        self._get_worker = worker
        self._worker: Worker | None = None
        self.toolbox = toolbox
        self.params = ClassifierParams()
        self.cache = FeatureCache(max_entries=2)
        """Feature stacks of the last images, filled and read on the worker thread (it is thread-safe)."""
        self._project: Project | None = None
        self._document: Document | None = None
        self._unsaved = False
        self.tally = ScribbleTally()
        """The scribbles' values and class counts, updated by the boxes strokes change."""
        self._snapshot: tuple[Document, LabelsSnapshot] | None = None
        """The last labels snapshot and its document: scribbling leaves the labels as they are."""
        self.writes = FileWrites(self)
        """The scribble files being written (see :meth:`flush`)."""
        self.writes.failed.connect(
            lambda path, error: self.status.emit(f"The scribbles could not be saved: {error}")
        )
        self._model: tuple[str, PixelClassifier] | None = None
        """The last model and its image: retraining on an unchanged training set hands it back."""
        self._jobs: set[int] = set()
        self._coarse: dict[int, tuple[ScribbleRequest, Project]] = {}
        """Coarse jobs and what their full-resolution refinement will need (the project it files
        into: the user may open another meanwhile)."""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.train_now)
        toolbox.add_tools(SCRIBBLE_TOOLS)
        toolbox.tool_changed.connect(self._tool_changed)
        session.document_opened.connect(lambda document: self.set_document(session.project, document))

    @property
    def worker(self) -> Worker:
        """The window's worker, asked for at the first training run (it may be created on first use)."""
        if self._worker is None:
            worker = self._worker = self._get_worker()
            worker.finished.connect(self._finished)
            worker.failed.connect(self._failed)
            worker.cancelled.connect(self._cancelled)
        return self._worker

    @property
    def active(self) -> bool:
        """Whether a scribble tool is chosen (undo and redo then act on the scribbles)."""
        return is_scribble_tool(self.toolbox.active)

    @property
    def busy(self) -> bool:
        """A training run is waiting for the pause, queued or running."""
        return self._timer.isActive() or bool(self._jobs) or bool(self._coarse)

    # -- the document ------------------------------------------------------------------------------

    def set_document(self, project: Project | None, document: Document | None) -> None:
        """Follow the open image: save the previous one's scribbles (in the background, but every
        write of a project lands before another project is shown), load the new one's."""
        self._timer.stop()
        self._save()
        if project is not self._project:
            self.writes.settle()
        if self._document is not None:
            self._document.scribbles_changed.disconnect(self._scribbles_changed)
        self._project, self._document = project, document
        self._snapshot = None
        self.tally.follow(None)
        if project is None or document is None:
            return
        path = scribbles_target(project, document.image_id).path
        read = document.scribbles_read
        counted = None
        if read is not None and not self.writes.pending(str(path)) and read.stamp == path_stamp(path):
            values, problem, counted = read.values, read.problem, read.counts  # the loader's
        else:
            values, problem = self._read(project, document, path)
        if problem:
            self.status.emit(f"The scribbles were left out: {problem}")
        self.tally.follow(document.scribbles, values, counted)
        document.scribbles_changed.connect(self._scribbles_changed)
        if self.active:
            self.prefetch()

    def _read(self, project: Project, document: Document, path: Path) -> tuple[np.ndarray | None, str]:
        """Read the scribble file once its last write has landed, into ``document``'s map (which
        the loader may have filled from an older file): (values, problem)."""
        self.writes.settle(str(path))
        try:
            values = load_scribbles(project, document.image_id)
        except ProjectError as error:
            values, problem = None, str(error)
        else:
            problem = ""
        earlier = document.scribbles_read
        if values is not None or (earlier is not None and earlier.values is not None):
            loaded = values if values is not None else np.zeros(document.shape, np.uint8)
            document.scribbles_changed.emit(document.scribbles.load_values(loaded))
        return values, problem

    def prefetch(self) -> int | None:
        """Compute the coarse pass's features of a large image ahead of the first stroke (a BATCH
        job: interactive work runs between its tiles); returns its job id, None when not needed."""
        document = self._document
        if document is None or coarse_factor(document.shape) == 1:
            return None
        image_id, rgb, cache = document.image_id, document.rgb, self.cache
        job = Job(
            FEATURES_KIND,
            image_id,
            lambda context: prefetch_coarse_features(image_id, rgb, cache, context.token.check),
            Priority.BATCH,
            "Preparing the scribble classifier…",
        )
        return self.worker.submit(job)

    def _scribbles_changed(self, box: Box) -> None:
        """A stroke segment, a whole stroke, an undo: retrain once the scribbling pauses."""
        self.tally.changed(box)
        if self._document is not None and not self._document.scribbles.in_stroke:
            self._unsaved = True
            self._timer.start()

    def flush(self) -> None:
        """Write unsaved scribbles and wait until every scribble file has landed (the window closes);
        a pending training run is dropped."""
        self._timer.stop()
        self._save()
        self.writes.settle()

    def _save(self, values: np.ndarray | None = None) -> None:
        """Hand the scribbles to the writer thread if changed; ``values``: the map's ``values()``
        when already made (a fresh array either way, never changed after: the thread may read it)."""
        document, project = self._document, self._project
        if not self._unsaved or document is None or project is None:
            return
        self._unsaved = False
        try:
            target = scribbles_target(project, document.image_id)
        except ProjectError as error:
            self.status.emit(f"The scribbles could not be saved: {error}")
            return
        scribbled = self.tally.values() if values is None else values
        self.writes.submit(str(target.path), lambda: write_scribbles(target, scribbled))

    def undo(self) -> None:
        self._step(lambda document: document.scribbles.undo())

    def redo(self) -> None:
        self._step(lambda document: document.scribbles.redo())

    def clear(self) -> None:
        """Remove every scribble of the image (one undoable step)."""
        self._step(lambda document: document.scribbles.clear())

    def _step(self, change: Callable[[Document], Box]) -> None:
        document = self._document
        if document is not None:
            self.toolbox.finish()
            box = change(document)
            if not box.is_empty:
                document.scribbles_changed.emit(box)

    def _tool_changed(self, name: str) -> None:
        if self.active:
            self.mode_entered.emit()
            self.prefetch()

    # -- training ----------------------------------------------------------------------------------

    def train_now(self) -> int | None:
        """Save the scribbles and submit a training run for the current image; returns its job id."""
        self._timer.stop()
        document = self._document
        if document is None:
            self._save()
            return None
        values = self.tally.values()  # one 12 MP copy for the file and the request
        self._save(values)
        counts = self.tally.counts()
        if len(counts) < 2:
            self.status.emit(self._why_not(counts))
            return None
        request = ScribbleRequest(
            document.image_id,
            document.rgb,
            values,
            self.params,
            self._model[1] if self._model and self._model[0] == document.image_id else None,
            thing_ids=frozenset(self.toolbox.palette.thing_ids),
            labels=self._labels_snapshot(document),
        )
        pixels = sum(counts.values())
        project = self._project
        if project is None:
            return None
        title = f"Training on {pixels:,} scribbled pixels of {len(counts)} classes…"
        cache = self.cache  # the job holds plain data only, never a QObject (see gui.threads.gc_guard)
        if coarse_factor(document.shape) > 1:
            self.worker.cancel_kind(REFINE_KIND)  # a refinement of older scribbles is stale
            job = Job(
                JOB_KIND,
                document.image_id,
                lambda context: classify_coarse(request, cache, context.token.check),
                Priority.INTERACTIVE,
                title,
            )
            job_id = self.worker.submit(job)
            self._coarse[job_id] = (request, project)
            self.status.emit(job.title)
            return job_id
        return self._submit_full(request, project, Priority.INTERACTIVE, JOB_KIND, title)

    def _labels_snapshot(self, document: Document) -> LabelsSnapshot:
        """The labels to count the prediction against, copied again only when they changed (two
        12 MP copies; scribbling alone never changes them)."""
        kept = self._snapshot
        if (
            kept is not None
            and kept[0] is document
            and kept[1].revision == document.revision
            and kept[1].class_ids == tuple(document.palette.ids)
        ):
            return kept[1]
        snapshot = document.labels_snapshot()
        self._snapshot = (document, snapshot)
        return snapshot

    def _submit_full(
        self, request: ScribbleRequest, project: Project, priority: Priority, kind: str, title: str
    ) -> int:
        """The full-resolution run, which files its prediction in ``project`` (on the worker: the
        file and the index's commits are too slow for the GUI thread)."""
        cache = self.cache
        job = Job(
            kind,
            request.image_id,
            lambda context: classify_and_file(request, cache, context.token.check, project),
            priority,
            title,
        )
        job_id = self.worker.submit(job)
        self._jobs.add(job_id)
        if priority == Priority.INTERACTIVE:
            self.status.emit(job.title)
        return job_id

    def _why_not(self, counts: dict[int, int]) -> str:
        if not counts:
            return "No scribbles: pick a class and scribble with the scribble brush (K)"
        names = [self._name(category) for category in counts]
        return f"Scribble a second class to train the classifier (only {', '.join(names)} so far)"

    def _name(self, category: int) -> str:
        palette = self.toolbox.palette
        return palette[category].name if category in palette else f"class {category}"

    def _cancelled(self, job_id: int) -> None:
        self._jobs.discard(job_id)
        self._coarse.pop(job_id, None)

    def _finished(self, job_id: int, result: object) -> None:
        if job_id in self._coarse:
            self._coarse_finished(job_id, result)
            return
        if job_id not in self._jobs:
            return
        self._jobs.discard(job_id)
        assert isinstance(result, FiledScribbles)
        filed, result = result, result.result
        self._model = (result.image_id, result.model)
        if filed.problem is not None:
            self.status.emit(f"The scribble classifier's prediction was not saved: {filed.problem}")
        document = self._document
        if document is None or document.image_id != result.image_id:
            return  # the user moved on to another image
        prediction = result.to_labels()
        document.set_prediction(prediction, result.uncertainty, result.metrics)
        names = ", ".join(self._name(category) for category in result.classes)
        self.status.emit(
            f"Scribble classifier: {names} from {result.scribbled_pixels:,} pixels in "
            f"{result.total_ms:.0f} ms (features {result.features_ms:.0f}, train {result.train_ms:.0f}, "
            f"predict {result.predict_ms:.0f})"
        )
        self.applied.emit(result)

    def _coarse_finished(self, job_id: int, result: object) -> None:
        """Show the coarse result at once, then refine at full resolution on the worker."""
        request, project = self._coarse.pop(job_id)
        assert isinstance(result, ScribbleResult)
        document = self._document
        if document is None or document.image_id != result.image_id:
            return  # the user moved on to another image
        document.set_prediction(result.to_labels(), result.uncertainty, result.metrics)
        self.status.emit(
            f"Scribble classifier: first result at 1/{result.scale} scale in {result.total_ms:.0f} ms; "
            "refining at full resolution…"
        )
        self.applied.emit(result)
        self._submit_full(request, project, Priority.BATCH, REFINE_KIND, "Refining the scribble classifier…")

    def _failed(self, job_id: int, message: str) -> None:
        if job_id in self._jobs or job_id in self._coarse:
            self._jobs.discard(job_id)
            self._coarse.pop(job_id, None)
            self.status.emit(f"The scribble classifier failed: {message}")
