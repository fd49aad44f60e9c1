"""``segstudio bench pixel-classify``: the scribble pixel classifier on a 1-megapixel photo.

The photo is the real COCO val2017 image 000000439180 (riders on horses before trees and sky) from
the checkout's ``tests/data/coco-panoptic-sample`` when there is one, else (an installed wheel holds
no test data) the bundled ``chelsea`` sample; either is resized to about 1 MP (photo bilinear,
reference labels nearest). Scribbles come from the reference deterministically
(``reference_scribbles``): ridges of each region's distance transform, 3 pixels wide and at least
3 pixels inside, about 4.7% of the COCO photo's pixels.

Measured: segstudio's features, training and prediction with their defaults (medians over
``repeats`` after one warm-up run; the total is the median of whole runs), and the same scribbles
through ``skimage.feature.multiscale_basic_features`` and scikit-learn's
``RandomForestClassifier(n_estimators=100, n_jobs=-1)``, trained on every scribbled pixel and
predicting every pixel, timed once (it takes tens of seconds). Both are scored by mIoU against the
reference labelling (void pixels not counted).

The app's live update after a pause in scribbling (``core.scribble_run.classify_scribbles``, as the GUI's
worker runs it: train, predict, uncertainty) is timed too: ``live_update_ms`` with the image's features
cached (every update but the first), ``live_update_cold_ms`` with an empty cache (the first).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segstudio.core.features import FeatureCache, compute_features
from segstudio.core.labels import VOID
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.pixel_classifier import ClassifierParams, predict, train_from_scribbles
from segstudio.core.scribble_run import ScribbleRequest, classify_scribbles

COCO_SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "coco-panoptic-sample"
COCO_IMAGE = "000000439180.jpg"
TARGET_PIXELS = 1_000_000
MIN_REGION_AREA = 400
"""Regions smaller than this (pixels, at 1 MP) get no scribble, as a user would skip them."""


def _resize_to_target(image: np.ndarray, category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Photo (bilinear) and category map (nearest) resized to about ``TARGET_PIXELS``."""
    height, width = category.shape
    scale = (TARGET_PIXELS / (height * width)) ** 0.5
    size = (round(width * scale), round(height * scale))
    return (
        cv2.resize(image, size, interpolation=cv2.INTER_LINEAR),
        cv2.resize(category, size, interpolation=cv2.INTER_NEAREST),
    )


def load_case() -> tuple[str, np.ndarray, np.ndarray]:
    """(name, ~1 MP RGB photo, reference labels: 0 void, 1..K the photo's classes in id order)."""
    json_path = COCO_SAMPLE / "panoptic_examples.json"
    if (COCO_SAMPLE / COCO_IMAGE).is_file() and json_path.is_file():
        from segstudio.io.coco_panoptic import read_coco_panoptic
        from segstudio.io.images import read_rgb

        dataset = read_coco_panoptic(json_path)
        record = next(r for r in dataset.records if r.image["file_name"] == COCO_IMAGE)
        name, image = f"coco/{COCO_IMAGE}", read_rgb(COCO_SAMPLE / COCO_IMAGE)
        category = record.labels.category
    else:
        from segstudio.io.samples import load_sample, samples

        sample = next(s for s in samples() if s.name == "chelsea")
        image, labels = load_sample(sample)
        name, category = "samples/chelsea.jpg", labels.category
    image, category = _resize_to_target(image, category)
    ids = np.unique(category[category != VOID])
    lut = np.zeros(VOID + 1, np.uint8)
    lut[ids] = np.arange(1, ids.size + 1)
    return name, image, lut[category]


def reference_scribbles(reference: np.ndarray, width: int = 3) -> np.ndarray:
    """Strokes along the middle of every region of ``MIN_REGION_AREA`` pixels or more: pixels at least
    4 pixels inside where the distance to the border is a local maximum (the ridge), ``width`` wide."""
    scribbles = np.zeros_like(reference)
    brush = np.ones((width, width), np.uint8)
    for k in range(1, int(reference.max()) + 1):
        count, components, stats, _ = cv2.connectedComponentsWithStats((reference == k).astype(np.uint8))
        for i in np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= MIN_REGION_AREA):
            if i == 0:
                continue
            x, y, w, h = stats[i, :4]
            region = np.pad(components[y : y + h, x : x + w] == i, 1).astype(np.uint8)
            distance = cv2.distanceTransform(region, cv2.DIST_L2, 5)
            ridge = (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8)) - 0.5) & (distance >= 4)
            stroke = cv2.dilate(ridge.astype(np.uint8), brush).astype(bool) & (distance >= 3)
            scribbles[y : y + h, x : x + w][stroke[1:-1, 1:-1]] = k
    return scribbles


def _miou(reference: np.ndarray, labels: np.ndarray) -> float:
    classes = range(1, int(reference.max()) + 1)
    return float(ConfusionMatrix.from_maps(reference, labels.astype(np.uint16), classes, ignore=0).miou)


def _timed(run: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = run()
    return result, (time.perf_counter() - start) * 1000.0


def _run_stages(
    features_of: Callable[[], Any], train: Callable[[Any], Any], label: Callable[[Any, Any], np.ndarray]
) -> dict[str, Any]:
    """Labels and milliseconds of one features -> train -> predict run."""
    features, features_ms = _timed(features_of)
    model, train_ms = _timed(lambda: train(features))
    labels, predict_ms = _timed(lambda: label(model, features))
    total_ms = features_ms + train_ms + predict_ms
    return {
        "labels": labels,
        "features_ms": features_ms,
        "train_ms": train_ms,
        "predict_ms": predict_ms,
        "total_ms": total_ms,
    }


def _segstudio_run(image: np.ndarray, scribbles: np.ndarray, params: ClassifierParams) -> dict[str, Any]:
    return _run_stages(
        lambda: compute_features(image),
        lambda features: train_from_scribbles(features, scribbles, params),
        lambda model, features: predict(model, features)[0],
    )


def _baseline_run(image: np.ndarray, scribbles: np.ndarray) -> dict[str, Any]:
    """skimage features + scikit-learn forest on every scribbled pixel, every pixel predicted."""
    try:
        from skimage.feature import multiscale_basic_features
        from sklearn.ensemble import RandomForestClassifier
    except ImportError as error:
        raise RuntimeError(
            "the pixel-classify baseline needs scikit-image and scikit-learn: "
            "pip install -e '.[dev]' (the dev extra)"
        ) from error
    labelled = scribbles > 0
    forest = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0)
    return _run_stages(
        lambda: multiscale_basic_features(image, channel_axis=-1),
        lambda features: forest.fit(features[labelled], scribbles[labelled]),
        lambda model, features: model.predict(features.reshape(-1, features.shape[-1])).reshape(
            scribbles.shape
        ),
    )


def _live_update_ms(
    image: np.ndarray, scribbles: np.ndarray, params: ClassifierParams, repeats: int
) -> dict[str, float]:
    """Median milliseconds of the GUI's live update, features cached and not (no model to reuse)."""
    request = ScribbleRequest("bench", image, scribbles.astype(np.uint16), params)
    cache = FeatureCache()
    classify_scribbles(request, cache)  # warm-up, and the features cached
    cached = [_timed(lambda: classify_scribbles(request, cache))[1] for _ in range(repeats)]
    cold_runs = max(1, repeats // 3)  # a second each
    cold = [_timed(lambda: classify_scribbles(request, FeatureCache()))[1] for _ in range(cold_runs)]
    return {
        "live_update_ms": round(statistics.median(cached), 1),
        "live_update_cold_ms": round(statistics.median(cold), 1),
    }


def run_pixel_classify_bench(repeats: int = 15) -> dict[str, Any]:
    """Time and score segstudio's classifier against the skimage + scikit-learn baseline."""
    name, image, reference = load_case()
    scribbles = reference_scribbles(reference)
    params = ClassifierParams()
    runs = [_segstudio_run(image, scribbles, params) for _ in range(repeats + 1)][1:]  # first: warm-up
    baseline = _baseline_run(image, scribbles)
    ours = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key.endswith("_ms")}
    miou, baseline_miou = _miou(reference, runs[-1]["labels"]), _miou(reference, baseline["labels"])
    return {
        "image": name,
        "size": f"{image.shape[1]}x{image.shape[0]}",
        "classes": int(reference.max()),
        "scribble_fraction": round(float((scribbles > 0).mean()), 4),
        "cpu_count": os.cpu_count() or 0,
        "trees": params.forest.n_trees,
        **{key: round(value, 1) for key, value in ours.items()},
        **{f"baseline_{key}": round(baseline[key], 1) for key in ours},
        "speed_ratio": round(baseline["total_ms"] / ours["total_ms"], 2),
        "miou": round(miou, 4),
        "baseline_miou": round(baseline_miou, 4),
        **_live_update_ms(image, scribbles, params, repeats),
        "repeats": repeats,
        "baseline_repeats": 1,
    }
