"""``segstudio import FORMAT ... PROJECT`` and ``segstudio export FORMAT PROJECT OUT``.

Thin: the arguments become an ``io.dataset_import.DatasetSource`` or an ``io.export`` format and
options, the same entry points the app's File menu uses; both build their output atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from segstudio.commands.jobs import add_jobs_argument, jobs_of
from segstudio.io.dataset_import import DatasetSource, ImportFormat, import_dataset
from segstudio.io.exchange import IMAGES_DIR, ImageMode
from segstudio.io.export import ExportFormat, ExportOptions, export_project
from segstudio.io.safe_files import printable

SourceOf = Callable[[argparse.Namespace], DatasetSource]
"""Turns an import's arguments into the dataset source they name."""


def _coco_panoptic(args: argparse.Namespace) -> DatasetSource:
    fmt, absolute = ImportFormat.COCO_PANOPTIC, args.allow_absolute_paths
    return DatasetSource(fmt, args.json, args.images, args.masks, allow_absolute=absolute)


def _coco_instances(args: argparse.Namespace) -> DatasetSource:
    fmt = ImportFormat.COCO_INSTANCES
    return DatasetSource(fmt, args.json, args.images, allow_absolute=args.allow_absolute_paths)


def _semantic_png(args: argparse.Namespace) -> DatasetSource:
    fmt = ImportFormat.SEMANTIC_PNG
    return DatasetSource(fmt, args.masks, args.images, palette=args.palette, void=args.void)


def _cityscapes(args: argparse.Namespace) -> DatasetSource:
    return DatasetSource(ImportFormat.CITYSCAPES, args.gt, args.images)


def _labelme(args: argparse.Namespace) -> DatasetSource:
    return DatasetSource(ImportFormat.LABELME, args.folder, args.images, palette=args.palette)


def register(subparsers: argparse._SubParsersAction) -> None:
    importer = subparsers.add_parser("import", help="create a project from a dataset in another format")
    formats = importer.add_subparsers(dest="format", required=True, metavar="FORMAT")

    parser = formats.add_parser("coco-panoptic", help="COCO panoptic JSON + PNG folder")
    parser.add_argument("--json", required=True, type=Path, help="the panoptic annotation JSON")
    parser.add_argument("--masks", type=Path, help="the PNG folder (default: the JSON path without .json)")
    parser.add_argument("--images", required=True, type=Path, help="folder of the photos")
    _allow_absolute(parser)
    _import_target(parser, _coco_panoptic)

    parser = formats.add_parser("coco-instances", help="COCO instances JSON (polygons and RLE)")
    parser.add_argument("--json", required=True, type=Path, help="the instances annotation JSON")
    parser.add_argument("--images", required=True, type=Path, help="folder of the photos")
    _allow_absolute(parser)
    _import_target(parser, _coco_instances)

    parser = formats.add_parser("semantic-png", help="one PNG of class values per image")
    parser.add_argument("--masks", required=True, type=Path, help="folder of label PNGs (<stem>.png)")
    parser.add_argument("--images", required=True, type=Path, help="folder of the photos (<stem>.*)")
    parser.add_argument("--palette", required=True, help="built-in palette name or palette JSON file")
    parser.add_argument("--void", type=int, default=255, help="value of unlabelled pixels (default 255)")
    _import_target(parser, _semantic_png)

    parser = formats.add_parser("cityscapes", help="gtFine labelIds (+ instanceIds) and leftImg8bit photos")
    parser.add_argument("--gt", required=True, type=Path, help="a gtFine folder (e.g. gtFine/val)")
    parser.add_argument("--images", required=True, type=Path, help="the matching leftImg8bit folder")
    _import_target(parser, _cityscapes)

    parser = formats.add_parser("labelme", help="a folder of labelme JSON files")
    parser.add_argument("folder", type=Path, help="folder of labelme JSON files")
    parser.add_argument("--images", type=Path, help="where imagePath leads (default: the JSON folder)")
    parser.add_argument("--palette", help="match labels to this palette (default: one from the names)")
    _import_target(parser, _labelme)

    exporter = subparsers.add_parser("export", help="write a project's labels as a dataset")
    formats = exporter.add_subparsers(dest="format", required=True, metavar="FORMAT")
    parser = formats.add_parser("coco-panoptic", help="OUT/annotations/panoptic.json + panoptic/*.png")
    parser.add_argument(
        "--images",
        choices=[m.value for m in ImageMode],
        default=ImageMode.NONE.value,
        help=f"put the photos in OUT/{IMAGES_DIR}/ as copies or symlinks (default: none)",
    )
    _export_target(parser, _exporter(ExportFormat.COCO_PANOPTIC))
    parser = formats.add_parser("coco-instances", help="OUT/annotations/instances.json (RLE masks)")
    parser.add_argument("--polygons", action="store_true", help="polygons instead of RLE (crowd keeps RLE)")
    _export_target(parser, _exporter(ExportFormat.COCO_INSTANCES))
    parser = formats.add_parser("semantic-png", help="indexed PNG per image, the palette as colours")
    parser.add_argument("--grey", action="store_true", help="plain 8-bit grey PNGs instead of indexed")
    _export_target(parser, _exporter(ExportFormat.SEMANTIC_PNG))
    parser = formats.add_parser("cityscapes", help="gtFine labelIds / instanceIds / color PNGs")
    _export_target(parser, _exporter(ExportFormat.CITYSCAPES))


def _allow_absolute(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-absolute-paths",
        action="store_true",
        help="accept absolute file_names outside --images/--masks (refused by default; '..' always is)",
    )


def _import_target(parser: argparse.ArgumentParser, source_of: SourceOf) -> None:
    parser.add_argument("project", type=Path, help="new project folder (must not exist)")
    add_jobs_argument(parser)
    parser.set_defaults(func=lambda args: run_import(args, source_of))


def _export_target(parser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int]) -> None:
    parser.add_argument("project", type=Path, help="the project folder")
    parser.add_argument("out", type=Path, help="output folder (must not exist)")
    add_jobs_argument(parser)
    parser.set_defaults(func=func)


def run_import(args: argparse.Namespace, source_of: SourceOf) -> int:
    project, warnings = import_dataset(source_of(args), args.project, jobs=jobs_of(args))
    for warning in warnings:
        print(f"warning: {printable(warning)}", file=sys.stderr)
    print(f"imported {len(project)} images into {project.root}")
    return 0


def _exporter(fmt: ExportFormat) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        options = ExportOptions(
            images=ImageMode(getattr(args, "images", ImageMode.NONE.value)),
            polygons=getattr(args, "polygons", False),
            grey=getattr(args, "grey", False),
        )
        count = export_project(args.project, fmt, args.out, options, jobs=jobs_of(args))
        print(f"exported {count} images to {args.out}")
        return 0

    return run
