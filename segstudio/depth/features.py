"""Depth comparison features (Shotton et al., CVPR 2011): ``f(I, x) = d(x + u/d(x)) - d(x + v/d(x))``.

Units: depth images are float arrays in **metres** with 0 marking invalid or background pixels (use
``depth_in_metres`` for 16-bit millimetre frames). Offsets ``u``, ``v`` are in **pixel-metres**
(``(d_row, d_col)``): divided by the depth at ``x`` they become pixel offsets, so a probe lands on the
same body point whether the body stands at 2 m or 4 m. Feature values are depth differences in metres.

A probe that leaves the image or lands on a background/invalid pixel reads ``BACKGROUND_DEPTH_M``
(10 m): far behind any body, so "probe is off the body" gives a large positive difference the forest
can threshold on, the same way everywhere.

Probe positions round to the nearest pixel (``np.rint``, halves to even). Evaluation is a pure numpy
gather (``np.take`` on the flattened depth image); reference pixels must be foreground (depth > 0).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from segstudio.depth.features_jit import dense_features

BACKGROUND_DEPTH_M = 10.0
"""What a probe reads off the image or on a pixel with depth 0, in metres."""

MAX_OFFSET_PX_M = 129.0
"""Default largest probe offset: the paper's best setting (Fig. 5c, 129 pixel-metres at 640x480)."""

CHUNK_VALUES = 1 << 20
"""(pixel, feature) values evaluated per numpy pass in ``FeatureBank.evaluate``."""


def depth_in_metres(depth_mm: np.ndarray) -> np.ndarray:
    """A millimetre depth frame (e.g. Kinect uint16) as float32 metres; 0 stays 0 (invalid)."""
    return np.asarray(depth_mm, np.float32) * np.float32(0.001)


def foreground_pixels(depth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``(N, 2)`` int64 (row, col) of pixels with valid depth, inside ``mask`` when one is given."""
    valid = np.asarray(depth) > 0
    if mask is not None:
        valid &= np.asarray(mask, bool)
    return mask_pixels(valid)


def mask_pixels(mask: np.ndarray) -> np.ndarray:
    """``(N, 2)`` int64 (row, col) of a 2-D mask's set pixels in ``np.argwhere``'s order (row by
    row), found by OpenCV's ``findNonZero``: 0.24 vs 1.15 ms on a 640x480 frame's body."""
    mask = np.ascontiguousarray(mask, bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D; got shape {mask.shape}")
    found = cv2.findNonZero(mask.view(np.uint8)) if mask.size else None
    if found is None:
        return np.zeros((0, 2), np.int64)
    return np.ascontiguousarray(found.reshape(-1, 2)[:, ::-1], np.int64)


@dataclass(frozen=True, eq=False)
class FeatureBank:
    """``K`` offset pairs: feature ``i`` probes ``u[i]``, ``v[i]`` ((d_row, d_col) pixel-metres, float32)."""

    u: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        if self.u.shape != self.v.shape or self.u.ndim != 2 or self.u.shape[1] != 2:
            raise ValueError(f"u and v must both be (K, 2); got {self.u.shape} and {self.v.shape}")

    @classmethod
    def random(
        cls,
        n_features: int = 2000,
        max_offset: float = MAX_OFFSET_PX_M,
        unary_fraction: float = 0.2,
        seed: int = 0,
    ) -> FeatureBank:
        """Offsets uniform in a disc of radius ``max_offset``; a ``unary_fraction`` of the features
        has ``v = 0`` (they compare a probe with the pixel itself)."""
        rng = np.random.default_rng(seed)

        def disc(n: int) -> np.ndarray:
            radius = max_offset * np.sqrt(rng.random(n))
            angle = rng.uniform(0.0, 2.0 * np.pi, n)
            return np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1).astype(np.float32)

        u, v = disc(n_features), disc(n_features)
        v[rng.random(n_features) < unary_fraction] = 0.0
        return cls(u, v)

    @property
    def reach(self) -> float:
        """The largest offset component (pixel-metres): no probe lands farther than
        ``reach / z`` pixels from a pixel at depth z."""
        return float(max(np.abs(self.u).max(initial=0.0), np.abs(self.v).max(initial=0.0)))

    def __len__(self) -> int:
        return int(self.u.shape[0])

    @functools.cached_property
    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """u rows, u cols, v rows, v cols as contiguous arrays: gathering them is 10x faster than (K, 2)."""
        return tuple(np.ascontiguousarray(a[:, i], np.float32) for a in (self.u, self.v) for i in (0, 1))

    def evaluate(
        self, depth: np.ndarray, pixels: np.ndarray, feature_indices: np.ndarray | None = None
    ) -> np.ndarray:
        """Features ``(N, M)`` float32 of ``N`` foreground pixels (row, col) for ``M`` features (all by
        default): the dense training matrix."""
        probes = _Probes(depth, pixels)
        features = np.arange(len(self)) if feature_indices is None else np.asarray(feature_indices)
        offsets = [column[features] for column in self._columns]
        if probes.flat.size < 1 << 24:  # float32 coordinates: the compiled twin where it loads
            at = (probes.rows, probes.cols, probes.inv_depth)
            out = dense_features(probes.flat, (probes.last_row, probes.last_col), at, tuple(offsets))
            if out is not None:
                return out
        out = np.empty((len(probes), features.size), np.float32)
        step = max(1, CHUNK_VALUES // max(1, features.size))
        for start in range(0, len(probes), step):
            part = np.arange(start, min(len(probes), start + step))[:, None]
            out[start : start + step] = probes.difference(part, *offsets)
        return out

    def evaluate_pairs(
        self, depth: np.ndarray, pixels: np.ndarray, feature_indices: np.ndarray
    ) -> np.ndarray:
        """Feature ``feature_indices[i]`` of pixel ``pixels[i]``, ``(N,)`` float32."""
        return self.pair_reader(depth, pixels)(np.arange(len(pixels)), np.asarray(feature_indices))

    def pair_reader(
        self, depth: np.ndarray, pixels: np.ndarray
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """``feature_fn(sample_indices, feature_indices)`` over ``pixels`` for ``Forest.predict_proba_lazy``:
        the forest then evaluates only the offset pairs its trees visit."""
        probes, columns = _Probes(depth, pixels), self._columns
        return lambda samples, features: probes.difference(samples, *(c[features] for c in columns))


class _Probes:
    """Reference pixels on one depth image, ready to read probes.

    The image is padded by one pixel and its zeros replaced by the background constant, so a probe
    clamped into the padded frame reads the right value with no masks: off-image probes land on the
    border, which holds the constant. Coordinates are float32 (exact integers; float64 for images of
    2**24 pixels or more), half the memory traffic of int64. ``square`` pads the shorter side up to
    the longer one, so one bound clamps rows and columns alike (``DepthDescent``); a probe clamped
    into the extra rows or columns reads the constant, as it would on the one-pixel border.
    """

    def __init__(self, depth: np.ndarray, pixels: np.ndarray, square: bool = False) -> None:
        image = np.asarray(depth, np.float32)
        pixels = np.asarray(pixels)
        if image.ndim != 2:
            raise ValueError(f"depth must be a 2-D image; got shape {image.shape}")
        if pixels.ndim != 2 or pixels.shape[1] != 2:
            raise ValueError(f"pixels must be (N, 2) (row, col); got shape {pixels.shape}")
        height, width = image.shape
        rows, cols = pixels[:, 0].astype(np.int64), pixels[:, 1].astype(np.int64)
        if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= height or cols.max() >= width):
            raise ValueError(f"pixels must lie inside the {height}x{width} image")
        reference = np.take(image.ravel(), rows * width + cols)  # a flat gather: ~5x image[rows, cols]
        if not np.all(reference > 0):
            raise ValueError("features are defined at foreground pixels only (depth > 0)")
        shape = (max(height, width) + 2,) * 2 if square else (height + 2, width + 2)
        padded = np.full(shape, BACKGROUND_DEPTH_M, np.float32)
        np.copyto(padded[1 : height + 1, 1 : width + 1], image, where=image > 0)  # ~3x np.where's time
        dtype = np.float32 if padded.size < 1 << 24 else np.float64
        self.flat, self.last_row, self.last_col = padded.ravel(), dtype(shape[0] - 1), dtype(shape[1] - 1)
        self.rows, self.cols = (rows + 1).astype(dtype), (cols + 1).astype(dtype)
        self.inv_depth = (1.0 / reference).astype(dtype)

    def __len__(self) -> int:
        return self.rows.size

    def difference(
        self, samples: np.ndarray, u_row: np.ndarray, u_col: np.ndarray, v_row: np.ndarray, v_col: np.ndarray
    ) -> np.ndarray:
        """``d(x + u/d(x)) - d(x + v/d(x))`` for reference pixels ``samples``, broadcast against offsets."""
        rows, cols, inv_depth = self.rows[samples], self.cols[samples], self.inv_depth[samples]
        return self._read(rows, cols, inv_depth, u_row, u_col) - self._read(
            rows, cols, inv_depth, v_row, v_col
        )

    def _read(
        self, rows: np.ndarray, cols: np.ndarray, inv_depth: np.ndarray, d_row: np.ndarray, d_col: np.ndarray
    ) -> np.ndarray:
        """Depth at ``(row, col) + rint(offset / d)``, clamped into the padded frame."""
        index = _clamped(rows + np.rint(d_row * inv_depth), self.last_row)
        index *= self.last_col + 1
        index += _clamped(cols + np.rint(d_col * inv_depth), self.last_col)
        return np.take(self.flat, index.astype(np.intp))


def _clamped(coordinate: np.ndarray, last: float) -> np.ndarray:
    """``coordinate`` clamped to ``0 .. last`` in place."""
    np.maximum(coordinate, 0, out=coordinate)
    return np.minimum(coordinate, last, out=coordinate)
