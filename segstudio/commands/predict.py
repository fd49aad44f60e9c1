"""``segstudio predict``: run a model over images and write the labels as a dataset.

Thin: the runner (``segstudio.models.runner``) predicts, ``segstudio.io`` writes (semantic PNGs or
COCO panoptic), into an output folder that appears complete or not at all. Predictions stream
into the writer, so memory holds one image at a time. ``--model`` is a registered name or a
checkpoint written by ``segstudio train``. Missing weights are never fetched unless
``--download``: the error names the file to place and where. torch is imported only when the
command runs, so the other commands start without it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from segstudio.cli import CommandError
from segstudio.commands.progress import progress_line
from segstudio.core.labels import VOID, LabelMap
from segstudio.core.palette import BUILTIN_PALETTES, ClassDef, Palette, builtin_palette, voc_color_map
from segstudio.extras import models_missing
from segstudio.io.images import read_rgb
from segstudio.io.semantic_png import IMAGE_SUFFIXES

FORMATS = ("semantic-png", "coco-panoptic")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``predict``."""
    parser = subparsers.add_parser(
        "predict",
        help="label images with a model and write them as a dataset",
        description="Run a segmentation model over images (files or folders) and write the labels "
        "as semantic PNGs or a COCO panoptic dataset. Progress goes to stderr.",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGES", help="image files or folders")
    parser.add_argument("--model", required=True, help="registered model name, or a checkpoint file")
    parser.add_argument(
        "--weights",
        type=Path,
        help="weights file, or a checkpoint of segstudio train (default: the hub cache)",
    )
    parser.add_argument("--download", action="store_true", help="download missing published weights")
    parser.add_argument("--out", required=True, type=Path, help="output folder (must not exist)")
    parser.add_argument("--format", choices=FORMATS, default="semantic-png", help="(default: semantic-png)")
    parser.add_argument("--palette", help="built-in palette or palette JSON to write (default: the model's)")
    parser.add_argument(
        "--class-map",
        type=Path,
        metavar="FILE",
        help="class-map JSON: model class -> palette class (or null), before matching by name",
    )
    parser.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the best available)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.set_defaults(func=run)


def require_models() -> None:
    """Import torch (through the runner), or fail with one line saying how to install it."""
    try:
        import segstudio.models.runner  # noqa: F401
    except ImportError as error:
        raise CommandError(models_missing(error)) from error


def image_paths(items: Sequence[Path]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted); a missing item is an error."""
    paths: list[Path] = []
    for item in items:
        if item.is_dir():
            paths += sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif item.is_file():
            paths.append(item)
        else:
            raise CommandError(f"{item}: no such image file or folder")
    if not paths:
        raise CommandError("no images found in " + ", ".join(map(str, items)))
    return paths


def _model_and_weights(args: argparse.Namespace) -> tuple[Any, Path | None]:
    """The spec to run and the weights to load; a ``segstudio train`` checkpoint registers itself."""
    from segstudio.models.prelabel import resolve_model
    from segstudio.models.weights import WeightsMissing

    try:
        return resolve_model(args.model, args.weights)
    except WeightsMissing as error:
        raise CommandError(str(error)) from error


def output_palette(
    spec: Any, class_ids: Sequence[int], palette_arg: str | None, class_map: Path | None = None
) -> tuple[Palette, list[int]]:
    """The palette to write and the palette id of each model class.

    ``--palette``: classes matched by name. Else the model's built-in palette; else (a checkpoint
    trained on a custom palette) one made from the model's class names and ids. ``--class-map``
    (``segstudio.io.class_map``) edits the matching; its targets must be classes of that palette,
    and a ``model`` field in it must name this model.
    """
    from segstudio.io.class_map import read_class_map
    from segstudio.io.palette_file import resolve_palette
    from segstudio.models.registry import palette_lut

    count = len(spec.class_names)
    if palette_arg:
        palette = resolve_palette(palette_arg)
    elif spec.palette in BUILTIN_PALETTES:
        palette = builtin_palette(spec.palette)
    else:
        palette = _checkpoint_palette(spec, class_ids)
    if class_map is not None:
        edits = read_class_map(class_map, palette, spec.name).map
        return palette, [int(i) for i in palette_lut(spec.class_names, palette, overrides=edits)[:count]]
    if palette_arg:
        return palette, [int(i) for i in palette_lut(spec.class_names, palette)[:count]]
    return palette, list(class_ids)


def _checkpoint_palette(spec: Any, class_ids: Sequence[int]) -> Palette:
    """A palette made from a checkpoint's class names and ids (one trained on a custom palette)."""
    colours = voc_color_map()
    classes = [
        ClassDef(int(c), name, tuple(int(v) for v in colours[int(c) % 256]))  # type: ignore[arg-type]
        for c, name in zip(class_ids, spec.class_names, strict=True)
        if c != VOID
    ]
    return Palette(spec.palette or spec.name, classes)


def _records(
    runner: Any, model: Any, class_ids: list[int], palette: Palette, paths: list[Path]
) -> Iterator[tuple[dict[str, Any], LabelMap]]:
    """Each image's record and labels; blobs of the palette's thing classes become instances."""
    for number, path in enumerate(paths, start=1):
        rgb = read_rgb(path)
        labels, _ = runner.predict_labels(model, rgb, class_ids=class_ids, thing_ids=palette.thing_ids)
        progress_line(number, len(paths), path.name, sys.stderr)
        yield {"id": number, "file_name": path.name, "width": rgb.shape[1], "height": rgb.shape[0]}, labels


def run(args: argparse.Namespace) -> int:
    require_models()
    from segstudio.io.coco_panoptic import write_coco_panoptic
    from segstudio.io.semantic_png import write_semantic_dataset
    from segstudio.models.runner import Runner
    from segstudio.models.weights import WeightsMissing

    paths = image_paths(args.images)
    if args.weights is not None and not args.weights.is_file():
        raise CommandError(f"{args.weights}: weights file not found")
    if args.class_map is not None and not args.class_map.is_file():
        raise CommandError(f"{args.class_map}: class-map file not found")
    if args.out.exists() and not args.overwrite:
        raise CommandError(f"{args.out}: already exists (choose another folder or pass --overwrite)")
    spec, weights = _model_and_weights(args)
    # No GUI to leave a core for: every core works.
    runner = Runner(
        args.device, num_threads=os.cpu_count(), message=lambda text: print(text, file=sys.stderr)
    )
    try:
        model = runner.load(spec, weights, download=args.download)
    except WeightsMissing as error:
        raise CommandError(
            f"{error}; or give a weights file with --weights FILE, or pass --download"
        ) from error
    palette, class_ids = output_palette(spec, model.class_ids, args.palette, args.class_map)
    records = _records(runner, model, class_ids, palette, paths)
    if args.format == "coco-panoptic":
        written = write_coco_panoptic(args.out, records, palette, overwrite=args.overwrite)
    else:
        written = write_semantic_dataset(args.out, records, palette, overwrite=args.overwrite)
    print(f"{len(paths)} image(s) labelled by {spec.name}: {written}")
    return 0
