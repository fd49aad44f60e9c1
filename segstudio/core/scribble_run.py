"""One live update of the scribble classifier: features (cached per image), train, predict, uncertainty.

The GUI runs :func:`classify_scribbles` on its worker thread for every pause in scribbling, and the
pixel-classify bench times it the same way, so the numbers it reports are the ones a user waits for.
Blobs of the request's thing classes become instances (``core.instances``) in the predict stage.
``check`` (a ``CancelToken.check``) is called between the stages, so a newer stroke cancels a stale run
after the stage that is running. It is not called inside the feature computation on purpose: the
stack is cached per image, and the run that supersedes this one needs the very same stack.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from segstudio.core.features import FeatureCache
from segstudio.core.instances import split_things
from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.pixel_classifier import ClassifierParams, PixelClassifier, predict, train_from_scribbles
from segstudio.core.pixel_classifier import uncertainty as margin_uncertainty
from segstudio.core.scribbles import categories_from_values

UNCERTAINTY_LEVELS = 255
"""Uncertainty 0..1 is quantised to 0..255 (one Indexed8 overlay entry per level)."""


def image_version(rgb: np.ndarray) -> str:
    """A digest of the pixels: the feature cache's version, so changed pixels mean new features."""
    return hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).hexdigest()


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

    @property
    def total_ms(self) -> float:
        return self.features_ms + self.train_ms + self.predict_ms

    def to_labels(self) -> LabelMap:
        """The prediction as a label map written by a model."""
        return LabelMap.from_arrays(self.category, self.instance, Provenance.MODEL)

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
    features = cache.get(request.image_id, image_version(request.rgb), request.rgb)
    featured = time.perf_counter()
    check()
    model = train_from_scribbles(features, request.values, request.params, previous=request.previous)
    trained = time.perf_counter()
    check()
    labels, proba = predict(model, features)
    category = categories_from_values(labels)
    instance = split_things(category, request.thing_ids)
    quantised = np.rint(margin_uncertainty(proba) * UNCERTAINTY_LEVELS).astype(np.uint8)
    predicted = time.perf_counter()
    check()
    return ScribbleResult(
        request.image_id,
        category,
        instance,
        quantised,
        model,
        int(np.count_nonzero(request.values)),
        (featured - start) * 1000.0,
        (trained - featured) * 1000.0,
        (predicted - trained) * 1000.0,
    )
