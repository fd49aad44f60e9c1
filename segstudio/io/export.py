"""Exporting a project as a dataset: one entry point for the command line and the app.

``export_project`` opens the project from disk (so it may run on a worker thread while the app
keeps its own ``Project``), checks every labelled image's entry, then streams the images through
worker processes that load one label map each and write its files with the format's
``DatasetWriter``; the format's index (JSON) is written last, from the per-image results in
order. ``progress`` may raise (a cancel), and everything is built under a temporary name, so a
cancelled or failed export leaves nothing that looks finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from segstudio.core.jobs import ProgressCallback
from segstudio.core.palette import Palette
from segstudio.io.atomic import atomic_directory
from segstudio.io.cityscapes import CityscapesWriter
from segstudio.io.coco_instances import InstancesWriter
from segstudio.io.coco_panoptic import PanopticWriter
from segstudio.io.datasets import DatasetWriter, NameCheck, check_entry, check_labels, known_categories
from segstudio.io.exchange import IMAGES_DIR, ImageMode, export_entries, place_images
from segstudio.io.parallel import OrderedPool
from segstudio.io.project import Project
from segstudio.io.semantic_png import SemanticWriter


class ExportFormat(StrEnum):
    """The dataset formats a project exports to (the CLI's format names)."""

    COCO_PANOPTIC = "coco-panoptic"
    COCO_INSTANCES = "coco-instances"
    SEMANTIC_PNG = "semantic-png"
    CITYSCAPES = "cityscapes"


FORMAT_TITLES = {
    ExportFormat.COCO_PANOPTIC: "COCO panoptic (annotations/panoptic.json + PNGs)",
    ExportFormat.COCO_INSTANCES: "COCO instances (annotations/instances.json, RLE or polygons)",
    ExportFormat.SEMANTIC_PNG: "Semantic PNG (one class-value PNG per image)",
    ExportFormat.CITYSCAPES: "Cityscapes (gtFine labelIds, instanceIds, color)",
}


@dataclass(frozen=True)
class ExportOptions:
    """Format options: ``images`` (COCO panoptic: copy/link the photos), ``polygons`` (COCO
    instances: polygons instead of RLE), ``grey`` (semantic PNG: plain 8-bit instead of indexed)."""

    images: ImageMode = ImageMode.NONE
    polygons: bool = False
    grey: bool = False


def export_project(
    root: Path,
    fmt: ExportFormat,
    out: Path,
    options: ExportOptions = ExportOptions(),
    progress: ProgressCallback | None = None,
    jobs: int = 1,
) -> int:
    """Write the labelled images of the project at ``root`` to ``out`` (which must not exist) in
    ``fmt``; returns how many images were exported. ``progress(done, total)`` comes before the
    first image and after each. Images stream through ``jobs`` worker processes (each loads one
    label map and writes its files, ``io.parallel``); the output is the same bytes whatever ``jobs``."""
    with Project.open(root) as project:
        writer = dataset_writer(fmt, project.palette, options)
        images = checked_entries(export_entries(project), writer)
        out = Path(out)
        with atomic_directory(out) as staging:
            if progress is not None:
                progress(0, len(images))
            entries, results = [], []
            with OrderedPool(jobs, partial(_ExportContext, Path(root), staging, writer)) as pool:
                for done, (entry, result) in enumerate(pool.map(_export_image, images)):
                    entries.append(entry)
                    results.append(result)
                    if progress is not None:
                        progress(done + 1, len(images))
            writer.finish(staging, entries, results)
            if fmt is ExportFormat.COCO_PANOPTIC:
                place_images(project, staging / IMAGES_DIR, options.images)
    return len(images)


def dataset_writer(fmt: ExportFormat, palette: Palette, options: ExportOptions) -> DatasetWriter:
    """The writer of ``fmt`` with its options (ValueError when the palette does not suit it)."""
    if fmt is ExportFormat.COCO_PANOPTIC:
        return PanopticWriter(palette)
    if fmt is ExportFormat.COCO_INSTANCES:
        return InstancesWriter(palette, polygons=options.polygons)
    if fmt is ExportFormat.SEMANTIC_PNG:
        return SemanticWriter(palette, indexed=not options.grey)
    if fmt is ExportFormat.CITYSCAPES:
        return CityscapesWriter(palette)
    raise ValueError(f"unknown export format {fmt!r}")  # pragma: no cover - the enum is closed


class _ExportImage(NamedTuple):
    image_id: str
    entry: dict[str, Any]
    name: Any


def checked_entries(entries: list[tuple[str, dict[str, Any]]], writer: DatasetWriter) -> list[_ExportImage]:
    """Every entry checked (ids unique, output names unique) before any image is written, so the
    first problem reported is the same whatever the number of processes."""
    seen: set[Any] = set()
    name_check = NameCheck(writer.name_of)
    checked = []
    for image_id, image in entries:
        entry = check_entry(image, seen)
        checked.append(_ExportImage(image_id, entry, name_check(entry)))
    return checked


class _ExportContext:
    """What a worker needs for every image: the project (opened once per process) and the writer."""

    def __init__(self, root: Path, staging: Path, writer: DatasetWriter) -> None:
        self.project = Project.open(root)
        self.staging = staging
        self.writer = writer
        self.known = known_categories(writer.palette)


def _export_image(context: _ExportContext, image: _ExportImage) -> tuple[dict[str, Any], Any]:
    """Load one image's labels, check them against its entry and write its files (in a worker)."""
    labels = context.project.load_labels(image.image_id)
    entry = dict(image.entry)
    check_labels(entry, labels, context.known, context.writer.palette.name)
    return entry, context.writer.write_image(context.staging, entry, labels, image.name)
