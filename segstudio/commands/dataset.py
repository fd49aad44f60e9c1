"""``segstudio import FORMAT ...`` and ``segstudio export FORMAT PROJECT OUT``: datasets in and out.

Thin: each format is a reader giving (palette, records) or a writer filling a staging folder;
``segstudio.io.exchange`` turns them into a project or an output folder atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from segstudio.io.atomic import atomic_directory
from segstudio.io.coco_panoptic import read_coco_panoptic, write_coco_panoptic_into
from segstudio.io.exchange import IMAGES_DIR, ImageMode, export_records, import_records, place_images
from segstudio.io.project import Project


def register(subparsers: argparse._SubParsersAction) -> None:
    importer = subparsers.add_parser("import", help="create a project from a dataset in another format")
    import_formats = importer.add_subparsers(dest="format", required=True, metavar="FORMAT")
    coco = import_formats.add_parser("coco-panoptic", help="COCO panoptic JSON + PNG folder")
    coco.add_argument("--json", required=True, type=Path, help="the panoptic annotation JSON")
    coco.add_argument("--masks", type=Path, help="the PNG folder (default: the JSON path without .json)")
    coco.add_argument("--images", required=True, type=Path, help="folder of the photos")
    coco.add_argument("project", type=Path, help="new project folder (must not exist)")
    coco.set_defaults(func=import_coco_panoptic)

    exporter = subparsers.add_parser("export", help="write a project's labels as a dataset")
    export_formats = exporter.add_subparsers(dest="format", required=True, metavar="FORMAT")
    coco_out = export_formats.add_parser(
        "coco-panoptic", help="OUT/annotations/panoptic.json and OUT/annotations/panoptic/*.png"
    )
    _export_arguments(coco_out)
    coco_out.set_defaults(func=export_coco_panoptic)


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, help="the project folder")
    parser.add_argument("out", type=Path, help="output folder (must not exist)")
    parser.add_argument(
        "--images",
        choices=[m.value for m in ImageMode],
        default=ImageMode.NONE.value,
        help=f"put the photos in OUT/{IMAGES_DIR}/ as copies or symlinks (default: none)",
    )


def import_coco_panoptic(args: argparse.Namespace) -> int:
    dataset = read_coco_panoptic(args.json, args.masks)
    records = ((record.image, record.labels) for record in dataset.records)
    project = import_records(args.project, dataset.palette, records, args.images)
    print(f"imported {len(project.images)} images into {project.root}")
    return 0


def export_coco_panoptic(args: argparse.Namespace) -> int:
    project = Project.open(args.project)
    with atomic_directory(args.out) as staging:
        write_coco_panoptic_into(staging, export_records(project), project.palette)
        place_images(project, staging / IMAGES_DIR, ImageMode(args.images))
    print(f"exported {args.out}")
    return 0
