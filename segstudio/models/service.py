"""The GUI's model backend: plain Python over the registry, the runner and the trainer.

Implements ``segstudio.gui.modelling.model_backend.ModelBackend`` structurally: models never import Qt,
and the records both sides use live in ``core.model_records``. ``app.py`` hands the window a
factory of this class; the worker thread calls it, so torch is imported there, off the GUI
thread, on the first model job. The :class:`Runner` is created lazily too (on that thread),
which also sets torch's CPU thread count to leave the GUI a core.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from segstudio.core.jobs import CancelToken, ProgressCallback
from segstudio.core.labels import VOID, LabelMap
from segstudio.core.model_records import (
    ModelInfo,
    ModelList,
    TrainPoint,
    TrainSettings,
    TrainSummary,
    project_checkpoints,
)
from segstudio.core.palette import Palette
from segstudio.core.prompts import Prompts
from segstudio.io.project import Project
from segstudio.models import registry
from segstudio.models.runner import Runner
from segstudio.models.sam import SamPredictor, load_predictor
from segstudio.models.sam_cache import EmbeddingStore
from segstudio.models.train import TrainConfig, train
from segstudio.models.weights import WeightsError, place_hint, resolve_weights

MessageCallback = Callable[[str], None]
KIB = 1024


def model_info(spec: registry.ModelSpec) -> ModelInfo:
    """A spec as the GUI's model list shows it."""
    present = registry.weights_here(spec)
    return ModelInfo(
        name=spec.name,
        task=spec.task,
        classes=spec.class_names,
        weights_present=present,
        random_init=not spec.weights,
        hint="" if present else place_hint(spec),
        base=spec.base,
        trainable=spec.task == "semantic" and spec.base is None,
        description=spec.description,
        download_url=published_url(spec),
    )


def published_url(spec: registry.ModelSpec) -> str:
    """The first web address of the spec's weights ("" for none: random init or a local checkpoint)."""
    return next((s.url for s in spec.weights if urllib.parse.urlparse(s.url).scheme in ("http", "https")), "")


def describe_device(device: torch.device) -> str:
    """A device as the user knows it: the GPU's name, or how many CPU threads the models use."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return str(device)


def project_class_ids(
    spec: registry.ModelSpec, palette: Palette, class_map: Mapping[str, str | None] | None = None
) -> list[int]:
    """Palette id of each model output: ``class_map``'s choice (a project's class-map file), else
    the palette class of the same name (``CLASS_NAME_ALIASES`` included), VOID for none. By name,
    not by the ids a checkpoint stored: the same ids may mean other classes in another project.
    Raises when no class matches: the output would be all VOID."""
    lut = registry.palette_lut(spec.class_names, palette, overrides=class_map)
    ids = [int(i) for i in lut[: len(spec.class_names)]]
    if all(i == VOID for i in ids):
        raise ValueError(
            f"model {spec.name!r} has no class of the palette {palette.name!r} "
            f"(its classes: {', '.join(spec.class_names[:8])}{'…' if len(spec.class_names) > 8 else ''})"
        )
    return ids


class ModelService:
    """The one model backend of a window: caches the runner and its models between jobs."""

    def __init__(self, device: str | None = None, *, num_threads: int | None = None) -> None:
        self._device = device
        self._num_threads = num_threads
        self._runner: Runner | None = None
        self._message: MessageCallback = lambda text: None
        self._sam: dict[tuple[str, Path | None], SamPredictor] = {}

    def runner(self) -> Runner:
        """The runner, created on first use; its fallback messages go to the current job."""
        if self._runner is None:
            self._runner = Runner(self._device, num_threads=self._num_threads, message=self._tell)
        return self._runner

    def _tell(self, text: str) -> None:
        self._message(text)

    @property
    def device(self) -> str:
        return str(self.runner().device)

    def set_device(self, preference: str | None) -> None:
        """Run on ``preference`` ("cuda", "mps", "cpu"; None or "auto": choose) from the next job on.

        The runner and its cached models are dropped; an unusable preference falls back, with a
        message, when the next runner is made."""
        preference = None if preference in (None, "", "auto") else preference
        if preference == self._device:
            return
        old, self._device, self._runner = self._runner, preference, None
        self._sam.clear()
        if old is not None and old.device.type == "cuda":
            del old
            torch.cuda.empty_cache()  # give the old models' memory back to other programs

    def device_info(self, message: MessageCallback) -> str:
        """Where models run now (:func:`describe_device`); a fallback from the preference is told."""
        self._message = message
        try:
            return describe_device(self.runner().device)
        finally:
            self._message = lambda text: None

    def download_weights(self, name: str, token: CancelToken, progress: ProgressCallback) -> Path:
        """Fetch model ``name``'s published weights into the hub cache (resumable, verified).

        ``progress(KiB, total KiB)`` (total 0 when unknown; KiB keep big files in Qt's 32-bit ints)
        is also a cancel point: a cancelled download keeps its ``.part`` file and the next one
        resumes from it."""
        spec = registry.get_spec(name)

        def report(done: int, total: int | None) -> None:
            token.check()
            progress(done // KIB, (total or 0) // KIB)

        path = resolve_weights(spec, download=True, progress=report)
        if path is None:
            raise WeightsError(f"model {name!r} has no published weights to download")
        return path

    def list_models(self, project_root: Path | None = None) -> ModelList:
        """Every model, after registering the project's checkpoints (a bad one is a problem, named)."""
        problems = []
        if project_root is not None:
            for path in project_checkpoints(project_root):
                try:
                    registry.register_checkpoint(path, replace=True)
                except (WeightsError, ValueError, KeyError) as error:
                    text = str(error)
                    problems.append(text if str(path.name) in text else f"{path}: {text}")
        models = tuple(model_info(spec) for spec in registry.list_specs())
        return ModelList(models, tuple(problems), describe_device(self.runner().device))

    def prelabel(
        self,
        name: str,
        weights: Path | None,
        rgb: np.ndarray,
        palette: Palette,
        token: CancelToken,
        progress: ProgressCallback,
        message: MessageCallback,
        class_map: Mapping[str, str | None] | None = None,
    ) -> LabelMap:
        """Model ``name``'s labels of ``rgb`` in ``palette``'s ids, with MODEL provenance.

        ``class_map`` (model class name -> palette class name or None) edits the by-name rule:
        the project's class-map file for this model, when it has one."""
        self._message = message
        try:
            runner = self.runner()
            spec = registry.get_spec(name)
            model = runner.load(spec, weights)
            class_ids = project_class_ids(spec, palette, class_map)
            labels, _ = runner.predict_labels(
                model,
                rgb,
                class_ids=class_ids,
                thing_ids=palette.thing_ids,  # each blob of a thing class is its own object
                progress=progress,
                cancel=token,
            )
        finally:
            self._message = lambda text: None
        return labels

    def sam_embed(
        self,
        name: str,
        weights: Path | None,
        rgb: np.ndarray,
        token: CancelToken,
        disk_cache: Path | None = None,
        message: MessageCallback | None = None,
    ) -> str:
        """Embed ``rgb`` for SAM model ``name`` (cached per pixels and weights); returns its key.

        The model is loaded once per (name, weights) on the runner's device; ``token`` is checked
        between the image encoder's blocks. ``disk_cache``: a folder that keeps embeddings between
        sessions too (``models.sam_cache``; None: memory only); ``message`` hears about its files
        that had to be ignored."""
        predictor = self._sam_predictor(name, weights)
        if disk_cache is None:
            predictor.store = None
        elif predictor.store is None or predictor.store.folder != disk_cache:
            predictor.store = EmbeddingStore(disk_cache)
        if predictor.store is not None:
            predictor.store.note = message or (lambda text: None)
        return predictor.embed(rgb, token)

    def sam_predict(
        self, name: str, weights: Path | None, key: str, prompts: Prompts
    ) -> tuple[np.ndarray, float]:
        """SAM's mask (bool, the image's size) and score for ``prompts`` on the embedded image ``key``."""
        result = self._sam_predictor(name, weights).predict(key, prompts)
        return result.mask, result.score

    def sam_boxes(
        self,
        name: str,
        weights: Path | None,
        rgb: np.ndarray,
        boxes: Sequence[tuple[float, float, float, float]],
        token: CancelToken,
    ) -> list[np.ndarray]:
        """SAM's mask for each box prompt on ``rgb`` (one embedding; ``token`` checked between boxes)."""
        predictor = self._sam_predictor(name, weights)
        key = predictor.embed(rgb, token)
        masks = []
        for box in boxes:
            token.check()
            masks.append(predictor.predict(key, Prompts(box=tuple(box))).mask)  # type: ignore[arg-type]
        return masks

    def sam_weights(self, name: str, weights: Path | None) -> str:
        """Which weights SAM model ``name`` runs with, as a prediction's source names them
        (``sha256:<hex>`` of the checkpoint; ``random:...`` for a network without weights)."""
        digest = self._sam_predictor(name, weights).weights_digest
        return digest if ":" in digest else f"sha256:{digest}"

    def _sam_predictor(self, name: str, weights: Path | None) -> SamPredictor:
        """The SAM model in use, loaded on first use; one at a time (another model chosen in the
        app lets the previous one go, with its embeddings: SAM 2.1 large alone is ~0.9 GB)."""
        predictor = self._sam.get((name, weights))
        if predictor is None:
            predictor = load_predictor(registry.get_spec(name), weights, device=self.runner().device)
            self._sam.clear()
            self._sam[(name, weights)] = predictor
        return predictor

    def train(
        self,
        project_root: Path,
        architecture: str,
        out_path: Path,
        settings: TrainSettings,
        token: CancelToken,
        progress: Callable[[TrainPoint], None],
    ) -> TrainSummary:
        """Fine-tune on the project's saved labels; the checkpoint is registered under its file stem."""
        config = TrainConfig(**dataclasses.asdict(settings))  # the GUI's settings are a subset
        runner = self.runner()
        result = train(
            Project.open(project_root),
            architecture,
            out_path,
            config,
            device=runner.device,
            progress=progress,
            cancel=token,
        )
        runner.forget(result.spec.name)  # a model retrained under its old name must be reloaded
        summary = result.to_json()
        return TrainSummary(
            result.spec.name,
            result.checkpoint,
            result.epochs_run,
            result.elapsed,
            result.stopped_by,
            result.val_miou,
            {k: summary[k] for k in ("train_images", "val_images", "class_ids")},
        )
