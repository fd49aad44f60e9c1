"""Importing a dataset as a new project: one entry point for the command line and the app.

A :class:`DatasetSource` names what to read (the format's annotation file or folder, the
photos, and the format's extras); :func:`import_dataset` scans it with the format's reader and
streams it into a new project, built atomically (``exchange.import_records``): a failed import
leaves no project.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from segstudio.core.jobs import ProgressCallback
from segstudio.io.cityscapes import scan_cityscapes
from segstudio.io.coco_instances import scan_coco_instances
from segstudio.io.coco_panoptic import scan_coco_panoptic
from segstudio.io.datasets import LabelStream
from segstudio.io.exchange import import_records
from segstudio.io.labelme import scan_labelme
from segstudio.io.palette_file import resolve_palette
from segstudio.io.project import Project
from segstudio.io.semantic_png import SEMANTIC_VOID, scan_semantic_dataset


class ImportFormat(StrEnum):
    """The dataset formats a project is made from (the CLI's format names)."""

    COCO_PANOPTIC = "coco-panoptic"
    COCO_INSTANCES = "coco-instances"
    SEMANTIC_PNG = "semantic-png"
    LABELME = "labelme"
    CITYSCAPES = "cityscapes"


IMPORT_TITLES = {
    ImportFormat.COCO_PANOPTIC: "COCO panoptic (JSON + PNG folder)",
    ImportFormat.COCO_INSTANCES: "COCO instances (JSON: polygons and RLE)",
    ImportFormat.SEMANTIC_PNG: "Semantic PNG (a folder of class-value PNGs)",
    ImportFormat.LABELME: "labelme (a folder of labelme JSON files)",
    ImportFormat.CITYSCAPES: "Cityscapes (gtFine labelIds + instanceIds)",
}


@dataclass(frozen=True)
class DatasetSource:
    """What to import. ``annotations``: the JSON file (COCO), the mask folder (semantic PNG), the
    JSON folder (labelme) or the gtFine folder (Cityscapes, e.g. ``gtFine/val``); ``images``: the
    photos (labelme: default the JSON folder; Cityscapes: the matching ``leftImg8bit`` folder);
    ``masks``: COCO panoptic's PNG folder (default: the JSON path without ``.json``);
    ``palette``: a built-in name or palette file (required for semantic PNG, optional for labelme);
    ``void``: the unlabelled value of semantic PNGs; ``allow_absolute``: accept absolute
    ``file_name``s outside the photo and mask folders (``..`` out of them is always refused)."""

    fmt: ImportFormat
    annotations: Path
    images: Path | None = None
    masks: Path | None = None
    palette: str | None = None
    void: int = SEMANTIC_VOID
    allow_absolute: bool = False


def scan_dataset(source: DatasetSource) -> tuple[LabelStream, Path]:
    """The records (labels decoded when loaded), palette and warnings of ``source``, and the folder
    its photos are in."""
    fmt, annotations = source.fmt, Path(source.annotations)
    if fmt is ImportFormat.LABELME:
        palette = resolve_palette(source.palette) if source.palette else None
        images = Path(source.images) if source.images else annotations
        return scan_labelme(annotations, palette, images), images
    if source.images is None:
        raise ValueError(f"{fmt.value} import needs the folder of the photos")
    images = Path(source.images)
    if fmt is ImportFormat.COCO_PANOPTIC:
        return scan_coco_panoptic(annotations, source.masks, allow_absolute=source.allow_absolute), images
    if fmt is ImportFormat.COCO_INSTANCES:
        return scan_coco_instances(annotations), images
    if fmt is ImportFormat.CITYSCAPES:
        return scan_cityscapes(annotations), images
    if fmt is ImportFormat.SEMANTIC_PNG:
        if not source.palette:
            raise ValueError("semantic-png import needs a palette (a built-in name or a palette file)")
        palette = resolve_palette(source.palette)
        return scan_semantic_dataset(annotations, images, palette, void=source.void), images
    raise ValueError(f"unknown import format {fmt!r}")  # pragma: no cover - the enum is closed


def import_dataset(
    source: DatasetSource,
    project_root: Path,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
) -> tuple[Project, list[str]]:
    """A new project at ``project_root`` (which must not exist) from ``source``, and the reader's
    warnings (annotations it skipped, and why). Labels stream through ``jobs`` processes
    (``exchange.import_records``); ``progress`` comes per image added (it may raise: nothing is left)."""
    stream, images = scan_dataset(source)
    project, warnings = import_records(
        project_root,
        stream.palette,
        stream.records,
        images,
        progress=progress,
        jobs=jobs,
        allow_absolute=source.allow_absolute,
    )
    return project, list(stream.warnings) + warnings
