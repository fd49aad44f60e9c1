"""Inference without Qt: device choice, batching, tiling, cancellation, progress, OOM fallback.

The GUI's worker thread calls one :class:`Runner` through ``models.service``; the command line
uses it directly. The runner runs one call at a time, on the thread that calls it, keeps no queue
and never reads GUI state (callers pass snapshots).

Long calls report ``progress(done, total)`` (in tiles) and stop at the next tile batch after
``cancel.cancel()``, raising :class:`Cancelled`. Fallbacks (out of memory -> batch of 1 ->
smaller tiles -> CPU, an unavailable device) are told through the runner's ``message`` callback,
from the caller's thread; an out-of-memory fallback lasts for the call that needed it, the next
call starts again from the runner's own device, batch and tile size.

Threads: on CPU, creating a runner calls ``torch.set_num_threads(cpu_count - 1)`` (at least 1),
a process-wide setting that leaves the GUI thread a core while inference runs. Two threads on a
two-core machine under other load were measured four times slower than one (SAM's decoder). A SAM
click, which the GUI only waits for, may take every core while that is measured faster
(``models.click_threads``).

Memory: creating a runner also lets glibc keep freed tensors of up to 32 MB for reuse
(``io.parallel.keep_freed_memory``), process-wide: by default each such tensor is mapped fresh
and the kernel zeroes and faults in its pages on every use; a SAM click was ~30% slower so.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from segstudio.core.instances import split_things
from segstudio.core.jobs import CancelToken, ProgressCallback
from segstudio.core.labels import CATEGORY_DTYPE, VOID, LabelMap, Provenance
from segstudio.io.parallel import keep_freed_memory
from segstudio.models import registry
from segstudio.models.panoptic_fpn import MergeSettings, merge_panoptic, panoptic_maps

DEVICE_ENV = "SEGSTUDIO_DEVICE"
"""Environment override of the device (``cuda``, ``cuda:1``, ``mps``, ``cpu``; ``auto`` = choose)."""

DEFAULT_MERGE = MergeSettings()
"""Panoptic FPN's merge rules: instances above score 0.5, masks at 0.5, 50% overlap allowed."""

MIN_TILE = 128
"""Tiles are never made smaller than this when running out of memory."""

T = TypeVar("T")
MessageCallback = Callable[[str], None]


def _device_available(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return False


def choose_device(
    preference: str | torch.device | None = None, message: MessageCallback | None = None
) -> torch.device:
    """The device to run on: the preference (argument, else ``$SEGSTUDIO_DEVICE``) if usable, else
    CUDA, then MPS (Apple), then CPU. An unusable preference falls back with a message, so a
    setting saved on another computer never stops the app."""
    wanted = preference if preference is not None else os.environ.get(DEVICE_ENV, "auto")
    if str(wanted) not in ("", "auto"):
        try:
            device = torch.device(wanted)
        except RuntimeError:
            device = None
        if device is not None and _device_available(device):
            return device
        if message is not None:
            message(f"device {str(wanted)!r} is not available here; choosing one automatically")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA raises ``OutOfMemoryError``; MPS and some CPU allocators a RuntimeError saying so."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


# -- models ----------------------------------------------------------------------------------------


LogitsAdapter = Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]


@dataclass
class LoadedModel:
    """A built network with what inference needs from its spec: task, classes, normalisation.

    ``class_ids[i]`` is the palette id of output channel ``i`` (``VOID`` for a class the project
    does not have). ``mean``/``std`` are per-channel, for RGB scaled to 0..1.
    """

    module: torch.nn.Module
    name: str
    class_ids: tuple[int, ...]
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    task: str = "semantic"
    logits: LogitsAdapter = registry.predict_logits
    source: Path | None = None
    output: str = "logits"
    """What ``module`` returns: "logits"/"dict" (semantic), "detections" or "panoptic" (registry)."""
    num_things: int = 0


@dataclass(frozen=True)
class SemanticPrediction:
    """Per-pixel classes (palette ids, uint16), the winning probability, and optionally all of them."""

    category: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray | None = None

    def to_labels(self, thing_ids: Collection[int] = ()) -> LabelMap:
        """As a label map written by a model (VOID stays unlabelled); each connected blob of a class
        in ``thing_ids`` (palette ids) becomes its own instance (``core.instances.split_things``)."""
        return LabelMap.from_arrays(self.category, split_things(self.category, thing_ids), Provenance.MODEL)


# -- tiling ----------------------------------------------------------------------------------------


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``0..length`` with at least ``overlap``."""
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    count = math.ceil((length - tile) / step) + 1
    return [min(i * step, length - tile) for i in range(count)]


def blend_window(height: int, width: int, overlap: int) -> np.ndarray:
    """Weights rising linearly from the tile border over ``overlap`` pixels: seams fade across.

    Strictly positive, so a pixel covered by one tile only (the image border) keeps its logits.
    """
    ramp = max(1, overlap)

    def axis(n: int) -> np.ndarray:
        distance = np.minimum(np.arange(n), np.arange(n)[::-1]) + 1
        return np.minimum(1.0, distance / ramp).astype(np.float32)

    return axis(height)[:, None] * axis(width)[None, :]


@dataclass(frozen=True)
class _Piece:
    image: int
    top: int
    left: int
    height: int
    width: int


class Runner:
    """Runs models on images: one device, models cached by name and weights file.

    ``tile_size``: images with a side above it are run in overlapping tiles whose logits are
    blended. ``batch_size``: tiles (or equal-sized images) per forward pass. Both shrink, and
    the device falls back to CPU, when memory runs out; ``message`` hears about it.
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        *,
        tile_size: int = 1024,
        tile_overlap: int = 128,
        batch_size: int = 4,
        num_threads: int | None = None,
        mixed_precision: bool | None = None,
        message: MessageCallback | None = None,
    ) -> None:
        self.message: MessageCallback = message or (lambda text: None)
        self.device = choose_device(device, self.message)
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.batch_size = batch_size
        self._num_threads = num_threads
        self.mixed_precision = mixed_precision
        """bfloat16 autocast for forward passes; None: on CUDA devices that support it (not on CPU,
        where it is often slower). Decisions agree with float32 on all but boundary pixels."""
        self._models: dict[tuple[str, str | None], LoadedModel] = {}
        keep_freed_memory()
        if self.device.type == "cpu":
            self._set_cpu_threads()

    def _set_cpu_threads(self) -> None:
        """Leave the GUI a core (see the module notes); an explicit ``num_threads`` wins."""
        torch.set_num_threads(self._num_threads or max(1, (os.cpu_count() or 1) - 1))

    # -- models --------------------------------------------------------------------------------

    def load(
        self,
        spec: registry.ModelSpec | str,
        weights: str | os.PathLike[str] | None = None,
        *,
        download: bool = False,
    ) -> LoadedModel:
        """Build a model (a spec or a registered name) with its weights; cached by name and weights file.

        Missing weights raise ``weights.WeightsMissing`` naming the file to place, unless ``download``.
        """
        spec = registry.get_spec(spec) if isinstance(spec, str) else spec
        key = (spec.name, None if weights is None else str(Path(weights).resolve()))
        model = self._models.get(key)
        if model is None:
            model = registry.loaded_model(spec, weights, download=download)
            self._models[key] = model
        return model

    def forget(self, name: str) -> None:
        """Drop the cached models registered as ``name`` (a checkpoint retrained under that name)."""
        for key in [key for key in self._models if key[0] == name]:
            del self._models[key]

    def predict_labels(
        self,
        model: LoadedModel,
        rgb: np.ndarray,
        *,
        class_ids: Sequence[int] | None = None,
        thing_ids: Collection[int] = (),
        merge: MergeSettings = DEFAULT_MERGE,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[LabelMap, np.ndarray]:
        """Labels in palette ids (provenance MODEL) and a per-pixel confidence, for any task.

        Semantic models give categories; each connected blob of a ``thing_ids`` class (palette ids,
        e.g. ``Palette.thing_ids``) becomes its own instance, so the GUI and ``segstudio predict``
        export separate objects. Instance and panoptic models give their own instance ids
        (things over stuff, no overlaps: ``panoptic_fpn.merge_panoptic`` with ``merge``).
        """
        if model.output in ("logits", "dict"):
            prediction = self.predict_semantic(
                model, rgb, class_ids=class_ids, progress=progress, cancel=cancel
            )
            return prediction.to_labels(thing_ids), prediction.confidence
        _check_rgb(rgb)
        if cancel is not None:
            cancel.check()
        output = self._with_oom_fallback(model, [rgb], lambda: self._detect(model, rgb))
        if model.output == "panoptic":
            category, instance = panoptic_maps(output, model.num_things, merge)
        else:  # things only: no stuff map, unclaimed pixels stay VOID
            masks, scores, classes = (output[k].numpy() for k in ("masks", "scores", "labels"))
            nothing = np.full(rgb.shape[:2], VOID, CATEGORY_DTYPE)
            category, instance = merge_panoptic(masks[:, 0], scores, classes, nothing, merge)
        category = class_id_lut(class_ids if class_ids is not None else model.class_ids)[category]
        instance[category == VOID] = 0
        if progress is not None:
            progress(1, 1)
        labels = LabelMap.from_arrays(category, instance, Provenance.MODEL)
        return labels, _detection_confidence(output, rgb.shape[:2])

    def _detect(self, model: LoadedModel, rgb: np.ndarray) -> dict[str, torch.Tensor]:
        """One image through a Mask R-CNN-style model: a list of [0, 1] CHW images in, one dict out."""
        module = model.module.to(self.device).eval()
        image = torch.from_numpy(rgb).to(self.device).permute(2, 0, 1).float() / 255
        mean = torch.tensor(model.mean, device=self.device).view(3, 1, 1)
        std = torch.tensor(model.std, device=self.device).view(3, 1, 1)
        with torch.inference_mode():
            output = module([(image - mean) / std])[0]
        return {key: value.float().cpu() for key, value in output.items()}

    # -- semantic ------------------------------------------------------------------------------

    def predict_semantic(
        self,
        model: LoadedModel,
        rgb: np.ndarray,
        *,
        class_ids: Sequence[int] | None = None,
        probabilities: bool = False,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> SemanticPrediction:
        """Classify every pixel of an ``(H, W, 3)`` uint8 RGB image; see :meth:`predict_semantic_batch`."""
        return self.predict_semantic_batch(
            model, [rgb], class_ids=class_ids, probabilities=probabilities, progress=progress, cancel=cancel
        )[0]

    def predict_semantic_batch(
        self,
        model: LoadedModel,
        images: Sequence[np.ndarray],
        *,
        class_ids: Sequence[int] | None = None,
        probabilities: bool = False,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[SemanticPrediction]:
        """Classify several images, batching equal-sized tiles (and small images) together.

        ``class_ids`` maps output channel ``i`` to a palette id (default: the model's); a
        ``VOID`` entry leaves that class unlabelled. Out of memory: batch 1, then smaller tiles,
        then CPU, each announced through ``message``; the work restarts from the first tile.
        """
        for rgb in images:
            _check_rgb(rgb)
        lut = class_id_lut(class_ids if class_ids is not None else model.class_ids)
        count = len(class_ids if class_ids is not None else model.class_ids)
        logits = self._with_oom_fallback(
            model, images, lambda: self._semantic_logits(model, images, progress, cancel), tiled=True
        )
        return [_decide(item, lut, count, probabilities) for item in logits]

    def _pieces(self, images: Sequence[np.ndarray]) -> list[_Piece]:
        pieces = []
        for number, rgb in enumerate(images):
            height, width = rgb.shape[:2]
            tile_h, tile_w = min(self.tile_size, height), min(self.tile_size, width)
            for top in tile_starts(height, self.tile_size, self.tile_overlap):
                for left in tile_starts(width, self.tile_size, self.tile_overlap):
                    pieces.append(_Piece(number, top, left, tile_h, tile_w))
        return pieces

    def _semantic_logits(
        self,
        model: LoadedModel,
        images: Sequence[np.ndarray],
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> list[torch.Tensor]:
        """Blended ``(K, H, W)`` float32 logits of each image, on the device when they fit there.

        On CUDA the network runs channels-last under bfloat16 autocast (tensor cores), and the
        tiles are blended on the GPU, so only the decision travels back to the CPU.
        """
        on_gpu = self.device.type == "cuda"
        module = model.module.to(self.device, memory_format=torch.channels_last if on_gpu else None).eval()
        mean = torch.tensor(model.mean, device=self.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(model.std, device=self.device).view(1, 3, 1, 1) * 255
        pieces = self._pieces(images)
        by_shape: dict[tuple[int, int], list[_Piece]] = {}
        for piece in pieces:
            by_shape.setdefault((piece.height, piece.width), []).append(piece)
        blend_on = self._blend_device(len(model.class_ids), images)
        sums: list[torch.Tensor | None] = [None] * len(images)
        weights = [torch.zeros(rgb.shape[:2], device=blend_on) for rgb in images]
        done = 0
        for (height, width), group in by_shape.items():
            window = torch.from_numpy(blend_window(height, width, self.tile_overlap)).to(blend_on)
            for start in range(0, len(group), self.batch_size):
                if cancel is not None:
                    cancel.check()
                chunk = group[start : start + self.batch_size]
                crops = np.stack(
                    [images[p.image][p.top : p.top + height, p.left : p.left + width] for p in chunk]
                )
                batch = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float()
                if on_gpu:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                with torch.inference_mode(), self._autocast():
                    out = model.logits(module, (batch - mean) / std).float().to(blend_on)
                for p, logits in zip(chunk, out, strict=True):
                    if sums[p.image] is None:
                        sums[p.image] = torch.zeros(
                            (logits.shape[0], *images[p.image].shape[:2]), device=blend_on
                        )
                    rows, cols = slice(p.top, p.top + height), slice(p.left, p.left + width)
                    sums[p.image][:, rows, cols] += logits * window  # type: ignore[index]
                    weights[p.image][rows, cols] += window
                done += len(chunk)
                if progress is not None:
                    progress(done, len(pieces))
        # Every pixel has weight > 0 (see blend_window), so this is a weighted mean of its tiles.
        return [total / weight for total, weight in zip(sums, weights, strict=True)]  # type: ignore[operator]

    def _autocast(self) -> AbstractContextManager[object]:
        enabled = self.mixed_precision
        if enabled is None:
            enabled = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if enabled else nullcontext()

    def _blend_device(self, count: int, images: Sequence[np.ndarray]) -> torch.device:
        """The runner's device if the blended logits take at most half its free memory, else the CPU."""
        if self.device.type != "cuda":
            return torch.device("cpu")
        needed = sum((count + 1) * rgb.shape[0] * rgb.shape[1] * 4 for rgb in images)
        free, _ = torch.cuda.mem_get_info(self.device)
        return self.device if 2 * needed <= free else torch.device("cpu")

    def _with_oom_fallback(
        self, model: LoadedModel, images: Sequence[np.ndarray], work: Callable[[], T], tiled: bool = False
    ) -> T:
        """``work()``, retried one step down the ladder after each out-of-memory error; the
        runner's device, batch and tiles are its own again afterwards (the next image may fit)."""
        normal = self._sizes()
        try:
            while True:
                try:
                    return work()
                except (torch.OutOfMemoryError, RuntimeError) as error:
                    if not is_out_of_memory(error):
                        raise
                    self._recover_from_oom(model, images, tiled, error)
        finally:  # models move back to the device on their next use
            self.device, self.batch_size, self.tile_size, self.tile_overlap = normal

    def _sizes(self) -> tuple[torch.device, int, int, int]:
        """What an out-of-memory fallback changes: device, batch size, tile size and overlap."""
        return self.device, self.batch_size, self.tile_size, self.tile_overlap

    def _recover_from_oom(
        self, model: LoadedModel, images: Sequence[np.ndarray], tiled: bool, error: BaseException
    ) -> None:
        """One step down: batch of 1, smaller tiles (when tiling applies), CPU; re-raise at the bottom."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        largest = max(max(rgb.shape[:2]) for rgb in images)
        if tiled and self.batch_size > 1:
            self.batch_size = 1
            self.message("out of memory: running one tile at a time")
        elif tiled and min(self.tile_size, largest) > MIN_TILE:
            self.tile_size = max(MIN_TILE, min(self.tile_size, largest) // 2)
            self.tile_overlap = min(self.tile_overlap, self.tile_size // 4)
            self.message(f"out of memory: running in tiles of {self.tile_size} pixels")
        elif self.device.type != "cpu":
            self.message(f"out of memory on {self.device}: running on the CPU instead")
            self.device = torch.device("cpu")
            model.module.to(self.device)
            self._set_cpu_threads()
        else:
            raise error


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.dtype} {rgb.shape}")


def class_id_lut(class_ids: Sequence[int]) -> np.ndarray:
    """``(VOID + 1,)`` uint16 table: model class index -> palette id; VOID for the rest (and VOID)."""
    ids = np.asarray(class_ids, np.int64)
    if ids.size > VOID:
        raise ValueError(f"at most {VOID} classes; got {ids.size}")
    lut = np.full(VOID + 1, VOID, np.uint16)
    lut[: ids.size] = np.where((ids < 0) | (ids > VOID), VOID, ids)
    return lut


def _decide(logits: torch.Tensor, lut: np.ndarray, count: int, probabilities: bool) -> SemanticPrediction:
    """Softmax, winning class mapped to palette ids, its probability as confidence."""
    if logits.shape[0] != count:
        raise ValueError(f"the model gives {logits.shape[0]} classes but {count} class ids were given")
    probs = torch.softmax(logits, dim=0)
    confidence, index = probs.max(dim=0)
    return SemanticPrediction(
        category=lut[index.cpu().numpy()],
        confidence=confidence.cpu().numpy().astype(np.float32),
        probabilities=probs.cpu().numpy() if probabilities else None,
    )


def _detection_confidence(output: dict[str, torch.Tensor], shape: tuple[int, int]) -> np.ndarray:
    """Per pixel, the best ``score * mask probability`` of any instance (0 where none), or, on
    panoptic stuff, the semantic branch's winning probability when that is higher."""
    confidence = torch.zeros(shape)
    if len(output["scores"]):
        confidence = (output["scores"].view(-1, 1, 1) * output["masks"][:, 0]).amax(dim=0)
    if "sem_seg" in output:
        confidence = torch.maximum(confidence, torch.softmax(output["sem_seg"], dim=0).amax(dim=0))
    return confidence.numpy().astype(np.float32)
