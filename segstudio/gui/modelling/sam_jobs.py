"""Click to segment on the worker: the image's SAM embedding and each prompt's mask as INTERACTIVE jobs.

The embedding is one job of kind ``"sam-embed"`` under one key for every image, so moving to
another image supersedes it (queued: dropped; running: cancelled between the encoder's blocks).
Prompts are jobs of kind ``"sam-prompt"``, also under one key: a newer prompt set replaces a
queued older one (it holds all the older one's prompts). A prompt job embeds first, which is a
cache hit once the embedding job has run (the same worker runs jobs of one priority in order),
so only the decoder runs per click. Everything model-side goes through the backend (no torch here).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, Signal

from segstudio.core.labels import LabelMap
from segstudio.core.prompts import Prompts
from segstudio.core.sam_refine import ThingBox, refined, refined_source_model, thing_boxes
from segstudio.gui.modelling.model_backend import LazyBackend
from segstudio.gui.threads.job_client import Handlers, JobClient
from segstudio.gui.threads.worker import Job, JobContext, Priority
from segstudio.io.prediction_files import PredictionSource
from segstudio.io.project import ProjectError

DEFAULT_MODEL = "sam2.1-tiny"
EMBED_KIND, PROMPT_KIND, REFINE_KIND = "sam-embed", "sam-prompt", "sam-refine"
KEY = "open image"

MaskCallback = Callable[[np.ndarray, float, object], None]


class PredictionHolder(Protocol):
    """The open image as "Refine with SAM" needs it (``gui.document.Document``)."""

    image_id: str
    rgb: np.ndarray
    prediction: LabelMap | None

    def set_prediction(self, prediction: LabelMap | None) -> None: ...


class PredictionStore(Protocol):
    """Where a refined prediction is filed (``io.project.Project``)."""

    def save_prediction(
        self, image_id: str, labels: LabelMap, source: PredictionSource | None = None
    ) -> None: ...


class SamJobs(QObject):
    """Submits SAM work for the open image; implements ``gui.tools.sam_tool.SamService``."""

    message = Signal(str)
    """A line for the status bar (Refine with SAM)."""

    def __init__(
        self,
        jobs: JobClient,
        backend: LazyBackend,
        parent: QObject | None = None,
        project: Callable[[], PredictionStore | None] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self._jobs, self._backend, self._project = jobs, backend, project
        self.model = DEFAULT_MODEL
        """The SAM model the tool uses (a registered ``promptable`` model)."""
        self.weights: Path | None = None
        """A local checkpoint; None: the model's published weights (hub cache)."""
        self.disk_cache: Path | None = None
        """A folder keeping embeddings between sessions (None: in memory only)."""
        self._embedding: tuple[str, int] | None = None
        self._submitted: list[int] = []

    def prefetch(self, image_id: str, rgb: np.ndarray, failed: Callable[[str], None]) -> None:
        """Start embedding ``rgb`` unless it was asked for already (the backend caches the result)."""
        if self._embedding == (image_id, id(rgb)):
            return
        self._embedding = (image_id, id(rgb))
        backend, model, weights, cache = self._backend, self.model, self.weights, self.disk_cache

        def run(context: JobContext) -> str:
            return backend.get().sam_embed(model, weights, rgb, context.token, cache, context.message)

        self._submit(Job(EMBED_KIND, KEY, run, Priority.INTERACTIVE, "Embedding the image for SAM"), failed)

    def predict(
        self,
        image_id: str,
        rgb: np.ndarray,
        prompts: Prompts,
        done: MaskCallback,
        failed: Callable[[str], None],
        shape: Callable[[np.ndarray], object] = lambda mask: None,
    ) -> None:
        """SAM's mask for ``prompts``; ``done(mask, score, shape(mask))`` on the GUI thread, where
        ``shape`` (the tool's outline of the mask) runs on the worker, off the GUI thread."""
        self.prefetch(image_id, rgb, failed)
        backend, model, weights, cache = self._backend, self.model, self.weights, self.disk_cache

        def run(context: JobContext) -> tuple[np.ndarray, float, object]:
            service = backend.get()
            key = service.sam_embed(model, weights, rgb, context.token, cache, context.message)
            mask, score = service.sam_predict(model, weights, key, prompts)
            return mask, score, shape(mask)

        job = Job(PROMPT_KIND, KEY, run, Priority.INTERACTIVE, "Click to segment")
        self._submit(job, failed, lambda result: done(*result))  # type: ignore[misc]

    def refine(
        self, document: PredictionHolder | None, thing_ids: Collection[int], instance: int | None = None
    ) -> None:
        """Refine with SAM: each thing instance of the prediction (``instance``: that one only) gets
        SAM's mask for its box. The result replaces the prediction (unless it changed meanwhile),
        so the IoU and PQ docks show it, and is saved as the image's prediction, filed under
        ``sam-refine:<model>`` and the SAM weights' digest (see ``core.sam_refine``)."""
        prediction = None if document is None else document.prediction
        if document is None or prediction is None:
            self.message.emit("Refine with SAM: there is no prediction to refine")
            return
        things = thing_boxes(prediction, thing_ids, only=instance)
        if not things:
            self.message.emit(
                "Refine with SAM: the prediction has no objects of thing classes"
                if instance is None
                else "Refine with SAM: no object of a thing class of the prediction there"
            )
            return
        backend, model, weights, rgb = self._backend, self.model, self.weights, document.rgb
        boxes = [thing.box for thing in things]

        def run(context: JobContext) -> tuple[list[np.ndarray], str]:
            service = backend.get()
            masks = service.sam_boxes(model, weights, rgb, boxes, context.token)
            return masks, service.sam_weights(model, weights)

        def done(result: object) -> None:
            masks, digest = result  # type: ignore[misc]
            source = PredictionSource(refined_source_model(model), digest)
            self._refined(document, prediction, things, masks, source)

        job = Job(REFINE_KIND, KEY, run, Priority.INTERACTIVE, "Refine with SAM")
        self.message.emit(f"Refine with SAM: {_objects(len(things))}…")
        self._submit(job, lambda text: self.message.emit(f"Refine with SAM: {text}"), done)

    def _refined(
        self,
        document: PredictionHolder,
        before: LabelMap,
        things: list[ThingBox],
        masks: list[np.ndarray],
        source: PredictionSource,
    ) -> None:
        if document.prediction is not before:
            self.message.emit("Refine with SAM: dropped, the prediction changed meanwhile")
            return
        after = refined(before, things, masks)
        document.set_prediction(after)
        project = self._project()
        try:
            if project is not None:
                project.save_prediction(document.image_id, after, source)
        except (ProjectError, OSError) as error:
            self.message.emit(f"Refine with SAM: {_objects(len(things))} refined but not saved: {error}")
            return
        self.message.emit(f"Refine with SAM: {_objects(len(things))} refined")

    def cancel(self) -> None:
        """Drop the queued and running SAM jobs (another image, another tool)."""
        self._jobs.cancel([job_id for job_id in self._submitted if job_id in self._jobs.pending()])
        self._submitted.clear()
        self._embedding = None

    def pending(self) -> bool:
        return any(job_id in self._jobs.pending() for job_id in self._submitted)

    def _submit(
        self, job: Job, failed: Callable[[str], None], done: Callable[[object], None] | None = None
    ) -> None:
        pending = set(self._jobs.pending())
        self._submitted = [job_id for job_id in self._submitted if job_id in pending]
        handlers = Handlers(done=done, failed=failed, message=self.message.emit)
        self._submitted.append(self._jobs.submit(job, handlers))


def _objects(count: int) -> str:
    return "1 object" if count == 1 else f"{count} objects"
