"""``segstudio segment``: the mask SAM 2.1 gives for clicks (and a box) on one image, as a PNG.

Thin: prompts are parsed by ``core.prompts``, the model is ``models.sam`` (the ``sam`` extra, and
torch, imported only when the command runs), the mask is written atomically as a single-channel
PNG (255 = object, 0 = not). Missing weights are never fetched unless ``--download``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from segstudio.cli import CommandError
from segstudio.core.prompts import Prompts, parse_box, parse_point
from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.images import read_rgb


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``segment``."""
    parser = subparsers.add_parser(
        "segment",
        help="click to segment: SAM 2.1's mask for points and a box on one image",
        description="Run a SAM 2.1 model on IMAGE with point prompts (x,y in pixels; ,+ to add, ,- to "
        "remove; + when left out) and an optional box, and write the mask as a PNG (255 = object).",
    )
    parser.add_argument("image", type=Path, metavar="IMAGE", help="the photo")
    parser.add_argument("--model", default="sam2.1-tiny", help="a SAM model (default: sam2.1-tiny)")
    parser.add_argument("--points", nargs="+", default=[], metavar="X,Y[,+|-]", help="point prompts")
    parser.add_argument("--box", metavar="X0,Y0,X1,Y1", help="a box prompt")
    parser.add_argument("--out", required=True, type=Path, help="the mask PNG to write")
    parser.add_argument("--weights", type=Path, help="a local checkpoint (default: the hub cache)")
    parser.add_argument("--download", action="store_true", help="download missing published weights")
    parser.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the best available)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def parse_prompts(points: list[str], box: str | None) -> Prompts:
    """The command line's prompts; a malformed one is a one-line error."""
    try:
        prompts = Prompts(tuple(parse_point(text) for text in points))
        if box is not None:
            prompts = prompts.with_box(*parse_box(box))
    except ValueError as error:
        raise CommandError(str(error)) from error
    if prompts.empty:
        raise CommandError("give at least one --points x,y or a --box x0,y0,x1,y1")
    return prompts


def run(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() != ".png":
        raise CommandError(f"{args.out}: the mask is written as PNG; name it .png")
    prompts = parse_prompts(args.points, args.box)
    rgb = read_rgb(args.image)
    problem = prompts.outside(rgb.shape[1], rgb.shape[0])
    if problem is not None:
        raise CommandError(f"{args.image}: {problem}")
    mask, score = _segment(args, rgb, prompts)
    ok, png = cv2.imencode(".png", np.where(mask, 255, 0).astype(np.uint8))
    if not ok:
        raise CommandError(f"{args.out}: could not encode the mask")
    atomic_write_bytes(args.out, png.tobytes())
    summary = {"out": str(args.out), "pixels": int(mask.sum()), "score": round(score, 4), "model": args.model}
    print(json.dumps(summary) if args.json else f"{args.out}: {summary['pixels']} pixels, score {score:.3f}")
    return 0


def _segment(args: argparse.Namespace, rgb: np.ndarray, prompts: Prompts) -> tuple[np.ndarray, float]:
    try:
        from segstudio.models import registry
        from segstudio.models.runner import choose_device
        from segstudio.models.sam import SamUnavailable, load_predictor
        from segstudio.models.weights import WeightsError
    except ImportError as error:
        raise CommandError(
            f"click to segment needs torch and sam2 ({error}); install: pip install 'segstudio[sam]'"
        ) from error
    try:
        spec = registry.get_spec(args.model)
        predictor = load_predictor(
            spec, args.weights, download=args.download, device=choose_device(args.device, _warn)
        )
        result = predictor.predict(predictor.embed(rgb), prompts)
    except (SamUnavailable, WeightsError, ValueError) as error:
        raise CommandError(str(error)) from error
    return result.mask, result.score


def _warn(text: str) -> None:
    import sys

    print(f"segstudio segment: {text}", file=sys.stderr)
