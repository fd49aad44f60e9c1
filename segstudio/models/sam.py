"""Click to segment with SAM 2.1 (Meta's ``sam2`` package): embed an image once, prompt it many times.

The model code is the official package's (``pip install 'segstudio[sam]'``), imported only when a
SAM model is built, so every other command and the app start without it. Weights come through
``segstudio.models.weights`` like every other model (hub cache, resumable verified download, the
offline message naming the file). :class:`SamPredictor` wraps sam2's ``SAM2ImagePredictor``:

- ``embed(rgb)`` runs the image encoder once per image and keeps the result in a small LRU keyed
  by a digest of the pixels and the weights' digest, so coming back to an image costs nothing
  (and, with a ``store``, on disk: ``sam_cache``);
  the encoder checks a :class:`CancelToken` between its blocks (moving to another image stops it).
- ``predict(key, prompts)`` runs only the prompt encoder and mask decoder. Prompts are in image
  pixels; sam2's own ``SAM2Transforms`` maps them to the model's square input (a resize of each
  axis, no letterbox), so they meet the pixels the encoder saw.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import torch
from torch import nn

from segstudio.core.jobs import CancelToken
from segstudio.core.prompts import Prompts
from segstudio.models.click_threads import ClickThreads
from segstudio.models.sam_cache import EmbeddingStore
from segstudio.models.sam_decoder import ImageSide, click_work, decode, image_side, positional_encoding
from segstudio.models.weights import (
    ProgressCallback,
    file_sha256,
    load_checkpoint,
    load_state,
    resolve_weights,
)

INSTALL_HINT = "pip install 'segstudio[sam]'"
DEFAULT_CACHE_SIZE = 4
"""Embeddings kept in memory (a 1024-px one: 16 MB of sam2 features, 38 MB of the decoder's image half)."""


class SamUnavailable(ImportError):
    """The ``sam2`` package (or its hydra/iopath dependencies) is not installed."""


class SamVariant(NamedTuple):
    """One published SAM 2.1 checkpoint and the package config that builds its network."""

    name: str
    config: str
    url: str
    sha256: str
    description: str

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_RELEASE = "https://dl.fbaipublicfiles.com/segment_anything_2/092824"
SAM_VARIANTS: tuple[SamVariant, ...] = (
    SamVariant(
        "sam2.1-tiny",
        "configs/sam2.1/sam2.1_hiera_t.yaml",
        f"{_RELEASE}/sam2.1_hiera_tiny.pt",
        "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
        "SAM 2.1 Hiera-T (Meta): click to segment, 39M parameters",
    ),
    SamVariant(
        "sam2.1-small",
        "configs/sam2.1/sam2.1_hiera_s.yaml",
        f"{_RELEASE}/sam2.1_hiera_small.pt",
        "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
        "SAM 2.1 Hiera-S (Meta): click to segment, 46M parameters",
    ),
    SamVariant(
        "sam2.1-base-plus",
        "configs/sam2.1/sam2.1_hiera_b+.yaml",
        f"{_RELEASE}/sam2.1_hiera_base_plus.pt",
        "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
        "SAM 2.1 Hiera-B+ (Meta): click to segment, 81M parameters",
    ),
    SamVariant(
        "sam2.1-large",
        "configs/sam2.1/sam2.1_hiera_l.yaml",
        f"{_RELEASE}/sam2.1_hiera_large.pt",
        "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
        "SAM 2.1 Hiera-L (Meta): click to segment, 224M parameters",
    ),
)
"""The official checkpoints. No network here, so the sha256 values were not computed by us: each
is recorded by several independent projects that downloaded and pinned the same official files
(for base+, Hugging Face's own blob of ``facebook/sam2.1-hiera-base-plus`` is named by it), with
sizes 156,008,466 / 184,416,285 / 323,606,802 / 898,083,611 bytes (tiny / small / base+ / large)."""


def require_sam2() -> None:
    """Import the sam2 package, or raise :class:`SamUnavailable` saying how to install it."""
    try:
        import sam2.build_sam  # noqa: F401  (also initialises hydra with the package's configs)
        import sam2.sam2_image_predictor  # noqa: F401
    except ImportError as error:
        raise SamUnavailable(
            f"click to segment needs Meta's sam2 package ({error}); {INSTALL_HINT}"
        ) from error


def build_sam(config: str, image_size: int | None = None) -> nn.Module:
    """The SAM 2 network of a package config with random weights, on the CPU, in eval mode.

    ``image_size`` overrides the config's square input side (1024); the tests use a smaller one to
    run the same architecture quickly.
    """
    require_sam2()
    from sam2.build_sam import build_sam2

    overrides = [f"++model.image_size={int(image_size)}"] if image_size else []
    return build_sam2(config, None, device="cpu", mode="eval", hydra_overrides_extra=overrides)


# -- weights ---------------------------------------------------------------------------------------

_DIGESTS: dict[tuple[str, int, int], str] = {}


def weights_digest(path: str | os.PathLike[str]) -> str:
    """The sha256 of a weights file, computed once per (path, size, modification time)."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(Path(path))
    return _DIGESTS[key]


def load_sam(module: nn.Module, path: str | os.PathLike[str]) -> str:
    """Load an official checkpoint (``{"model": state_dict}``) into ``module``; returns its digest.

    A file that is not a checkpoint or does not fit names the file (``WeightsError``)."""
    load_state(module, load_checkpoint(path), path)
    return weights_digest(path)


def load_predictor(
    spec: Any,
    weights: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    progress: ProgressCallback | None = None,
    device: torch.device | str = "cpu",
) -> SamPredictor:
    """A registered SAM model (``registry.ModelSpec``) with its weights, ready to embed and prompt.

    Weights: ``weights`` if given, else the published checkpoint from the hub cache, else (only
    with ``download``) fetched; missing ones raise ``WeightsMissing`` naming the file to place."""
    if getattr(spec, "task", None) != "promptable":
        raise ValueError(f"model {spec.name!r} is not a click-to-segment model (use one of {sam_names()})")
    require_sam2()
    path = resolve_weights(spec, weights, download=download, progress=progress)
    module = spec.build()
    digest = load_sam(module, path) if path is not None else f"random:{id(module)}"
    return SamPredictor(module.to(device), digest)


def sam_names() -> str:
    return ", ".join(variant.name for variant in SAM_VARIANTS)


# -- prediction ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamMask:
    """SAM's answer to the prompts: a mask the size of the image and the model's quality score."""

    mask: np.ndarray
    score: float


@dataclass(frozen=True)
class _Embedding:
    features: dict[str, Any]
    orig_hw: tuple[int, int]
    side: ImageSide
    """The decoder's image half, laid out once (``sam_decoder``)."""


def image_digest(rgb: np.ndarray) -> str:
    """A digest of the pixels (and shape): the same photo gives the same key whatever its id."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((rgb.shape, str(rgb.dtype))).encode())
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()


class SamPredictor:
    """One SAM network and its embedding cache. Not thread-safe: one thread (the worker) calls it."""

    def __init__(
        self, module: nn.Module, weights_digest: str, *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        require_sam2()
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        self.module = module.eval()
        self.weights_digest = weights_digest
        self._predictor = SAM2ImagePredictor(self.module)
        self._key_pe: torch.Tensor | None = None
        side = int(self.module.image_size)  # sam2 assumes 1024; derive the feature sizes instead
        self._predictor._bb_feat_sizes = [(side // 4,) * 2, (side // 8,) * 2, (side // 16,) * 2]
        self._cache: OrderedDict[str, _Embedding] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self.embeddings_computed = 0
        """How many times the image encoder ran (the caches' hits do not count)."""
        self.embeddings_loaded = 0
        """How many embeddings came from ``store`` instead."""
        self.store: EmbeddingStore | None = None
        """Embeddings on disk (``sam_cache``), beside the memory LRU; None: memory only."""
        self.click_threads: ClickThreads | None = ClickThreads()
        """Torch threads per click on the CPU (``click_threads``); None: the runner's, as they are."""

    @property
    def input_size(self) -> int:
        """The side of the square the image is resized to before the encoder."""
        return int(self.module.image_size)

    def key(self, rgb: np.ndarray) -> str:
        """The cache key of an image for these weights."""
        return f"{image_digest(rgb)}:{self.weights_digest}"

    def cached(self, key: str) -> bool:
        return key in self._cache

    def embed(self, rgb: np.ndarray, cancel: CancelToken | None = None) -> str:
        """Run the image encoder on ``rgb`` ((H, W, 3) uint8) unless cached; returns the image's key.

        ``cancel`` is checked between the encoder's blocks: ``Cancelled`` leaves nothing cached."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        key = self.key(rgb)
        if key in self._cache:
            self._cache.move_to_end(key)
            return key
        orig_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
        stored = None if self.store is None else self.store.load(key, self._device)
        if stored is not None and stored[1] == orig_hw:
            features = stored[0]
            self.embeddings_loaded += 1
        else:
            with self._checking(cancel), torch.inference_mode():
                self._predictor.set_image(np.ascontiguousarray(rgb))
            if cancel is not None:
                cancel.check()
            features = self._predictor._features
            self.embeddings_computed += 1
            self._store(key, features, orig_hw)
        with torch.inference_mode():
            if self._key_pe is None:
                self._key_pe = positional_encoding(self.module)
            side = image_side(self.module, features, self._key_pe)
        self._cache[key] = _Embedding(features, orig_hw, side)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return key

    @property
    def _device(self) -> torch.device:
        return next(self.module.parameters()).device

    def _store(self, key: str, features: dict[str, Any], orig_hw: tuple[int, int]) -> None:
        """Keep a new embedding on disk too, when a store is set (a full disk is a note, not an error)."""
        if self.store is None:
            return
        try:
            self.store.save(key, features, orig_hw)
        except OSError as error:
            self.store.note(f"SAM embedding cache: not saved ({error})")

    def predict(self, key: str, prompts: Prompts) -> SamMask:
        """The mask for ``prompts`` on the embedded image ``key`` (``embed`` first).

        One point alone is ambiguous (a part or the whole?): SAM gives three masks and the one it
        scores best is taken; with more prompts it gives one, as its authors advise. The same mask
        as sam2's ``SAM2ImagePredictor.predict`` (tests/models/test_sam.py compares them pixel for
        pixel, but for logits within 1e-4 of the threshold), for less: the decoder's image half
        was laid out when the image was embedded and its sums regrouped (``sam_decoder``), and
        the post-processing (``_mask_at_size``) runs on the kept mask only.
        """
        embedding = self._cache.get(key)
        if embedding is None:
            raise KeyError(f"image {key} is not embedded (call embed first)")
        if prompts.empty:
            raise ValueError("no prompts: give a point or a box")
        height, width = embedding.orig_hw
        problem = prompts.outside(width, height)
        if problem is not None:
            raise ValueError(problem)
        self._use(embedding)
        coords, labels, box = prompt_arrays(prompts)
        multimask = len(prompts.points) == 1 and prompts.box is None
        prompt_count = len(prompts.points) + (2 if prompts.box is not None else 0)
        with torch.inference_mode(), self._click_threads(prompt_count):
            low_res, score = self._decode(embedding, coords, labels, box, multimask)
            mask = self._mask_at_size(low_res.clamp(-32.0, 32.0), embedding.orig_hw)  # as sam2's _predict
        return SamMask(mask, float(score))

    def _click_threads(self, prompt_count: int) -> AbstractContextManager[object]:
        """Every core for the click while that is the faster (``click_threads``, each click's time
        taken over its size, ``sam_decoder.click_work``); on a GPU, as is."""
        if self.click_threads is None or self._device.type != "cpu":
            return nullcontext()
        return self.click_threads.click(click_work(self.module.sam_mask_decoder, prompt_count))

    def _mask_at_size(self, low_res: torch.Tensor, orig_hw: tuple[int, int]) -> np.ndarray:
        """sam2's post-processing of one (h, w) logit map: bilinear to the image's size, then the
        threshold. Without hole filling (the predictor's default) it is OpenCV's bilinear resize
        (the same sampling as torch's ``align_corners=False``): on a 12 MP photo torch's
        interpolation took longer than the decoder (~4x OpenCV's, measured). The logits agree to
        ~3e-5, so a pixel can differ only where SAM's logit is that close to the threshold."""
        transforms = self._predictor._transforms
        threshold = self._predictor.mask_threshold
        if transforms.max_hole_area > 0 or transforms.max_sprinkle_area > 0:
            logits = transforms.postprocess_masks(low_res[None, None], orig_hw)
            return (logits[0, 0] > threshold).cpu().numpy()
        height, width = orig_hw
        logits = low_res.float().cpu().numpy()
        return cv2.resize(logits, (width, height), interpolation=cv2.INTER_LINEAR) > threshold

    def _decode(
        self,
        embedding: _Embedding,
        coords: np.ndarray | None,
        labels: np.ndarray | None,
        box: np.ndarray | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """sam2's prompt transform, then its prompt encoder and mask decoder (``sam_tokens``,
        ``sam_decoder``): the kept mask's (h, w) low-res logits and its score, before any
        upsampling."""
        _, points, point_labels, boxes = self._predictor._prep_prompts(coords, labels, box, None, True)
        if boxes is not None:  # sam2's _predict: the box's corners go first, labelled 2 and 3
            corners = boxes.reshape(-1, 2, 2)
            corner_labels = torch.tensor([[2, 3]], dtype=torch.int, device=corners.device)
            if points is None:
                points, point_labels = corners, corner_labels
            else:
                points = torch.cat([corners, points], dim=1)
                point_labels = torch.cat([corner_labels, point_labels], dim=1)
        return decode(self.module, embedding.side, (points, point_labels), multimask)

    def _use(self, embedding: _Embedding) -> None:
        """Point sam2's predictor at a cached embedding (what its ``set_image`` leaves behind)."""
        predictor = self._predictor
        predictor.reset_predictor()
        predictor._features = embedding.features
        predictor._orig_hw = [embedding.orig_hw]
        predictor._is_image_set = True

    @contextmanager
    def _checking(self, cancel: CancelToken | None) -> Iterator[None]:
        """``cancel.check()`` before each block of the image encoder's trunk."""
        if cancel is None:
            yield
            return
        cancel.check()
        blocks = getattr(getattr(self.module.image_encoder, "trunk", None), "blocks", [])
        handles = [block.register_forward_pre_hook(lambda *_: cancel.check()) for block in blocks]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def prompt_arrays(prompts: Prompts) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Prompts as sam2's predictor takes them: (N, 2) x,y points, N labels (1 +, 0 -), an xyxy box."""
    coords = labels = box = None
    if prompts.points:
        coords = np.array([[p.x, p.y] for p in prompts.points], dtype=np.float32)
        labels = np.array([1 if p.positive else 0 for p in prompts.points], dtype=np.int32)
    if prompts.box is not None:
        box = np.array(prompts.box, dtype=np.float32)
    return coords, labels, box
