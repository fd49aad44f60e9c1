"""The body-part classifier: a ``FeatureBank`` and the ``Forest`` trained on it, as one ``.npz`` file.

A forest file alone is useless for depth: its feature ``i`` means "offset pair ``i`` of the bank it
was trained with", so the model keeps the two together (plus how it was trained). The file holds
the forest's flat arrays, the bank's offsets, JSON metadata and a format tag; leaf distributions are
stored as float16 (a fifth smaller compressed; predicted probabilities move by < 1e-4, 0.006 % of
pixels change label and the held-out accuracy is unchanged to four decimals) and the offsets of
features no tree uses are dropped.

Foreground. The forest labels body pixels only, so ``predict`` needs to know which pixels are the
body. The Kinect found them by background subtraction; here the rule is, in order of preference:
an explicit ``mask`` (ground truth for synthetic frames, or a camera's user mask), else
``foreground_mask``: valid readings inside a working range, and nearer than an empty-room
``background`` frame by a margin when one is given.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from segstudio.core.forest import Forest
from segstudio.core.npz import load_npz, save_npz
from segstudio.depth.descent import DepthDescent
from segstudio.depth.features import FeatureBank, depth_in_metres, mask_pixels
from segstudio.depth.forest_file import forest_arrays, forest_from_arrays
from segstudio.depth.labels_jit import part_labels
from segstudio.depth.parts import BACKGROUND, N_PARTS
from segstudio.depth.smoothing_jit import CELL, depth_gated_means

FORMAT_NAME = "segstudio-body-parts"
FORMAT_VERSION = 2
"""Version 2 (issue 19) stores the forest compactly (``forest_file``); version 1 files still load."""
BUNDLED_MODEL_NAME = "body_parts.npz"

NEAR_MM, FAR_MM = 500, 4500
"""Default working range of ``foreground_mask`` (the Kinect v1's reliable range)."""
BACKGROUND_MARGIN_MM = 100
"""How much nearer than the empty-room background a pixel must be to count as foreground."""
SMOOTHING_PX_M = 48.0
"""Side of the posterior-pooling window in pixel-metres (24 px at 2 m, 12 px at 4 m); 0 = off."""
SMOOTHING_DEPTH_M = 0.07
"""Depth gap (metres) between a pixel and a part's mean depth in its window at which that part's
window mass counts a quarter (``smooth``); 0 = no depth weights."""


class ModelFileError(ValueError):
    """A body-part model file that cannot be read; the message names the file first."""


@dataclass(frozen=True)
class TrainingInfo:
    """How a model was trained: frame seeds ``first_frame .. first_frame + frames - 1`` (mirrored
    too when ``mirrored``), ``pixels_per_frame`` sampled per frame, and the forest's settings."""

    seed: int = 0
    frames: int = 0
    first_frame: int = 0
    mirrored: bool = True
    pixels_per_frame: int = 0
    trees: int = 0
    depth: int = 0
    features: int = 0
    candidate_features: int = 0
    disjoint_trees: bool = False
    """Each tree grown on its own share of the frames (else all trees on bootstrap draws of all)."""
    level_wise: bool = False
    """Grown level by level from depth crops (``depth.level_forest``), not from a dense matrix."""
    window_frames: bool = False
    """Training frames rendered only where their probes reach (``depth.body.window_frame``)."""
    search_samples: int = 0
    """Most samples a node's split search read (``depth.level_forest``); 0: all of them."""
    refit_frames: int = 0
    """Frames (mirrored too when ``mirrored``) from seed ``refit_first_frame`` whose pixels
    re-estimated the leaves (``depth.refit``); 0: leaves of the sampled training pixels."""
    refit_first_frame: int = 0
    refit_pixels: int = 0
    """Pixels counted per refit frame; 0: every body pixel, part ``c``'s weighing
    ``count_c ** -refit_balance`` in its frame."""
    refit_balance: float = 0.0
    refit_prior: float = 0.0
    seconds: float = 0.0

    @property
    def frame_seeds(self) -> range:
        """The seeds of the training and refit frames (the span of both); evaluation must stay
        clear of them."""
        first, stop = self.first_frame, self.first_frame + self.frames
        if self.refit_frames:
            first = min(first, self.refit_first_frame)
            stop = max(stop, self.refit_first_frame + self.refit_frames)
        return range(first, stop)


@dataclass(frozen=True, eq=False)
class PartPrediction:
    """``parts``: (H, W) uint8 part ids, ``BACKGROUND`` off the body. ``pixels``: (N, 2) (row, col)
    of the classified pixels; ``proba``: their (N, 31) float32 part probabilities (per pixel, not
    per image: a dense (H, W, 31) array is 38 MB at 640x480, see ``proba_image``)."""

    parts: np.ndarray
    pixels: np.ndarray
    proba: np.ndarray

    def proba_image(self) -> np.ndarray:
        """Dense (H, W, 31) float32 probabilities, zero off the classified pixels."""
        image = np.zeros((*self.parts.shape, self.proba.shape[1]), np.float32)
        image[self.pixels[:, 0], self.pixels[:, 1]] = self.proba
        return image


def foreground_mask(
    depth_mm: np.ndarray,
    background_mm: np.ndarray | None = None,
    near_mm: int = NEAR_MM,
    far_mm: int = FAR_MM,
    margin_mm: int = BACKGROUND_MARGIN_MM,
) -> np.ndarray:
    """Pixels to classify when no mask is known: readings in ``near_mm .. far_mm`` and, given an
    empty-room ``background_mm`` frame, at least ``margin_mm`` nearer than it (background pixels
    without a reading do not veto)."""
    depth = np.asarray(depth_mm)
    mask = (depth >= near_mm) & (depth <= far_mm)
    if background_mm is not None:
        background = np.asarray(background_mm, np.int32)
        if background.shape != depth.shape:
            raise ValueError(f"background {background.shape} and depth {depth.shape} differ in shape")
        mask &= (background == 0) | (depth.astype(np.int32) <= background - margin_mm)
    return mask


@dataclass(frozen=True, eq=False)
class BodyPartModel:
    """A feature bank, the forest over it, and how they were trained."""

    bank: FeatureBank
    forest: Forest
    info: TrainingInfo

    def __post_init__(self) -> None:
        if self.forest.n_features != len(self.bank):
            raise ValueError(f"forest reads {self.forest.n_features} features; bank has {len(self.bank)}")
        if self.forest.n_classes != N_PARTS:
            raise ValueError(f"forest has {self.forest.n_classes} classes; body parts need {N_PARTS}")

    @functools.cached_property
    def descent(self) -> DepthDescent:
        """The forest laid out node by node with its offsets, for ``predict_pixels``."""
        return DepthDescent.build(self.forest, self.bank)

    def predict_pixels(self, depth_mm: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """(N, 31) float32 part probabilities of ``pixels`` (valid readings), features read lazily:
        only the ~depth offset pairs each tree visits are evaluated, not the whole bank (bit for
        bit ``forest.predict_proba_lazy`` with ``bank.pair_reader``, in fewer numpy passes)."""
        return self.descent.predict_proba(depth_in_metres(depth_mm), np.asarray(pixels))

    def predict(
        self, depth_mm: np.ndarray, mask: np.ndarray | None = None, smoothing: float = SMOOTHING_PX_M
    ) -> PartPrediction:
        """Label the body pixels of a uint16 millimetre frame: ``mask`` & valid if given, else
        ``foreground_mask(depth_mm)`` (see the module notes); probabilities ``smooth``ed."""
        depth_mm = np.asarray(depth_mm)
        if depth_mm.ndim != 2:
            raise ValueError(f"depth must be a 2-D image; got shape {depth_mm.shape}")
        selected = foreground_mask(depth_mm) if mask is None else (np.asarray(mask, bool) & (depth_mm > 0))
        pixels = mask_pixels(selected)
        proba = smooth(pixels, self.predict_pixels(depth_mm, pixels), depth_mm, smoothing)
        parts = np.full(depth_mm.shape, BACKGROUND, np.uint8)
        parts[selected] = part_labels(proba)  # the mask's pixels in ``pixels``' order
        return PartPrediction(parts, pixels, proba)

    def compact(self) -> BodyPartModel:
        """The model as it is stored: offsets no tree reads dropped (features renumbered) and leaf
        probabilities rounded to float16, so ``load(save(m))`` predicts exactly like ``m.compact()``."""
        f = self.forest
        used = np.unique(f.feature[f.feature >= 0])
        if used.size == 0:  # a forest of root leaves still needs a (never read) feature
            used = np.zeros(1, np.int64)
        renumber = np.zeros(len(self.bank), np.int32)
        renumber[used] = np.arange(used.size, dtype=np.int32)
        feature = np.where(f.feature >= 0, renumber[np.maximum(f.feature, 0)], -1).astype(np.int32)
        leaf_proba = f.leaf_proba.astype(np.float16).astype(np.float32)
        threshold = np.where(feature >= 0, f.threshold, np.float32(0.0)).astype(np.float32)  # leaves': unread
        forest = Forest(feature, threshold, f.child, f.roots, leaf_proba, int(used.size))
        return BodyPartModel(FeatureBank(self.bank.u[used], self.bank.v[used]), forest, self.info)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write one compressed ``.npz`` atomically (see ``core.npz``)."""
        model = self.compact()
        f = model.forest
        arrays = {
            "format": np.str_(FORMAT_NAME),
            "version": np.int64(FORMAT_VERSION),
            "info": np.str_(json.dumps(asdict(model.info))),
            "u": model.bank.u.astype(np.float32),
            "v": model.bank.v.astype(np.float32),
            **forest_arrays(f),
        }
        save_npz(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BodyPartModel:
        """Read a file written by ``save``; anything else raises ``ModelFileError`` naming the file."""
        path = Path(path)
        arrays = load_npz(path, ModelFileError, "segstudio body-part model")
        try:
            return _from_arrays(arrays)
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{path}: not a valid segstudio body-part model ({exc})") from exc


def smooth(
    pixels: np.ndarray,
    proba: np.ndarray,
    depth_mm: np.ndarray,
    window_px_m: float = SMOOTHING_PX_M,
    depth_scale_m: float = SMOOTHING_DEPTH_M,
    compiled: bool = True,
) -> np.ndarray:
    """Each pixel's probabilities pooled over the classified pixels around it, parts at other depths
    left out.

    Neighbouring pixels almost always share a part, while three trees grown on a few thousand frames
    err pixel by pixel: pooling their posteriors is a cheap spatial ensemble. A square window alone
    also pools across depth edges (a forearm in front of the torso, a hand reaching to the camera),
    so each part's window mass is weighted by ``(1 + (gap / depth_scale_m)**2) ** -2``, ``gap``
    the pixel's depth minus that part's mean depth in the window: the window's sums of ``p`` and
    ``p * z`` per part give both. The window is ``window_px_m`` divided by the median depth in
    metres, so it covers about the same body area at any distance; sums run over cells of
    ``smoothing_jit.CELL`` pixels of the body's bounding box (a pixel uses its cell's window):
    compiled by Numba (``smoothing_jit``) where it loads and ``compiled`` is set, else OpenCV's box
    filter (the same probabilities to float32 rounding). ``depth_scale_m <= 0`` pools without the
    depth weights.
    """
    if window_px_m <= 0 or len(pixels) == 0:
        return proba
    z = depth_mm[pixels[:, 0], pixels[:, 1]].astype(np.float32) / np.float32(1000.0)
    median_m = float(np.median(z))
    radius = int(window_px_m / median_m / (2 * CELL) + 0.5)  # in cells; the window is centred
    if radius < 1:
        return proba
    z -= np.float32(median_m)  # centred: the sums of p * z keep their precision
    inv_scale2 = 1.0 / depth_scale_m**2 if depth_scale_m > 0 else 0.0
    top, left = pixels.min(axis=0)
    rows, cols = pixels[:, 0] - top, pixels[:, 1] - left
    cells = (int(rows.max()) // CELL + 1, int(cols.max()) // CELL + 1)
    proba = np.ascontiguousarray(proba, np.float32)
    if compiled:
        index = np.full((cells[0] * CELL, cells[1] * CELL), -1, np.int32)
        index[rows, cols] = np.arange(len(pixels), dtype=np.int32)
        out = depth_gated_means(index, proba, z, radius, inv_scale2)
        if out is not None:
            return out
    binned = np.zeros((cells[0] * CELL, cells[1] * CELL, 2 * proba.shape[1]), np.float32)
    binned[rows, cols] = np.concatenate([proba, proba * z[:, None]], axis=1)
    binned = binned.reshape(cells[0], CELL, cells[1], CELL, -1).sum(axis=(1, 3))
    size = (2 * radius + 1, 2 * radius + 1)
    windows = cv2.boxFilter(binned, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return gated_probabilities(windows[rows // CELL, cols // CELL], z, inv_scale2)


def gated_probabilities(windows: np.ndarray, depth_m: np.ndarray, inv_scale2: float) -> np.ndarray:
    """(N, C) probabilities from each pixel's window sums (N, 2C) of ``p`` then ``p * z``: part
    ``c``'s mass times ``(1 + gap**2 * inv_scale2) ** -2``, ``gap`` = ``depth_m`` minus the part's
    mean depth, over their total (what ``smoothing_jit`` computes, in the same float32 steps)."""
    parts = windows.shape[1] // 2
    mass = np.maximum(windows[:, :parts], np.float32(0.0))
    gap_mass = depth_m[:, None] * mass - windows[:, parts:]
    mass2 = mass * mass
    near = mass2 / (mass2 + gap_mass * gap_mass * np.float32(inv_scale2) + np.float32(1e-30))
    weighted = mass * near * near
    return weighted * (np.float32(1.0) / weighted.sum(axis=1, keepdims=True))


def bundled_model_path() -> Path:
    """The forest shipped in ``segstudio.resources`` (how it was made: ``resources/models/README.md``)."""
    return Path(str(resources.files("segstudio.resources") / "models" / BUNDLED_MODEL_NAME))


def _from_arrays(arrays: dict[str, np.ndarray]) -> BodyPartModel:
    """Check the tag and version, then rebuild bank, forest (float32 probabilities) and info."""
    if str(arrays.get("format", "")) != FORMAT_NAME:
        raise ValueError(f"format tag is not {FORMAT_NAME!r}")
    version = int(arrays["version"])
    if version not in (1, FORMAT_VERSION):
        raise ValueError(f"format version {version}; this reads 1 and {FORMAT_VERSION}")
    info = TrainingInfo(**json.loads(str(arrays["info"])))
    bank = FeatureBank(arrays["u"].astype(np.float32), arrays["v"].astype(np.float32))
    if version == FORMAT_VERSION:
        return BodyPartModel(bank, forest_from_arrays(arrays, len(bank)), info)
    forest = Forest(
        feature=arrays["feature"].astype(np.int32),
        threshold=arrays["threshold"].astype(np.float32),
        child=arrays["child"].astype(np.int32),
        roots=arrays["roots"].astype(np.int32),
        leaf_proba=arrays["leaf_proba"].astype(np.float32),
        n_features=len(bank),
    )
    return BodyPartModel(bank, forest, info)
