"""The model registry: a name -> ``ModelSpec`` table, the one place that knows every model.

Usage (runner, training, weights and the command line code against this)::

    from segstudio.models import registry

    spec = registry.get_spec("deeplabv3")       # UnknownModelError (a ValueError) lists the names
    model = spec.build()                         # random weights, len(spec.class_names) outputs
    model = spec.build(num_classes=3)            # same architecture, 3 outputs (to fine-tune)
    x = spec.normalize(images)                   # (N, 3, H, W) float RGB in [0, 1] -> model input
    logits = registry.predict_logits(model, x)   # semantic models: (N, C, H, W) at the input size
    lut = registry.palette_lut(spec.class_names, palette)  # class index -> palette id (or VOID)
    for url, sha256, file_name in spec.weights:  # published weights; () for random-init models
        ...

``ModelSpec`` fields: ``name``; ``task`` ("semantic", "instance", "panoptic", "body-parts");
``class_names`` (index i = output class i); ``palette`` (name of the built-in palette the
classes come from, or None); ``weights`` (``WeightSource`` triples ``(url, sha256 or None,
file_name)``: torchvision's published files, whose names carry a sha256 prefix, or a
``file://`` URL for a registered checkpoint); ``mean``/``std`` (per-channel normalisation of
[0, 1] RGB; identity for Mask R-CNN-style models, which normalise inside); ``output`` (what
``forward`` returns, below); ``num_things`` (panoptic: classes 1..num_things are things);
``base`` (the spec a fine-tuned one derives from); ``description``.

``output`` kinds:

* ``"logits"``: ``model(x)`` is an (N, C, H, W) tensor at the input size (FCN, U-Net, DeepLab).
* ``"dict"``: torchvision segmentation, ``model(x)["out"]`` is (N, C, H, W) at the input size.
* ``"detections"``: Mask R-CNN, ``model(list_of_chw_images)`` in eval mode is one dict per
  image: ``boxes`` (K, 4) xyxy, ``labels`` (K,) class indices, ``scores`` (K,), ``masks``
  (K, 1, H, W) probabilities.
* ``"panoptic"``: Panoptic FPN, as ``"detections"`` plus ``sem_seg`` (S + 1, H, W) logits;
  ``panoptic_fpn.panoptic_maps(result, spec.num_things)`` merges them into label maps.
* ``"prompted-masks"``: SAM 2.1 (task ``"promptable"``), a mask per prompt through
  ``segstudio.models.sam.SamPredictor``; ``build()`` takes no class count, and the runner and
  pre-labelling refuse it (it labels nothing by itself).

``predict_logits`` hides the first two. Fine-tuned models: ``spec.fine_tuned(name, classes)``
describes one, ``save_checkpoint(path, model, spec)`` writes it (a dict with the metadata and
``state_dict``), and ``register_checkpoint(path)`` registers it again in a later session.
``loaded_model(spec, weights)`` builds a spec's network with its weights for the runner.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import unquote, urlparse

import numpy as np
import torch
from torch import nn

from segstudio.core.labels import VOID
from segstudio.core.palette import BUILTIN_PALETTES, Palette, builtin_palette
from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.class_map import CLASS_NAME_ALIASES, class_ids
from segstudio.models.deeplab import DeepLabV3, DeepLabV3Plus
from segstudio.models.fcn import build_fcn
from segstudio.models.panoptic_fpn import PanopticFPN
from segstudio.models.sam import SAM_VARIANTS, SamVariant, build_sam
from segstudio.models.torchvision_zoo import TORCHVISION_MODELS, build_torchvision
from segstudio.models.unet import UNet
from segstudio.models.weights import (
    file_sha256,
    load_checkpoint,
    load_state,
    resolve_weights,
    weights_present,
)

if TYPE_CHECKING:
    from segstudio.models.runner import LoadedModel

Task = Literal["semantic", "instance", "panoptic", "body-parts", "promptable"]
Output = Literal["logits", "dict", "detections", "panoptic", "prompted-masks"]
RGB = tuple[float, float, float]

IMAGENET_MEAN: RGB = (0.485, 0.456, 0.406)
IMAGENET_STD: RGB = (0.229, 0.224, 0.225)
IDENTITY_MEAN: RGB = (0.0, 0.0, 0.0)
IDENTITY_STD: RGB = (1.0, 1.0, 1.0)

CHECKPOINT_FORMAT = "segstudio-checkpoint/1"
"""``format`` value of the dicts ``save_checkpoint`` writes."""


class UnknownModelError(ValueError):
    """No model is registered under the name; the message lists the registered ones."""


class WeightSource(NamedTuple):
    """Where a model's weights can be had: a URL, its sha256 if published, the file name to keep."""

    url: str
    sha256: str | None
    file_name: str


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything known about a model before it is built (see the module notes for the fields)."""

    name: str
    task: Task
    class_names: tuple[str, ...]
    builder: Callable[..., nn.Module]
    palette: str | None = None
    weights: tuple[WeightSource, ...] = ()
    mean: RGB = IMAGENET_MEAN
    std: RGB = IMAGENET_STD
    output: Output = "logits"
    num_things: int = 0
    base: str | None = None
    description: str = ""

    def build(self, num_classes: int | None = None) -> nn.Module:
        """The network with random weights and ``num_classes`` outputs (default: the spec's classes).

        Panoptic models keep ``num_things`` thing classes; the rest are stuff.
        """
        if self.task == "promptable":
            return self.builder()
        count = len(self.class_names) if num_classes is None else num_classes
        if count < 1:
            raise ValueError(f"{self.name}: num_classes must be at least 1, got {count}")
        if self.num_things:
            return self.builder(count, num_things=self.num_things)
        return self.builder(count)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1] -> what the model was trained on."""
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return (images - mean) / std

    def fine_tuned(
        self,
        name: str,
        class_names: Sequence[str],
        *,
        num_things: int | None = None,
        palette: str | None = None,
    ) -> ModelSpec:
        """This architecture retrained on ``class_names``: no published weights, ``base`` recorded."""
        return dataclasses.replace(
            self,
            name=name,
            class_names=tuple(class_names),
            num_things=self.num_things if num_things is None else num_things,
            palette=palette,
            weights=(),
            base=self.base or self.name,
            description=f"{self.base or self.name} fine-tuned on {len(class_names)} classes",
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no builder)."""
        return {
            "name": self.name,
            "task": self.task,
            "classes": list(self.class_names),
            "palette": self.palette,
            "weights": [source._asdict() for source in self.weights],
            "mean": list(self.mean),
            "std": list(self.std),
            "output": self.output,
            "base": self.base,
            "description": self.description,
        }


# -- the table -------------------------------------------------------------------------------------

_SPECS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add ``spec`` under its name; an existing name is an error unless ``replace`` (never a built-in)."""
    if spec.name in _SPECS and (not replace or spec.name in BUILTIN_MODELS):
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _SPECS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered model (e.g. a deleted checkpoint)."""
    get_spec(name)
    del _SPECS[name]


def list_specs() -> list[ModelSpec]:
    """Every registered model, in registration order."""
    return list(_SPECS.values())


def get_spec(name: str) -> ModelSpec:
    """The spec registered as ``name``; ``UnknownModelError`` lists the known names otherwise."""
    try:
        return _SPECS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(_SPECS)}") from None


# -- inference helpers -----------------------------------------------------------------------------


def predict_logits(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Semantic logits ``(N, C, H, W)`` at the batch's resolution, whatever the model's ``output``.

    ``batch`` is already normalised. No ``no_grad`` here: inference wraps it in
    ``torch.inference_mode()`` with ``model.eval()``, training uses it for its loss.
    """
    out = model(batch)
    if isinstance(out, Mapping):
        out = out["out"]
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        raise TypeError(f"{type(model).__name__} does not give semantic logits (got {type(out).__name__})")
    if out.shape[-2:] != batch.shape[-2:]:
        out = torch.nn.functional.interpolate(
            out, size=batch.shape[-2:], mode="bilinear", align_corners=False
        )
    return out


def palette_lut(
    class_names: Sequence[str],
    palette: Palette,
    aliases: Mapping[str, str] | None = None,
    overrides: Mapping[str, str | None] | None = None,
) -> np.ndarray:
    """A ``(VOID + 1,)`` uint16 table: model class index -> palette id of the same-named class, else VOID.

    ``overrides`` (model class name -> palette class name, or None for unlabelled; a project's
    class-map file, ``segstudio.io.class_map``) come first. Other names match case-insensitively,
    directly or through ``aliases`` (default ``CLASS_NAME_ALIASES``, which lives in
    ``segstudio.io.class_map``) in either direction. ``lut[VOID]`` is VOID, so a category map that
    already holds VOID can be indexed directly: ``palette_ids = lut[category]``.
    """
    lut = np.full(VOID + 1, VOID, np.uint16)
    ids = class_ids(class_names, palette, overrides, CLASS_NAME_ALIASES if aliases is None else aliases)
    lut[: len(ids)] = ids
    return lut


def local_weights(spec: ModelSpec) -> Path | None:
    """The spec's weights file when a source is a local ``file://`` URL (a registered checkpoint)."""
    for source in spec.weights:
        parsed = urlparse(source.url)
        if parsed.scheme == "file":
            return Path(unquote(parsed.path))
    return None


def weights_here(spec: ModelSpec) -> bool:
    """True when ``spec`` can be loaded here: its checkpoint file or published weights are on disk,
    or it needs none (random init)."""
    local = local_weights(spec)
    return local.is_file() if local is not None else weights_present(spec)


def loaded_model(
    spec: ModelSpec,
    weights: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    class_ids: Sequence[int] | None = None,
) -> LoadedModel:
    """``spec``'s network with its weights, as the runner's ``LoadedModel`` (eval mode, on the CPU).

    Weights: ``weights`` if given, else a registered checkpoint's file, else the published
    weights found or fetched by ``segstudio.models.weights``; none for random-init models. The
    file is read (and a missing or unreadable one reported, naming it) before the network is
    built, so a bad path fails fast. ``class_ids`` map outputs onto palette ids: given, else the
    ones a checkpoint was trained on, else the spec's built-in palette (identity without one).
    ``output`` and ``num_things`` come from the spec.
    """
    from segstudio.models.runner import LoadedModel  # runner imports the registry lazily too

    if spec.task == "promptable":
        raise ValueError(
            f"model {spec.name!r} segments what you click on, it does not label images by itself: "
            "use `segstudio segment` or the Click to segment tool"
        )
    path = resolve_weights(spec, weights if weights is not None else local_weights(spec), download=download)
    checkpoint = load_checkpoint(path) if path is not None else None
    module = spec.build()
    if checkpoint is not None:
        load_state(module, checkpoint, path)  # type: ignore[arg-type]
    if class_ids is None and checkpoint is not None and checkpoint.get("class_ids"):
        class_ids = [int(c) for c in checkpoint["class_ids"]]
    count = len(spec.class_names)
    if class_ids is None and spec.palette in BUILTIN_PALETTES:
        class_ids = [int(i) for i in palette_lut(spec.class_names, builtin_palette(spec.palette))[:count]]
    ids = tuple(int(c) for c in class_ids) if class_ids is not None else tuple(range(count))
    return LoadedModel(
        module.eval(),
        spec.name,
        ids,
        spec.mean,
        spec.std,
        spec.task,
        predict_logits,
        path,
        output=spec.output,
        num_things=spec.num_things,
    )


# -- checkpoints of fine-tuned models --------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    spec: ModelSpec,
    *,
    class_ids: Sequence[int] | None = None,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights with ``spec``'s metadata for ``register_checkpoint``.

    Atomic and durable (``segstudio.io.atomic``: temporary file, fsync, rename), so a crash
    never leaves a torn checkpoint under the final name. Besides the spec (name, architecture,
    class names, palette name, normalisation) it keeps ``class_ids`` (the palette id of each
    output) and a ``training`` summary (JSON-like values: epochs, mIoU, images).
    """
    data = {
        "format": CHECKPOINT_FORMAT,
        "name": spec.name,
        "base": spec.base or spec.name,
        "architecture": spec.base or spec.name,
        "class_names": list(spec.class_names),
        "class_ids": None if class_ids is None else [int(c) for c in class_ids],
        "num_things": spec.num_things,
        "palette": spec.palette,
        "mean": list(spec.mean),
        "std": list(spec.std),
        "training": dict(training or {}),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(data, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def register_checkpoint(
    path: str | os.PathLike[str], name: str | None = None, *, replace: bool = False
) -> ModelSpec:
    """Register a checkpoint written by ``save_checkpoint`` as a model (default name: the saved one).

    Its weight source is the file itself (``file://`` URL, with its sha256).
    """
    path = Path(path).resolve()
    data = load_checkpoint(path)
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a segstudio checkpoint (no format {CHECKPOINT_FORMAT!r})")
    base = get_spec(data["base"])
    spec = base.fine_tuned(
        name or data["name"], data["class_names"], num_things=data["num_things"], palette=data["palette"]
    )
    source = WeightSource(path.as_uri(), file_sha256(path), path.name)
    return register(dataclasses.replace(spec, weights=(source,)), replace=replace)


# -- built-in models ---------------------------------------------------------------------------------


def _torchvision_spec(name: str) -> ModelSpec:
    entry = TORCHVISION_MODELS[name]
    semantic = entry.task == "semantic"
    return ModelSpec(
        name,
        "semantic" if semantic else "instance",
        entry.categories,
        partial(build_torchvision, name),
        palette="voc" if semantic else "coco-panoptic",
        weights=(WeightSource(entry.url, None, entry.url.rsplit("/", 1)[-1]),),
        mean=IMAGENET_MEAN if semantic else IDENTITY_MEAN,
        std=IMAGENET_STD if semantic else IDENTITY_STD,
        output="dict" if semantic else "detections",
        description=f"torchvision {name}, published {'VOC' if semantic else 'COCO'} weights",
    )


def _sam_spec(variant: SamVariant) -> ModelSpec:
    return ModelSpec(
        variant.name,
        "promptable",
        ("object",),
        partial(build_sam, variant.config),
        weights=(WeightSource(variant.url, variant.sha256, variant.file_name),),
        mean=IDENTITY_MEAN,
        std=IDENTITY_STD,
        output="prompted-masks",
        description=variant.description,
    )


def _builtin_specs() -> list[ModelSpec]:
    voc = tuple(c.name for c in builtin_palette("voc"))
    coco = builtin_palette("coco-panoptic")
    things = tuple(c.name for c in coco if c.isthing)
    stuff = tuple(c.name for c in coco if not c.isthing)

    def ours(name: str, builder: Callable[..., nn.Module], description: str) -> ModelSpec:
        return ModelSpec(name, "semantic", voc, builder, palette="voc", description=description)

    return [
        ours("fcn32s", partial(build_fcn, variant="32s"), "FCN-32s (Long et al. 2015), small VGG16"),
        ours("fcn16s", partial(build_fcn, variant="16s"), "FCN-16s: + pool4 skip"),
        ours("fcn8s", partial(build_fcn, variant="8s"), "FCN-8s: + pool4 and pool3 skips"),
        ours("unet", UNet, "U-Net (Ronneberger et al. 2015), width 16, depth 4"),
        ours("unet-small", partial(UNet, width=8), "U-Net at width 8: quick CPU fine-tuning"),
        ours("deeplabv3", DeepLabV3, "DeepLab v3 (Chen et al. 2017), ResNet-50 at output stride 16"),
        ours("deeplabv3plus", DeepLabV3Plus, "DeepLab v3+ (Chen et al. 2018): + stride-4 decoder"),
        dataclasses.replace(
            _torchvision_spec("maskrcnn_resnet50_fpn"),
            name="maskrcnn",
            description="Mask R-CNN (He et al. 2017) with RoIAlign: torchvision maskrcnn_resnet50_fpn",
        ),
        ModelSpec(
            "panoptic_fpn",
            "panoptic",
            ("__background__", *things, *stuff),
            PanopticFPN,
            palette="coco-panoptic",
            mean=IDENTITY_MEAN,
            std=IDENTITY_STD,
            output="panoptic",
            num_things=len(things),
            description="Panoptic FPN (Kirillov et al. 2019): Mask R-CNN + semantic FPN branch, COCO classes",
        ),
        *(_torchvision_spec(name) for name in TORCHVISION_MODELS),
        *(_sam_spec(variant) for variant in SAM_VARIANTS),
    ]


for _spec in _builtin_specs():
    register(_spec)
BUILTIN_MODELS: tuple[str, ...] = tuple(_SPECS)
"""Names registered at import; ``register`` never replaces them (checkpoints come later)."""
