"""``segstudio pixel-classify IMAGE --scribbles PNG --out PNG``: label every pixel from a few scribbles.

The scribble PNG (grey or indexed, the image's size) holds 0 for unlabelled and ``k >= 1`` for
class ``k``; the output is an 8-bit grey PNG with the predicted class ``k`` at every pixel, written
atomically. Classes must fit in 8 bits (1..255). ``--json`` prints the timings of each stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from segstudio.cli import CommandError
from segstudio.core.features import compute_features
from segstudio.core.pixel_classifier import DEFAULT_FOREST, ClassifierParams, predict, train_from_scribbles
from segstudio.io.images import read_rgb, write_png
from segstudio.io.semantic_png import read_label_values

MAX_CLASS = 255
"""Largest class value an 8-bit output PNG can hold."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pixel-classify",
        help="label every pixel of an image from scribbles (random forest on filter features)",
        description="Train a random forest on the scribbled pixels of an image and label every pixel. "
        "Scribbles: a PNG of the image's size, 0 = unlabelled, k >= 1 = class k.",
    )
    parser.add_argument("image", type=Path, help="the photo")
    parser.add_argument("--scribbles", type=Path, required=True, help="scribble PNG (0 = none, k = class k)")
    parser.add_argument("--out", type=Path, required=True, help="output PNG, the class of every pixel")
    parser.add_argument(
        "--trees", type=int, default=DEFAULT_FOREST.n_trees, help=f"forest size ({DEFAULT_FOREST.n_trees})"
    )
    parser.add_argument("--json", action="store_true", help="print timings and sizes as JSON")
    parser.set_defaults(func=run)


def _read_inputs(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its scribbles, checked; every problem names the file it is about."""
    try:
        image = read_rgb(args.image)
        scribbles = read_label_values(args.scribbles)
    except OSError as error:  # ImageReadError names the file; a plain OSError names it too
        raise CommandError(str(error)) from error
    if scribbles.shape != image.shape[:2]:
        raise CommandError(
            f"{args.scribbles}: scribbles are {scribbles.shape[1]}x{scribbles.shape[0]} but "
            f"{args.image} is {image.shape[1]}x{image.shape[0]}"
        )
    if not scribbles.any():
        raise CommandError(
            f"{args.scribbles}: no scribbles (every pixel is 0); mark classes with values >= 1"
        )
    if scribbles.max() > MAX_CLASS:
        raise CommandError(
            f"{args.scribbles}: class {int(scribbles.max())} does not fit the 8-bit output "
            f"(classes 1..{MAX_CLASS})"
        )
    return image, scribbles


def run(args: argparse.Namespace) -> int:
    if args.trees < 1:
        raise CommandError(f"--trees must be at least 1; got {args.trees}")
    start = time.perf_counter()
    image, scribbles = _read_inputs(args)
    params = ClassifierParams(forest=dataclasses.replace(DEFAULT_FOREST, n_trees=args.trees))
    read = time.perf_counter()
    features = compute_features(image)
    featured = time.perf_counter()
    model = train_from_scribbles(features, scribbles, params)
    trained = time.perf_counter()
    labels, _ = predict(model, features)
    predicted = time.perf_counter()
    try:
        write_png(args.out, labels.astype(np.uint8))
    except OSError as error:
        raise CommandError(f"{args.out}: cannot write the output PNG ({error.strerror or error})") from error
    report = {
        "features_ms": round((featured - read) * 1000.0, 1),
        "train_ms": round((trained - featured) * 1000.0, 1),
        "predict_ms": round((predicted - trained) * 1000.0, 1),
        "total_ms": round((time.perf_counter() - start) * 1000.0, 1),
        "classes": model.n_classes,
        "pixels": int(labels.size),
    }
    if args.json:
        print(json.dumps(report))
    else:
        size = f"{labels.shape[1]}x{labels.shape[0]}"
        print(f"{args.out}: {size}, {model.n_classes} classes, {report['total_ms']:.0f} ms")
    return 0
