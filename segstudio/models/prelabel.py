"""Pre-label a project's images with one loaded model: what each Ray actor holds, and the local run.

The driver makes a :class:`PrelabelPlan` once (model resolved, weights digested, the project's
palette and class map turned into class ids) and sends it to every worker; a
:class:`BatchLabeller` built from it loads the model once and then, per batch of
:class:`ImageTask`, reads the photos, predicts (semantic models: one batched forward pass) and
writes each prediction file atomically, tagged with the plan's :class:`PredictionSource`. It
never opens the project index: the driver records what came back (``prelabel_run``).

Class ids come from ``service.project_class_ids`` (the project's class map, else matching by
name) and thing blobs become instances, as when the app pre-labels one image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.core.labels import LabelMap
from segstudio.core.palette import Palette
from segstudio.io.class_map import project_class_map
from segstudio.io.image_entry import ProjectError
from segstudio.io.prediction_files import ImageTask, PredictionSource, read_task_image, write_prediction
from segstudio.models import registry
from segstudio.models.runner import Runner
from segstudio.models.service import project_class_ids
from segstudio.models.weights import (
    WeightsError,
    WeightsMissing,
    file_sha256,
    load_checkpoint,
    resolve_weights,
)

CHECKPOINT_SUFFIXES = (".pt", ".pth")


def resolve_model(model: str, weights: Path | None) -> tuple[registry.ModelSpec, Path | None]:
    """The spec to run and the weights file to load for ``--model``/``--weights``.

    ``model`` is a registered name or a ``segstudio train`` checkpoint; a checkpoint given as
    ``weights`` registers itself too (its spec carries its classes).
    """
    if Path(model).suffix in CHECKPOINT_SUFFIXES:
        if not Path(model).is_file():
            raise WeightsMissing(f"{model}: checkpoint file not found")
        return registry.register_checkpoint(model, replace=True), None
    spec = registry.get_spec(model)
    if weights is not None and not weights.is_file():
        raise WeightsMissing(f"{weights}: weights file not found")
    if weights is not None and load_checkpoint(weights).get("format") == registry.CHECKPOINT_FORMAT:
        return registry.register_checkpoint(weights, replace=True), None
    return spec, weights


def weights_digest(path: Path) -> str:
    return f"sha256:{file_sha256(path)}"


@dataclass(frozen=True)
class PrelabelPlan:
    """Everything a worker needs, made once on the driver (plain values: pickled to every worker)."""

    root: str
    model: str
    """``--model`` as given (a name or a checkpoint path): each worker resolves it again."""
    weights: str
    """The weights file every worker loads (absolute; on storage every worker reaches)."""
    source: PredictionSource
    class_ids: tuple[int, ...]
    thing_ids: frozenset[int]
    batch_size: int = 4


def make_plan(
    root: Path, model: str, weights: Path | None, palette: Palette, batch_size: int = 4
) -> PrelabelPlan:
    """Resolve the model and its weights, digest them and map its classes onto ``palette``
    (the project's class map for it applied). Fails here, before any work is sent out, on an
    unknown model, missing weights, a model with random weights, or no class in common."""
    spec, chosen = resolve_model(model, weights)
    path = resolve_weights(spec, chosen if chosen is not None else registry.local_weights(spec))
    if path is None:
        raise WeightsError(
            f"model {spec.name!r} has no weights (random initialisation); give a weights file with "
            "--weights FILE, so that every worker runs the same model"
        )
    edits = project_class_map(root, spec.name, palette)
    class_ids = project_class_ids(spec, palette, None if edits is None else edits.map)
    if Path(model).suffix in CHECKPOINT_SUFFIXES:
        model = str(Path(model).resolve())
    return PrelabelPlan(
        str(Path(root).resolve()),
        model,
        str(path.resolve()),
        PredictionSource(spec.name, weights_digest(path)),
        tuple(class_ids),
        frozenset(palette.thing_ids),
        batch_size,
    )


class BatchLabeller:
    """One loaded model writing the prediction files of batches of images (one per actor)."""

    def __init__(self, plan: PrelabelPlan, device: str | None = None, num_threads: int | None = None) -> None:
        self.plan = plan
        checkpoint_model = Path(plan.model).suffix in CHECKPOINT_SUFFIXES
        spec, _ = resolve_model(plan.model, None if checkpoint_model else Path(plan.weights))
        weights = Path(plan.weights)
        if weights_digest(weights) != plan.source.weights:
            raise WeightsError(f"{weights}: differs here from the file the run was started with")
        self.runner = Runner(device, batch_size=plan.batch_size, num_threads=num_threads)
        self.model = self.runner.load(spec, weights)

    def predict(self, images: Sequence[np.ndarray]) -> list[LabelMap]:
        """Labels of each image in the project's ids (thing blobs split into instances)."""
        plan, runner = self.plan, self.runner
        if self.model.output in ("logits", "dict"):
            found = runner.predict_semantic_batch(self.model, images, class_ids=plan.class_ids)
            return [prediction.to_labels(plan.thing_ids) for prediction in found]
        return [
            runner.predict_labels(self.model, rgb, class_ids=plan.class_ids, thing_ids=plan.thing_ids)[0]
            for rgb in images
        ]

    def __call__(self, tasks: Sequence[ImageTask]) -> list[str]:
        """Pre-label ``tasks``: per task "" when its prediction file is written, else why not
        (an unreadable photo fails its own image only; a model error fails the batch)."""
        errors = [""] * len(tasks)
        readable: list[int] = []
        images: list[np.ndarray] = []
        for number, task in enumerate(tasks):
            try:
                images.append(read_task_image(task))
                readable.append(number)
            except ProjectError as error:
                errors[number] = str(error)
        root = Path(self.plan.root)
        for number, labels in zip(readable, self.predict(images) if images else [], strict=True):
            try:
                write_prediction(root, tasks[number], labels, self.plan.source)
            except (ProjectError, OSError) as error:
                errors[number] = str(error)
        return errors
