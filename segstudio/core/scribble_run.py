"""One live update of the scribble classifier: features (cached per image), train, predict, uncertainty.

The GUI runs :func:`classify_scribbles` on its worker thread for every pause in scribbling, and the
pixel-classify bench times it the same way, so the numbers it reports are the ones a user waits for.
Blobs of the request's thing classes become instances (``core.instances``) in the predict stage.
``check`` (a ``CancelToken.check``) is called between the stages and between rounds of feature
tiles, so a newer stroke stops a stale run soon; the tiles finished stay in the cache, and the run
that supersedes this one computes only the rest.

An image larger than ``COARSE_PIXELS`` is first classified downscaled (:func:`classify_coarse`,
as ilastik shows a coarse result first): features of an image ``coarse_factor`` times smaller
(cached too, ~1/20 of the work at 12 MP), the scribbles moved onto its pixels, the labels scaled
back up by nearest neighbour. The full-resolution run refines it afterwards; its stack is kept in
half precision above ``HALF_PRECISION_PIXELS`` (1.4 GB instead of 2.9 GB at 12 MP, so it fits the
cache and is computed once per image).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from segstudio.core.features import FeatureCache
from segstudio.core.instances import split_things
from segstudio.core.labels import CATEGORY_DTYPE, INSTANCE_DTYPE, LabelMap, Provenance
from segstudio.core.pixel_classifier import (
    ClassifierParams,
    PixelClassifier,
    predict,
    train_from_scribbles,
)
from segstudio.core.pixel_classifier import uncertainty as margin_uncertainty
from segstudio.core.prediction_metrics import LabelsSnapshot, PredictionMetrics
from segstudio.core.scribbles import categories_from_values

UNCERTAINTY_LEVELS = 255
"""Uncertainty 0..1 is quantised to 0..255 (one Indexed8 overlay entry per level)."""

COARSE_PIXELS = 1 << 19
"""Images larger than this (~0.5 MP) get a first, downscaled pass of about this many pixels."""

COARSE_TREES = 12
"""Trees of the coarse pass's forest (the full one has 24): half the training and prediction."""

HALF_PRECISION_PIXELS = 1 << 22
"""Images larger than this (~4 MP) keep their full-resolution feature stack in float16."""


def coarse_factor(shape: tuple[int, int]) -> int:
    """How many times smaller (per side) the coarse pass sees the image; 1: no coarse pass."""
    pixels = shape[0] * shape[1]
    return 1 if pixels <= COARSE_PIXELS else math.ceil(math.sqrt(pixels / COARSE_PIXELS))


def downscale_scribbles(values: np.ndarray, factor: int) -> np.ndarray:
    """Scribbles on the pixels of an image ``factor`` times smaller: a small pixel takes the largest
    value scribbled in its ``factor x factor`` block (a thin stroke is never lost between samples).
    One OpenCV max filter (uint16 values) and a strided pick, not a per-pixel scatter."""
    values = np.asarray(values)
    if factor == 1:
        return values
    if values.dtype != np.uint16:
        raise ValueError(f"scribble values must be uint16 to be scaled; got {values.dtype}")
    kernel = np.ones((factor, factor), np.uint8)
    block_max = cv2.dilate(values, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return np.ascontiguousarray(block_max[::factor, ::factor])


def _upscale(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour scaling of a label-like map to ``shape`` (uint32 through OpenCV's int32)."""
    view = array.view(np.int32) if array.dtype == np.uint32 else array
    scaled = cv2.resize(view, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return scaled.view(array.dtype)


def image_version(rgb: np.ndarray) -> str:
    """A digest of the pixels: the feature cache's version, so changed pixels mean new features.

    Remembered for the last array digested (a request's pixels are a snapshot nobody changes):
    hashing 36 MB on every stroke of a 12 MP image cost ~50 ms of the first result."""
    with _VERSION_LOCK:
        known = _LAST_VERSION.get("digest")
        if known is not None and known[0]() is rgb:
            return known[1]
    digest = hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).hexdigest()
    with _VERSION_LOCK:
        _LAST_VERSION["digest"] = (weakref.ref(rgb), digest)
    return digest


_LAST_VERSION: dict[str, tuple[weakref.ref, str]] = {}
_VERSION_LOCK = threading.Lock()


@dataclass(frozen=True)
class ScribbleRequest:
    """A snapshot to classify: nothing in it may be changed by the caller afterwards."""

    image_id: str
    rgb: np.ndarray
    values: np.ndarray
    """Scribbles in the classifier's convention (0 = none, ``id + 1`` = class ``id``)."""
    params: ClassifierParams
    previous: PixelClassifier | None = None
    """The last model of this image: handed back untouched when the training set did not change."""
    thing_ids: frozenset[int] = frozenset()
    """Palette ids of thing classes: each connected blob of one in the prediction is an instance."""
    labels: LabelsSnapshot | None = None
    """The ground truth when the request was made: the result's metrics are counted on the worker."""


@dataclass(frozen=True)
class ScribbleResult:
    """The prediction in palette class ids and instance ids (a blob of a thing class each), its
    uncertainty (uint8, 255 = two classes tie) and timings."""

    image_id: str
    category: np.ndarray
    instance: np.ndarray
    uncertainty: np.ndarray
    model: PixelClassifier
    scribbled_pixels: int
    features_ms: float
    train_ms: float
    predict_ms: float
    scale: int = 1
    """1: a full-resolution result; ``n``: the coarse pass, classified ``n`` times smaller."""
    metrics: PredictionMetrics | None = None
    """Counted against the request's ``labels`` (None without them)."""

    @property
    def coarse(self) -> bool:
        return self.scale > 1

    @property
    def total_ms(self) -> float:
        return self.features_ms + self.train_ms + self.predict_ms

    def to_labels(self) -> LabelMap:
        """The prediction as a label map written by a model (built once: the run builds it on the
        worker, so the GUI thread that shows the result does not check and copy 12 MP arrays)."""
        return self.labels

    @functools.cached_property
    def labels(self) -> LabelMap:
        category, instance = self.category, self.instance
        if category.dtype == CATEGORY_DTYPE and instance.dtype == INSTANCE_DTYPE:
            # The classifier's ids are trained values - 1 (values >= 1): never VOID, so every pixel
            # is the model's, and the arrays (fresh, never edited) need no checks or copies.
            return LabelMap(category, instance, np.full(category.shape, Provenance.MODEL, np.uint8))
        return LabelMap.from_arrays(category, instance, Provenance.MODEL)

    @property
    def classes(self) -> list[int]:
        """The palette class ids the model learnt."""
        return categories_from_values(self.model.classes).tolist()


def classify_scribbles(
    request: ScribbleRequest, cache: FeatureCache, check: Callable[[], None] = lambda: None
) -> ScribbleResult:
    """Train on the request's scribbles and label every pixel; ``check`` may raise to stop between stages."""
    check()
    start = time.perf_counter()
    rgb = request.rgb
    dtype = np.float16 if rgb.shape[0] * rgb.shape[1] > HALF_PRECISION_PIXELS else np.float32
    features = cache.get(request.image_id, image_version(rgb), rgb, check=check, dtype=dtype)
    result = _classify(request, features, request.values, request.previous, start, check, 1, request.params)
    return _counted(request, result)


def _counted(request: ScribbleRequest, result: ScribbleResult) -> ScribbleResult:
    """The result with its metrics against the request's labels (here, on the worker), and its
    label map built: the GUI thread that shows it then neither counts nor copies 12 MP."""
    if request.labels is not None:
        result = dataclasses.replace(result, metrics=request.labels.count(result.category))
    result.to_labels()  # after replace: a replaced result does not carry the cached map
    return result


def classify_coarse(
    request: ScribbleRequest, cache: FeatureCache, check: Callable[[], None] = lambda: None
) -> ScribbleResult:
    """The first, coarse result of a large image (see the module notes): classified
    ``coarse_factor`` times smaller, labels and uncertainty scaled back to the image's size."""
    check()
    start = time.perf_counter()
    factor = coarse_factor(request.rgb.shape[:2])
    key, version = (request.image_id, "coarse", factor), image_version(request.rgb)
    features = cache.get(key, version, lambda: coarse_image(request.rgb, factor), check=check)
    values = downscale_scribbles(request.values, factor)
    params = request.params
    params = dataclasses.replace(params, forest=dataclasses.replace(params.forest, n_trees=COARSE_TREES))
    result = _classify(request, features, values, None, start, check, factor, params)
    shape = request.rgb.shape[:2]
    scaled = dataclasses.replace(
        result,
        category=_upscale(result.category, shape),
        instance=_upscale(result.instance, shape),
        uncertainty=_upscale(result.uncertainty, shape),
    )
    return _counted(request, scaled)


def coarse_image(rgb: np.ndarray, factor: int) -> np.ndarray:
    """The image ``factor`` times smaller per side (area averaging), the size ``downscale_scribbles`` uses."""
    height, width = rgb.shape[:2]
    size = (-(-width // factor), -(-height // factor))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def prefetch_coarse_features(
    image_id: str, rgb: np.ndarray, cache: FeatureCache, check: Callable[[], None] = lambda: None
) -> None:
    """Fill the cache with the coarse pass's features, so the first result after a stroke waits
    for no filtering (nothing to do for an image without a coarse pass)."""
    factor = coarse_factor(rgb.shape[:2])
    if factor > 1:
        small = lambda: coarse_image(rgb, factor)  # noqa: E731 (made only on a cache miss)
        cache.get((image_id, "coarse", factor), image_version(rgb), small, check=check)


def _classify(
    request: ScribbleRequest,
    features: np.ndarray,
    values: np.ndarray,
    previous: PixelClassifier | None,
    start: float,
    check: Callable[[], None],
    scale: int,
    params: ClassifierParams,
) -> ScribbleResult:
    """Train on ``values`` over ``features``, predict every pixel of them, time the stages."""
    featured = time.perf_counter()
    check()
    model = train_from_scribbles(features, values, params, previous=previous)
    trained = time.perf_counter()
    check()
    labels, proba = predict(model, features)
    category = categories_from_values(labels)
    instance = split_things(category, request.thing_ids)
    quantised = np.rint(margin_uncertainty(proba) * UNCERTAINTY_LEVELS).astype(np.uint8)
    predicted = time.perf_counter()
    check()
    result = ScribbleResult(
        request.image_id,
        category,
        instance,
        quantised,
        model,
        int(np.count_nonzero(request.values)),
        (featured - start) * 1000.0,
        (trained - featured) * 1000.0,
        (predicted - trained) * 1000.0,
        scale,
    )
    if scale == 1:
        result.to_labels()  # built here, on the worker (a coarse one is built once scaled up)
    return result
