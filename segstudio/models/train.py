"""Fine-tune a registered architecture on a project's corrected labels.

The saved labels of a project (``labels/``, what humans corrected) are the training set; model
predictions (``predictions/``) never are. Palette class ids become contiguous output indices
(``class_ids[i]`` is the palette id of output ``i``) and ``VOID`` pixels are ignored by the
loss. A fraction of the labelled images is held out to report mIoU with the real inference
path (the :class:`~segstudio.models.runner.Runner`). The learning rate warms up, then follows
a cosine to zero over whichever budget runs out first, epochs or ``time_limit``, so a
time-limited run still ends on a low learning rate. The result is a checkpoint written
atomically (the registry's format plus class ids and normalisation) and registered as a model.
Images are held in memory: meant for the hundreds of images a labelling project corrects.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from segstudio.core.jobs import CancelToken
from segstudio.core.labels import VOID
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.model_records import TrainPoint
from segstudio.io.project import Project
from segstudio.models import registry
from segstudio.models.runner import LoadedModel, Runner, choose_device
from segstudio.models.weights import WeightsError, load_checkpoint, resolve_weights, state_dict_of

IGNORE = -1
"""Target value of pixels the loss skips (``VOID`` and ids outside the palette)."""

AUGMENTATIONS = ("hflip", "vflip", "rot90", "colour")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``augment``: any of ``hflip``, ``vflip``, ``rot90`` (these two only suit
    data with no up, like aerial, microscopy or the generated shapes) and ``colour`` (a random
    gain and offset per channel: lighting and white balance)."""

    epochs: int = 30
    time_limit: float | None = None
    val_fraction: float = 0.2
    batch_size: int = 4
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05
    crop_size: int = 256
    augment: tuple[str, ...] = ("hflip",)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.augment) - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(
                f"unknown augmentation(s) {sorted(unknown)}; choose from {', '.join(AUGMENTATIONS)}"
            )
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in [0, 1), got {self.val_fraction}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")


TrainProgress = TrainPoint
"""Reported after every optimisation step; ``miou`` is over this epoch's training batches so far.
A plain record of ``core`` so the GUI can plot it as it comes."""


@dataclass
class TrainResult:
    """What a run produced: the checkpoint, the registered spec and the held-out scores."""

    checkpoint: Path
    spec: registry.ModelSpec
    class_ids: tuple[int, ...]
    train_ids: list[str]
    val_ids: list[str]
    epochs_run: int
    stopped_by: str
    elapsed: float
    val_miou: float | None
    val_iou: dict[int, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.checkpoint),
            "model": self.spec.name,
            "base": self.spec.base,
            "class_ids": list(self.class_ids),
            "train_images": len(self.train_ids),
            "val_images": len(self.val_ids),
            "epochs": self.epochs_run,
            "stopped_by": self.stopped_by,
            "seconds": round(self.elapsed, 2),
            "val_miou": self.val_miou,
            "val_iou": {str(k): v for k, v in self.val_iou.items()},
        }


@dataclass
class Examples:
    """Images (H, W, 3 uint8) and targets (H, W int64 output indices, ``IGNORE`` where unlabelled)."""

    ids: list[str]
    images: list[np.ndarray]
    targets: list[np.ndarray]


def index_lut(class_ids: Sequence[int]) -> np.ndarray:
    """``(VOID + 1,)`` int64 table: palette id -> output index, ``IGNORE`` for VOID and unknown ids."""
    lut = np.full(VOID + 1, IGNORE, np.int64)
    lut[list(class_ids)] = np.arange(len(class_ids))
    return lut


def labelled_examples(project: Project, class_ids: Sequence[int]) -> Examples:
    """Every image whose saved labels carry at least one class pixel, with its target."""
    lut = index_lut(class_ids)
    examples = Examples([], [], [])
    for image_id in project.image_ids():
        target = lut[project.load_labels(image_id).category]
        if (target != IGNORE).any():
            examples.ids.append(image_id)
            examples.images.append(project.read_image(image_id))
            examples.targets.append(target)
    return examples


def split_ids(ids: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded split; at least one training image, and one held out when the fraction is > 0."""
    order = list(ids)
    np.random.default_rng(seed).shuffle(order)
    n_val = min(len(order) - 1, max(1 if val_fraction > 0 else 0, round(len(order) * val_fraction)))
    return order[n_val:], order[:n_val]


def _subset(examples: Examples, ids: Sequence[str]) -> Examples:
    index = {image_id: n for n, image_id in enumerate(examples.ids)}
    picked = [index[i] for i in ids]
    return Examples(list(ids), [examples.images[n] for n in picked], [examples.targets[n] for n in picked])


def _batch(
    examples: Examples,
    picks: np.ndarray,
    side: tuple[int, int],
    config: TrainConfig,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops of ``side`` (padded with IGNORE where an image is smaller), augmented."""
    height, width = side
    images = np.zeros((len(picks), height, width, 3), np.uint8)
    targets = np.full((len(picks), height, width), IGNORE, np.int64)
    for row, n in enumerate(picks):
        image, target = examples.images[n], examples.targets[n]
        h, w = min(height, image.shape[0]), min(width, image.shape[1])
        top = int(rng.integers(0, image.shape[0] - h + 1))
        left = int(rng.integers(0, image.shape[1] - w + 1))
        images[row, :h, :w] = image[top : top + h, left : left + w]
        targets[row, :h, :w] = target[top : top + h, left : left + w]
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    y = torch.from_numpy(targets)
    if "hflip" in config.augment and rng.random() < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    if "vflip" in config.augment and rng.random() < 0.5:
        x, y = x.flip(-2), y.flip(-2)
    if "rot90" in config.augment and height == width:
        turns = int(rng.integers(4))
        x, y = x.rot90(turns, (-2, -1)), y.rot90(turns, (-2, -1))
    x = x.float()
    if "colour" in config.augment:
        gain = torch.from_numpy(rng.uniform(0.7, 1.3, (len(picks), 3, 1, 1))).float()
        offset = torch.from_numpy(rng.uniform(-30, 30, (len(picks), 3, 1, 1))).float()
        x = (x * gain + offset).clamp(0, 255)
    return x.contiguous(), y.contiguous()


def _learning_rate(config: TrainConfig, progress: float) -> float:
    """Linear warm-up, then a cosine from the base rate down to zero at ``progress`` 1."""
    if progress < config.warmup:
        return config.learning_rate * max(progress / config.warmup, 0.01)
    remaining = (progress - config.warmup) / max(1e-9, 1 - config.warmup)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, remaining)))


def _initial_weights(
    module: torch.nn.Module, spec: registry.ModelSpec, weights: str | os.PathLike[str] | None
) -> set[str]:
    """Load what fits of the base weights (all but a resized classifier); returns the keys loaded.

    Published weights are used when on disk (never downloaded here); otherwise random init.
    """
    try:
        path = resolve_weights(spec, weights if weights is not None else registry.local_weights(spec))
    except WeightsError:
        if weights is not None:
            raise
        return set()
    if path is None:
        return set()
    own = module.state_dict()
    fitting = {
        k: v for k, v in state_dict_of(load_checkpoint(path)).items() if k in own and own[k].shape == v.shape
    }
    module.load_state_dict(fitting, strict=False)
    return set(fitting)


def start_at_the_prior(module: torch.nn.Module, examples: Examples, count: int, loaded: set[str]) -> None:
    """Set the classifier's bias to the log class frequencies (Lin et al., focal loss, 2017).

    A fresh head otherwise spends its first hundreds of Adam steps (about ``lr`` per step)
    learning how rare each class is; starting there roughly halves the steps a small
    project needs. The classifier is the last convolution with one output per class; one
    that came with the loaded weights is left alone.
    """
    heads = [
        (name, m)
        for name, m in module.named_modules()
        if isinstance(m, torch.nn.Conv2d) and m.out_channels == count
    ]
    if not heads or heads[-1][1].bias is None or f"{heads[-1][0]}.bias" in loaded:
        return
    bias = heads[-1][1].bias
    labelled = np.concatenate([t[t != IGNORE] for t in examples.targets])
    frequency = np.maximum(np.bincount(labelled, minlength=count), 1) / max(1, labelled.size)
    with torch.no_grad():
        bias.copy_(torch.from_numpy(np.log(frequency)))


def evaluate(
    runner: Runner, model: LoadedModel, examples: Examples, cancel: CancelToken | None = None
) -> ConfusionMatrix:
    """Confusion over output indices of ``model`` (class ids ``0..K-1``) on ``examples``."""
    count = len(model.class_ids)
    matrix = ConfusionMatrix(range(count))
    for image, target in zip(examples.images, examples.targets, strict=True):
        predicted = runner.predict_semantic(model, image, class_ids=range(count), cancel=cancel).category
        matrix.add(np.where(target == IGNORE, VOID, target).astype(np.uint16), predicted)
    return matrix


def _fit(
    module: torch.nn.Module,
    spec: registry.ModelSpec,
    examples: Examples,
    config: TrainConfig,
    device: torch.device,
    started: float,
    progress: Callable[[TrainProgress], None] | None,
    cancel: CancelToken | None,
) -> tuple[int, str]:
    """The optimisation loop; returns the epochs completed and what stopped it."""
    module.to(device).train()
    rng = np.random.default_rng(config.seed)
    optimiser = torch.optim.AdamW(
        module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    side = (
        min(config.crop_size, max(i.shape[0] for i in examples.images)),
        min(config.crop_size, max(i.shape[1] for i in examples.images)),
    )
    total_steps = config.epochs * math.ceil(len(examples.ids) / config.batch_size)
    step = 0
    for epoch in range(config.epochs):
        running = ConfusionMatrix(range(len(spec.class_names)))
        order = rng.permutation(len(examples.ids))
        for start in range(0, len(order), config.batch_size):
            if cancel is not None:
                cancel.check()
            budget = step / total_steps
            if config.time_limit:
                budget = max(budget, (time.monotonic() - started) / config.time_limit)
            if budget >= 1:
                return epoch, "time limit"
            x, y = _batch(examples, order[start : start + config.batch_size], side, config, rng)
            x, y = x.to(device), y.to(device)
            for group in optimiser.param_groups:
                group["lr"] = _learning_rate(config, budget)
            logits = registry.predict_logits(module, spec.normalize(x / 255))
            loss = F.cross_entropy(logits, y, ignore_index=IGNORE)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            truth = y.cpu().numpy().reshape(-1, side[1])
            running.add(
                np.where(truth == IGNORE, VOID, truth).astype(np.uint16),
                logits.detach().argmax(1).cpu().numpy().astype(np.uint16).reshape(-1, side[1]),
            )
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(
                    TrainProgress(
                        epoch + 1, config.epochs, step, total_steps, loss.item(), running.miou, elapsed
                    )
                )
    return config.epochs, "epochs"


def train(
    project: Project,
    base: registry.ModelSpec | str,
    out: str | os.PathLike[str],
    config: TrainConfig = TrainConfig(),
    *,
    name: str | None = None,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> TrainResult:
    """Fine-tune ``base`` on ``project``'s labels; save to ``out`` and register it as ``name``.

    ``name`` defaults to the checkpoint's file stem. Cancelling raises ``Cancelled`` and
    writes nothing.
    """
    started = time.monotonic()
    base = registry.get_spec(base) if isinstance(base, str) else base
    name = name or Path(out).stem
    if name in registry.BUILTIN_MODELS:
        raise ValueError(f"{name!r} is the name of a built-in model; choose another name or file name")
    palette = project.palette
    class_ids = tuple(palette.ids)
    examples = labelled_examples(project, class_ids)
    if not examples.ids:
        raise ValueError(f"{project.root}: no image has saved labels to train on")
    train_ids, val_ids = split_ids(examples.ids, config.val_fraction, config.seed)
    train_set, val_set = _subset(examples, train_ids), _subset(examples, val_ids)

    torch.manual_seed(config.seed)
    spec = base.fine_tuned(name, [c.name for c in palette], palette=palette.name)
    module = spec.build(len(class_ids))
    loaded = _initial_weights(module, base, weights)
    start_at_the_prior(module, train_set, len(class_ids), loaded)
    target_device = choose_device(device)
    epochs_run, stopped_by = _fit(module, spec, train_set, config, target_device, started, progress, cancel)

    module.eval()
    model = LoadedModel(module, spec.name, tuple(range(len(class_ids))), spec.mean, spec.std)
    val_miou, val_iou = None, {}
    if val_set.ids:
        runner = Runner(target_device, num_threads=torch.get_num_threads())
        matrix = evaluate(runner, model, val_set, cancel)
        val_miou = None if math.isnan(matrix.miou) else matrix.miou
        val_iou = {
            cid: (None if math.isnan(v) else float(v)) for cid, v in zip(class_ids, matrix.iou, strict=True)
        }
    elapsed = time.monotonic() - started
    extra = {"val_miou": val_miou, "train_images": len(train_ids), "epochs": epochs_run}
    path = registry.save_checkpoint(out, module, spec, class_ids=class_ids, training=extra)
    registered = registry.register_checkpoint(path, replace=True)
    return TrainResult(
        path, registered, class_ids, train_ids, val_ids, epochs_run, stopped_by, elapsed, val_miou, val_iou
    )
