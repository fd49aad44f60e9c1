"""What the dataset importers and exporters share: their error, their result, their checks.

Every format module (COCO instances, semantic PNG, Cityscapes, labelme) reads into a
``LabelDataset`` and writes from ``(image entry, LabelMap)`` records, so the checks on records
and the error type live here once. Messages start with the file they are about.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np

from segstudio.core.labels import VOID, LabelMap, Segment
from segstudio.core.palette import Color, Palette, voc_color_map

Record = tuple[dict[str, Any], LabelMap]
"""One image of a dataset: its entry (``id``, ``file_name``, ``width``, ``height``, ...) and labels."""


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message starts with the file's path."""


class LabelDataset(NamedTuple):
    """What a reader returns: records in a stable order, the classes, and what it skipped."""

    records: list[Record]
    palette: Palette
    warnings: list[str]


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing file or a syntax error names the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read ({error})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays become Python ints, floats and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def fallback_color(class_id: int) -> Color:
    """A stable colour for a class whose file gives none: the VOC/labelme colour map, skipping black."""
    r, g, b = (int(v) for v in voc_color_map()[1 + class_id % 254])
    return r, g, b


def segment_crop(labels: LabelMap, segment: Segment) -> np.ndarray:
    """Boolean mask of ``segment`` within its box (``labels.category[segment.box.slices]``-shaped)."""
    box = segment.box.slices
    return (labels.category[box] == segment.category) & (labels.instance[box] == segment.instance)


def label_file_path(file_name: str, suffix: str) -> PurePosixPath:
    """Where an image's label file goes: its relative path with the extension replaced by ``suffix``.

    ``suffix`` may extend the stem (``_gtFine_labelIds.png``). Absolute paths and ``..`` are
    refused so that an export can never write outside its folder.
    """
    path = PurePosixPath(str(file_name).replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.stem:
        raise ValueError(f"image file_name {file_name!r} must be a relative path inside the dataset")
    return path.with_name(path.stem + suffix)


def checked_records(
    records: Iterable[tuple[Mapping[str, Any], LabelMap]], palette: Palette
) -> Iterator[tuple[dict[str, Any], LabelMap]]:
    """Records ready to export: plain-JSON entries with unique ``id``s and sizes matching the labels.

    ``width``/``height`` are added when missing; every labelled category must be in ``palette``.
    Raises ValueError naming the image otherwise.
    """
    seen: set[Any] = set()
    known = np.zeros(VOID + 1, bool)
    known[palette.ids] = True
    known[VOID] = True
    for image, labels in records:
        entry = plain(dict(image))
        where = f"image {entry.get('id')!r} ({entry.get('file_name')!r})"
        if "id" not in entry or "file_name" not in entry:
            raise ValueError(f"{where}: an image entry needs 'id' and 'file_name'")
        if entry["id"] in seen:
            raise ValueError(f"{where}: image id used twice")
        seen.add(entry["id"])
        height, width = labels.shape
        if (entry.setdefault("height", height), entry.setdefault("width", width)) != (height, width):
            raise ValueError(
                f"{where}: entry says {entry['width']}x{entry['height']}, labels are {width}x{height}"
            )
        present = np.unique(labels.category)
        unknown = [int(c) for c in present if not known[c]]
        if unknown:
            raise ValueError(f"{where}: categories {unknown} are not in palette {palette.name!r}")
        yield entry, labels


def unique_output(path: PurePosixPath, taken: set[PurePosixPath], entry: Mapping[str, Any]) -> None:
    """Refuse two images that would write the same label file."""
    if path in taken:
        raise ValueError(
            f"image {entry.get('id')!r} ({entry.get('file_name')!r}): another image also writes {path}"
        )
    taken.add(path)
