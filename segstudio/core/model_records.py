"""Plain records passed between the GUI and the model backend: no Qt, no torch, just data.

The GUI (``gui/modelling/model_backend.py``) and the models (``models/service.py``) both use them, so they
live below both, in core. Paths, floats, strings and tuples only: a record crosses threads as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROJECT_MODELS_DIR = "models"
"""Models trained in a project are kept in ``PROJECT/models/NAME.pt``."""
CHECKPOINT_SUFFIX = ".pt"


def checkpoint_path(project_root: Path, name: str) -> Path:
    """Where the model ``name`` trained in the project at ``project_root`` is kept."""
    return Path(project_root) / PROJECT_MODELS_DIR / f"{name}{CHECKPOINT_SUFFIX}"


def project_checkpoints(project_root: Path) -> list[Path]:
    """The checkpoints kept in a project, by name."""
    return sorted((Path(project_root) / PROJECT_MODELS_DIR).glob(f"*{CHECKPOINT_SUFFIX}"))


@dataclass(frozen=True)
class ModelInfo:
    """One model as the model list shows it."""

    name: str
    task: str
    classes: tuple[str, ...]
    weights_present: bool
    """True when the weights are on disk or the model needs none (random init)."""
    random_init: bool
    """No published weights: it predicts with random weights until trained."""
    hint: str = ""
    """Where to place the weights file when it is missing (names the file)."""
    base: str | None = None
    """The architecture a fine-tuned model was trained from."""
    trainable: bool = False
    """A semantic architecture that "Train on this project" can fine-tune."""
    description: str = ""
    download_url: str = ""
    """The published weights' web address ("" for none): "Download weights" fetches it."""

    @property
    def downloadable(self) -> bool:
        """Missing weights that can be fetched from their published address."""
        return bool(self.download_url) and not self.weights_present


@dataclass(frozen=True)
class ModelList:
    """The models, and the checkpoint files that could not be used (each message names its file)."""

    models: tuple[ModelInfo, ...]
    problems: tuple[str, ...] = ()
    device: str = ""
    """Where the models run, as :meth:`ModelBackend.device_info` says it ("" when not asked)."""


DEVICE_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto", "Automatic (CUDA, then Apple MPS, then CPU)"),
    ("cuda", "CUDA GPU"),
    ("mps", "Apple GPU (MPS)"),
    ("cpu", "CPU"),
)
"""The device preferences the GUI offers: the value given to the backend, and its menu text.
"auto" leaves the choice to the runner (``$SEGSTUDIO_DEVICE``, then the first usable device)."""


@dataclass(frozen=True)
class TrainSettings:
    """How long and how to fine-tune (a subset of the trainer's settings the dialog exposes)."""

    epochs: int = 30
    time_limit: float | None = None
    batch_size: int = 4
    learning_rate: float = 1e-3
    val_fraction: float = 0.2
    augment: tuple[str, ...] = ("hflip",)


@dataclass(frozen=True)
class TrainPoint:
    """One step of training, for the live plot (``miou`` over the epoch's batches so far)."""

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    miou: float
    elapsed: float


@dataclass(frozen=True)
class TrainSummary:
    """What a training run produced: the registered model and its checkpoint inside the project."""

    name: str
    checkpoint: Path
    epochs: int
    seconds: float
    stopped_by: str
    val_miou: float | None
    extra: dict[str, object] = field(default_factory=dict)
