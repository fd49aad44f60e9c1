"""Exporting a project as a dataset: one entry point for the command line and the app.

``export_project`` opens the project from disk (so it may run on a worker thread while the app
keeps its own ``Project``), feeds the labelled images to the format's writer and reports per
image; ``progress`` may raise (a cancel), and the writers build their output under a temporary
name, so a cancelled or failed export leaves nothing that looks finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from segstudio.core.jobs import ProgressCallback
from segstudio.core.labels import LabelMap
from segstudio.io.atomic import atomic_directory
from segstudio.io.cityscapes import write_cityscapes
from segstudio.io.coco_instances import write_coco_instances
from segstudio.io.coco_panoptic import write_coco_panoptic_into
from segstudio.io.exchange import IMAGES_DIR, ImageMode, export_records, labelled_entries, place_images
from segstudio.io.project import Project
from segstudio.io.semantic_png import write_semantic_dataset


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
) -> int:
    """Write the labelled images of the project at ``root`` to ``out`` (which must not exist) in
    ``fmt``; returns how many images were exported. ``progress(done, total)`` comes per image."""
    project = Project.open(root)
    total = len(labelled_entries(project))
    records = _reported(export_records(project), total, progress)
    out = Path(out)
    if fmt is ExportFormat.COCO_PANOPTIC:
        with atomic_directory(out) as staging:
            write_coco_panoptic_into(staging, records, project.palette)
            place_images(project, staging / IMAGES_DIR, options.images)
    elif fmt is ExportFormat.COCO_INSTANCES:
        write_coco_instances(out, records, project.palette, polygons=options.polygons)
    elif fmt is ExportFormat.SEMANTIC_PNG:
        write_semantic_dataset(out, records, project.palette, indexed=not options.grey)
    elif fmt is ExportFormat.CITYSCAPES:
        write_cityscapes(out, records, project.palette)
    else:  # pragma: no cover - the enum is closed
        raise ValueError(f"unknown export format {fmt!r}")
    return total


def _reported(
    records: Iterator[tuple[dict[str, Any], LabelMap]], total: int, progress: ProgressCallback | None
) -> Iterator[tuple[dict[str, Any], LabelMap]]:
    """The records, telling ``progress`` before each and once all are written (it may raise)."""
    done = 0
    for record in records:
        if progress is not None:
            progress(done, total)
        yield record
        done += 1
    if progress is not None:
        progress(done, total)
