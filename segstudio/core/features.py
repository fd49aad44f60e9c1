"""Image filter features for the scribble pixel classifier (ilastik/Labkit style), computed with OpenCV.

Every pixel gets, at each scale ``sigma`` (default 0.7, 1, 1.6, 3.5, 5 and 10 pixels), ten values:

- Gaussian-smoothed colour in CIE Lab (``L``, ``a``, ``b``): colour and its context;
- gradient magnitude, Laplacian of Gaussian and difference of Gaussians (the smoothed ``L`` minus
  the one at the previous scale, or minus ``L`` itself at the first): edges and blobs;
- the two eigenvalues of the structure tensor (gradients at ``sigma``, averaged over ``sigma / 2``,
  as ilastik does) and of the Hessian of Gaussian: orientation, texture, ridges and valleys.

The texture filters run on the lightness ``L`` only, not per colour channel as ilastik does: colour
is already covered by the smoothed ``a``/``b`` at every scale, and one channel instead of three makes
the stack over twice as cheap (60 planes instead of 144 for these filters on three channels) with
little to lose on photographs, whose texture lives mostly in lightness. Derivatives are central
differences of the smoothed image, exact enough at ``sigma >= 0.7`` and far cheaper than
derivative-of-Gaussian kernels.

The stack is channel-first, ``(F, H, W)`` float32: each feature is one contiguous plane, which
OpenCV writes and the forest gathers from without strided copies. Large images are computed in
tiles with a halo as wide as the filters reach (``FeatureConfig.halo``), so a tile's values equal
the whole-image computation bit for bit; this bounds the temporaries, not the stack (4 F bytes a
pixel: 240 MB for a 1 MP photo with the default 60 features).
``FeatureCache`` keeps the stacks of the last few images, keyed by the caller's image id and version.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_SCALES: tuple[float, ...] = (0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
PER_SCALE: tuple[str, ...] = ("L", "a", "b", "gradient", "log", "dog", "st1", "st2", "hessian1", "hessian2")
"""The features of one scale, in stack order (``st``: structure tensor; 1 is the larger eigenvalue)."""

BORDER = cv2.BORDER_REFLECT_101
ALIGN = 64
"""Tiles start on columns that are multiples of this, so OpenCV's SIMD loops meet each pixel in the
same lane as in the whole image and round it the same way (bit-identical results)."""


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to compute: the scales (pixels) and the tile edge for large images."""

    scales: tuple[float, ...] = DEFAULT_SCALES
    tile: int = 1024
    """Core edge of a tile: an image up to 1.5 tiles on a side is one tile (cut into bands of rows
    when several threads compute it)."""

    def __post_init__(self) -> None:
        if not self.scales or any(not 0.3 <= s <= 64 for s in self.scales):
            raise ValueError(f"scales must be non-empty and lie in 0.3..64 pixels; got {self.scales}")
        if self.tile < 64:
            raise ValueError(f"tile must be at least 64 pixels; got {self.tile}")

    @property
    def n_features(self) -> int:
        return len(self.scales) * len(PER_SCALE)

    @property
    def names(self) -> list[str]:
        """``"<feature>@<scale>"`` for each plane of the stack, in order."""
        return [f"{name}@{scale:g}" for scale in self.scales for name in PER_SCALE]

    @property
    def halo(self) -> int:
        """How far (pixels) a feature value depends on the image: Gaussian, one difference, outer blur."""
        return max(_radius(s) + 1 + _radius(s / 2) for s in self.scales)


def _radius(sigma: float) -> int:
    """Gaussian kernel radius: 4 sigma (rounded up), truncating less than 1e-4 of the weight."""
    return max(1, math.ceil(4 * sigma))


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    k = 2 * _radius(sigma) + 1
    return cv2.GaussianBlur(image, (k, k), sigma, sigmaY=sigma, borderType=BORDER)


def _hypot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sqrt(x^2 + y^2)`` from IEEE-exact steps (``cv2.magnitude`` rounds differently in SIMD lanes)."""
    return cv2.sqrt(cv2.add(cv2.multiply(x, x), cv2.multiply(y, y)))


def _eigenvalues(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Larger and smaller eigenvalue of the symmetric 2x2 matrices ``[[a, b], [b, c]]``, per pixel."""
    half_trace = cv2.addWeighted(a, 0.5, c, 0.5, 0.0)
    radius = _hypot(cv2.addWeighted(a, 0.5, c, -0.5, 0.0), b)
    return cv2.add(half_trace, radius), cv2.subtract(half_trace, radius)


def _as_lab(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 CIE Lab (L in 0..100) of an RGB or grey uint8 image."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    rgb = image.astype(np.float32)
    rgb *= np.float32(1 / 255)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)


def _tile_features(
    lab: np.ndarray, scales: tuple[float, ...], out: np.ndarray, crop: tuple[slice, slice]
) -> None:
    """Compute the features of a Lab tile and write its ``crop`` into ``out`` ``(F, h, w)``.

    Channels are blurred as separate planes: as fast as one multi-channel blur, and no splits after.
    """
    lightness, a, b = cv2.split(lab)
    previous = lightness
    planes = iter(out)
    for sigma in scales:
        grey = _blur(lightness, sigma)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=BORDER)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=BORDER)
        gxx = cv2.Sobel(grey, cv2.CV_32F, 2, 0, ksize=1, borderType=BORDER)
        gyy = cv2.Sobel(grey, cv2.CV_32F, 0, 2, ksize=1, borderType=BORDER)
        gxy = cv2.Sobel(grey, cv2.CV_32F, 1, 1, ksize=1, scale=0.25, borderType=BORDER)
        tensor = (_blur(cv2.multiply(u, v), sigma / 2) for u, v in ((gx, gx), (gx, gy), (gy, gy)))
        values = (
            grey,
            _blur(a, sigma),
            _blur(b, sigma),
            _hypot(gx, gy),
            cv2.add(gxx, gyy),
            cv2.subtract(grey, previous),
            *_eigenvalues(*tensor),
            *_eigenvalues(gxx, gxy, gyy),
        )
        for value in values:
            next(planes)[...] = value[crop]
        previous = grey


def worker_threads() -> int:
    """Threads for the classifier's numpy and OpenCV work: the usable cores, at most 4."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus))


def _split(length: int, count: int) -> list[tuple[int, int]]:
    """``0..length`` in ``count`` near-equal pieces."""
    bounds = [round(i * length / count) for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


Tile = tuple[tuple[int, int], tuple[int, int]]
"""((top, bottom), (left, right)) of one tile's core."""


def feature_tiles(shape: tuple[int, int], config: FeatureConfig, threads: int) -> list[Tile]:
    """The tiles a stack of ``shape`` is computed in (their cores cover it once)."""
    height, width = shape
    bands = max(1, round(height / config.tile), min(threads, height // (4 * config.halo)))
    return [
        (rows, cols)
        for rows in _split(height, bands)
        for cols in _split(width, max(1, round(width / config.tile)))
    ]


def _compute_tile(image: np.ndarray, config: FeatureConfig, out: np.ndarray, tile: Tile) -> None:
    """Write the features of one tile's core into ``out`` (read with its halo, aligned)."""
    height, width = image.shape[:2]
    halo = config.halo
    (top, bottom), (left, right) = tile
    r0, c0 = max(0, top - halo), max(0, left - halo) // ALIGN * ALIGN
    r1, c1 = min(height, bottom + halo), min(width, right + halo)
    crop = (slice(top - r0, bottom - r0), slice(left - c0, right - c0))
    _tile_features(_as_lab(image[r0:r1, c0:c1]), config.scales, out[:, top:bottom, left:right], crop)


def _checked_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(
            f"expected an (H, W, 3) RGB or (H, W) grey uint8 image; got {image.dtype} {image.shape}"
        )
    return image


def compute_features(
    image: np.ndarray,
    config: FeatureConfig | None = None,
    threads: int | None = None,
    dtype: type[np.floating] = np.float32,
) -> np.ndarray:
    """The ``(F, H, W)`` feature stack of an RGB (or grey) uint8 image; see the module notes.

    Computed tile by tile with a halo, so the result does not depend on the tiling. Tiles run on
    ``threads`` threads (OpenCV releases the GIL); an image of one tile is cut into bands of rows for
    them when it is tall enough that the halos cost little (at least 4 halos a band). ``dtype``
    float16 stores each tile's float32 values rounded (half the memory of a 12 MP stack).
    """
    stack = PartialStack.empty(_checked_image(image), config or FeatureConfig(), threads, dtype)
    stack.complete(image)
    return stack.array


@dataclass
class PartialStack:
    """A feature stack filled tile by tile: a run stopped between tiles keeps the tiles it finished,
    so the next run over the same image computes only the rest."""

    array: np.ndarray
    config: FeatureConfig
    tiles: list[Tile]
    done: list[bool]
    threads: int

    @classmethod
    def empty(
        cls,
        image: np.ndarray,
        config: FeatureConfig,
        threads: int | None = None,
        dtype: type[np.floating] = np.float32,
    ) -> PartialStack:
        threads = threads or worker_threads()
        shape = image.shape[:2]
        tiles = feature_tiles(shape, config, threads)
        array = np.empty((config.n_features, *shape), dtype)
        return cls(array, config, tiles, [False] * len(tiles), threads)

    @property
    def complete_now(self) -> bool:
        return all(self.done)

    def complete(self, image: np.ndarray, check: Callable[[], None] = lambda: None) -> None:
        """Compute the missing tiles, ``threads`` at a time, calling ``check`` before each round
        (it may raise to stop: the finished tiles stay)."""
        image = _checked_image(image)
        missing = [i for i, done in enumerate(self.done) if not done]
        rounds = max(1, self.threads)

        def run(index: int) -> None:
            _compute_tile(image, self.config, self.array, self.tiles[index])

        for start in range(0, len(missing), rounds):
            check()
            batch = [index for index in missing[start : start + rounds] if not self.done[index]]
            if len(batch) == 1 or self.threads == 1:
                for index in batch:
                    run(index)
            else:
                with ThreadPoolExecutor(len(batch)) as pool:
                    list(pool.map(run, batch))
            for index in batch:
                self.done[index] = True


class FeatureCache:
    """The feature stacks of the last few images, so re-training on new scribbles skips the filters.

    Keyed by the caller's image identity (a path, a project image id) and version (bumped when the
    pixels change), plus the config and the stored dtype. Least recently used stacks go first;
    stacks larger than ``max_bytes`` are computed but not kept. A computation stopped by ``check``
    keeps its finished tiles for the next call. Safe to share between threads.
    """

    def __init__(self, max_entries: int = 2, max_bytes: int = 2 << 30) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._stacks: OrderedDict[tuple[Hashable, Hashable, FeatureConfig, str], PartialStack] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        key: Hashable,
        version: Hashable,
        image: np.ndarray | Callable[[], np.ndarray],
        config: FeatureConfig | None = None,
        check: Callable[[], None] = lambda: None,
        dtype: type[np.floating] = np.float32,
    ) -> np.ndarray:
        """The stack of ``image`` (computed where missing); read-only, as it is shared. ``image``
        may be a function making it (a downscaled copy), called only when tiles are missing."""
        config = config or FeatureConfig()
        entry = (key, version, config, np.dtype(dtype).str)
        with self._lock:
            stack = self._stacks.get(entry)
            if stack is not None:
                self._stacks.move_to_end(entry)
        if stack is None or not stack.complete_now:
            image = image() if callable(image) else image
        if stack is None:
            stack = PartialStack.empty(_checked_image(image), config, dtype=dtype)
            with self._lock:
                for old in [k for k in self._stacks if k[0] == key and k[1] != version]:  # stale versions
                    del self._stacks[old]
                if stack.array.nbytes <= self.max_bytes:
                    self._stacks[entry] = stack
                    while len(self._stacks) > self.max_entries or self.nbytes > self.max_bytes:
                        self._stacks.popitem(last=False)
        if not stack.complete_now:
            assert not callable(image)
            stack.complete(image, check)
        array = stack.array.view()
        array.flags.writeable = False
        return array

    def has(
        self,
        key: Hashable,
        version: Hashable,
        config: FeatureConfig | None = None,
        dtype: type[np.floating] = np.float32,
    ) -> bool:
        """Whether the whole stack is cached (a call to ``get`` costs no filtering)."""
        entry = (key, version, config or FeatureConfig(), np.dtype(dtype).str)
        with self._lock:
            stack = self._stacks.get(entry)
        return stack is not None and stack.complete_now

    @property
    def nbytes(self) -> int:
        return sum(stack.array.nbytes for stack in self._stacks.values())

    def clear(self) -> None:
        with self._lock:
            self._stacks.clear()
