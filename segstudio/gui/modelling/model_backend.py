"""What the GUI needs from the model half, in plain data: the GUI never imports torch.

``app.py`` hands the window a *factory* of a :class:`ModelBackend` (``segstudio.models.service``
implements it). The factory is called on the worker thread the first time a model job runs, so
start-up imports no torch and the GUI thread never pays for that import. Every backend call
happens on the worker thread, one at a time; the backend may keep state (a runner, cached models).
The records it takes and returns live in ``core.model_records`` (the models use them too).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from segstudio.core.jobs import CancelToken, ProgressCallback
from segstudio.core.labels import LabelMap
from segstudio.core.model_records import ModelInfo, ModelList, TrainPoint, TrainSettings, TrainSummary
from segstudio.core.palette import Palette
from segstudio.core.prompts import Prompts

__all__ = [
    "BackendFactory",
    "LazyBackend",
    "ModelBackend",
    "ModelInfo",
    "ModelList",
    "TrainPoint",
    "TrainSettings",
    "TrainSummary",
    "model_label",
    "pick_default",
]

MessageCallback = Callable[[str], None]


class ModelBackend(Protocol):
    """The model half, called on the worker thread only."""

    @property
    def device(self) -> str:
        """Where models run ("cpu", "cuda", ...)."""
        ...

    def set_device(self, preference: str | None) -> None:
        """Run on ``preference`` (a ``DEVICE_CHOICES`` value; None/"auto": choose) from the next job."""
        ...

    def device_info(self, message: MessageCallback) -> str:
        """Where models run now, for people ("cuda:0 (NVIDIA ...)"); a fallback is told by ``message``."""
        ...

    def download_weights(self, name: str, token: CancelToken, progress: ProgressCallback) -> Path:
        """Fetch ``name``'s published weights (``progress`` in KiB, total 0 when unknown; it is
        also a cancel point, and a cancelled download resumes next time)."""
        ...

    def list_models(self, project_root: Path | None = None) -> ModelList:
        """Every registered model, after registering the checkpoints in ``project_root/models``."""
        ...

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
        """Model ``name``'s labels of ``rgb`` in ``palette``'s ids (MODEL provenance).

        ``class_map``: model class name -> palette class name (None: unlabelled), applied before
        the by-name rule; the project's ``models/class-maps/MODEL.json`` (``io.class_map``)."""
        ...

    def sam_embed(
        self,
        name: str,
        weights: Path | None,
        rgb: np.ndarray,
        token: CancelToken,
        disk_cache: Path | None = None,
        message: MessageCallback | None = None,
    ) -> str:
        """Click to segment: embed ``rgb`` with SAM model ``name`` (cached in memory, and in the
        ``disk_cache`` folder when given; ``message`` hears of its unusable files); returns the
        image's key."""
        ...

    def sam_predict(
        self, name: str, weights: Path | None, key: str, prompts: Prompts
    ) -> tuple[np.ndarray, float]:
        """SAM's mask (bool, image size) and score for ``prompts`` on the embedded image ``key``."""
        ...

    def sam_weights(self, name: str, weights: Path | None) -> str:
        """The SAM weights' digest as a prediction's source names it (``sha256:<hex>``)."""
        ...

    def sam_boxes(
        self,
        name: str,
        weights: Path | None,
        rgb: np.ndarray,
        boxes: Sequence[tuple[float, float, float, float]],
        token: CancelToken,
    ) -> list[np.ndarray]:
        """SAM's mask (bool, image size) for each (x0, y0, x1, y1) box prompt on ``rgb``."""
        ...

    def train(
        self,
        project_root: Path,
        architecture: str,
        out_path: Path,
        settings: TrainSettings,
        token: CancelToken,
        progress: Callable[[TrainPoint], None],
    ) -> TrainSummary:
        """Fine-tune ``architecture`` on the project's saved labels; save and register the result."""
        ...


BackendFactory = Callable[[], ModelBackend]


class LazyBackend:
    """Creates the backend on first use (on the worker thread), once, whoever asks first.

    The device preference is set here from the GUI thread and handed to the backend on the worker
    thread by the next :meth:`get`, so the backend is only ever touched by the worker."""

    def __init__(self, factory: BackendFactory | None, device: str | None = None) -> None:
        self._factory = factory
        self._backend: ModelBackend | None = None
        self._lock = threading.Lock()
        self._device = device
        self._applied_device: str | None = None

    @property
    def device_preference(self) -> str | None:
        return self._device

    def set_device(self, preference: str | None) -> None:
        """Use ``preference`` from the next model job on (callable from any thread)."""
        with self._lock:
            self._device = preference

    @property
    def available(self) -> bool:
        return self._factory is not None

    @property
    def created(self) -> bool:
        """The backend was made (the model half, torch, is loaded)."""
        return self._backend is not None

    def get(self) -> ModelBackend:
        """The backend; raises RuntimeError when this window was built without models."""
        with self._lock:
            if self._backend is None:
                if self._factory is None:
                    raise RuntimeError("models are not available in this window (no model backend)")
                self._backend = self._factory()
                self._applied_device = None
            if self._device != self._applied_device:
                self._backend.set_device(self._device)
                self._applied_device = self._device
            return self._backend


def model_label(info: ModelInfo) -> str:
    """The model list's text for a model: its name and whether it can run as is."""
    if info.random_init:
        state = "random weights"
    elif info.weights_present:
        state = "weights present"
    else:
        state = "weights missing"
    return f"{info.name}  ({info.task}, {len(info.classes)} classes, {state})"


FIRST_DOWNLOAD = "lraspp_mobilenet_v3_large"
"""The model offered when no trained weights are here: the smallest published download (VOC, ~13 MB)."""


def pick_default(models: Sequence[ModelInfo], wanted: str | None) -> int:
    """Index of ``wanted`` in ``models``, else of the first model with trained weights here, else of
    :data:`FIRST_DOWNLOAD` (one click to fetch), else 0. Never a random-weights model by choice:
    its labels would be noise on a first try."""
    names = [m.name for m in models]
    if wanted in names:
        return names.index(wanted)
    ready = next(
        (
            i
            for i, m in enumerate(models)
            if m.weights_present and not m.random_init and m.task != "promptable"
        ),
        None,
    )  # SAM (promptable) labels nothing by itself
    if ready is not None:
        return ready
    return names.index(FIRST_DOWNLOAD) if FIRST_DOWNLOAD in names else 0
