"""What the dataset importers and exporters share: their error, their result, their checks.

Every format module (COCO panoptic and instances, semantic PNG, Cityscapes, labelme) reads
``(image entry, LabelMap)`` records and writes them back, so the JSON loading, the checks on
records, the COCO category and document shapes and the error type live here once. Messages start
with the file they are about.

Streaming: a reader first *scans* its dataset (the annotation files, cheap) into
:class:`LazyRecord` s whose label maps are decoded only when ``load()`` is called, possibly in
a worker process (``io.parallel``); ``read_*`` functions are the same scan with every record
loaded. Writers are :class:`DatasetWriter` s: ``write_image`` per image (any process, any order
of processes, same bytes), ``finish`` once with the per-image results in order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np

from segstudio.core.labels import VOID, LabelMap, Segment
from segstudio.core.palette import Color, Palette, PaletteError, builtin_palette, voc_color_map
from segstudio.core.runs import unique_counts
from segstudio.io.atomic import atomic_write_json
from segstudio.io.safe_files import check_regular_file

Record = tuple[dict[str, Any], LabelMap]
"""One image of a dataset: its entry (``id``, ``file_name``, ``width``, ``height``, ...) and labels."""

COCO_ANNOTATIONS_DIR = "annotations"
"""Where a COCO export puts its JSON (and, for panoptic, its PNG folder)."""

Name = TypeVar("Name", bound=Hashable)


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message starts with the file's path."""


class LabelDataset(NamedTuple):
    """What a reader returns: records in a stable order, the classes, and what it skipped."""

    records: list[Record]
    palette: Palette
    warnings: list[str]


class Decoded(NamedTuple):
    """One image's labels as decoded, and what the decoder skipped (annotations without pixels)."""

    labels: LabelMap
    warnings: list[str]


class LazyRecord(NamedTuple):
    """One image of a scanned dataset: its entry now, its labels when ``load()`` is called.

    ``load`` is picklable (a ``functools.partial`` of a module-level function with plain
    arguments), so a worker process can decode the image.
    """

    image: dict[str, Any]
    load: Callable[[], Decoded]


class LabelStream(NamedTuple):
    """What a scan returns: records in a stable order (labels not decoded), the classes, and what
    the scan itself skipped (decoding may add more, per record)."""

    records: Iterable[LazyRecord]
    """Iterated once by a reader; a list, or a sized iterable that streams its file again."""
    palette: Palette
    warnings: list[str]


def loaded(stream: LabelStream) -> LabelDataset:
    """Every record of ``stream`` decoded, in order (warnings: the scan's, then each record's)."""
    records: list[Record] = []
    warnings = list(stream.warnings)
    for record in stream.records:
        labels, found = record.load()
        records.append((record.image, labels))
        warnings += found
    return LabelDataset(records, stream.palette, warnings)


class DatasetWriter(Protocol):
    """One output format, split so that images can be written by any process.

    ``name_of(file_name)`` is the image's output path (checked unique; None when the format
    writes no file per image), ``write_image`` writes one image into ``folder`` and returns what
    ``finish`` needs of it (plain data, picklable), ``finish`` writes the rest (e.g. the JSON) from
    the entries and those results, in image order. ``palette`` is the dataset's classes.
    """

    palette: Palette

    def name_of(self, file_name: str) -> Hashable | None: ...

    def write_image(self, folder: Path, entry: dict[str, Any], labels: LabelMap, name: Any) -> Any: ...

    def finish(self, folder: Path, entries: list[dict[str, Any]], results: list[Any]) -> None: ...


def write_records(
    folder: Path, records: Iterable[tuple[Mapping[str, Any], LabelMap]], writer: DatasetWriter
) -> None:
    """Write in-memory records into ``folder`` (a staging folder) with ``writer``, in this process."""
    entries: list[dict[str, Any]] = []
    results: list[Any] = []
    for entry, labels, name in named_records(records, writer.palette, writer.name_of):
        results.append(writer.write_image(folder, entry, labels, name))
        entries.append(entry)
    writer.finish(folder, entries, results)


# -- reading -------------------------------------------------------------------------------------


def read_json(path: Path, error_type: type[ValueError] = DatasetError) -> Any:
    """Parse a JSON file; a missing file, a FIFO or folder in its place, a syntax error or nesting
    too deep for the parser names the file (and line) in ``error_type``."""
    check_regular_file(path, error_type)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_type(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise error_type(f"{path}: cannot read ({error})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise error_type(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error
    except RecursionError:
        raise error_type(f"{path}: JSON nested too deeply to read") from None


def is_int(value: Any) -> bool:
    """An integer as JSON means it: ``True`` is not 1 here."""
    return isinstance(value, int) and not isinstance(value, bool)


def list_field(data: Any, key: str, path: Path) -> list[Any]:
    """The list under ``key`` of a JSON file's top-level object, or DatasetError naming the file."""
    if not isinstance(data, Mapping):
        raise DatasetError(f"{path}: expected a JSON object at the top level")
    value = data.get(key)
    if not isinstance(value, list):
        raise DatasetError(f"{path}: missing list field {key!r}")
    return value


def fallback_color(class_id: int) -> Color:
    """A stable colour for a class whose file gives none: the VOC/labelme colour map, skipping black."""
    r, g, b = (int(v) for v in voc_color_map()[1 + class_id % 254])
    return r, g, b


# -- COCO categories and documents (instances and panoptic) ----------------------------------------


def coco_categories(data: Any, path: Path) -> list[Mapping[str, Any]]:
    """The ``categories`` of a COCO file, each checked to be an object with an integer ``id``."""
    categories = list_field(data, "categories", path)
    for n, entry in enumerate(categories):
        if not isinstance(entry, Mapping) or not is_int(entry.get("id")):
            raise DatasetError(f"{path}: category #{n} needs an integer 'id'")
    return categories


def categories_palette(
    categories: Sequence[Mapping[str, Any]], name: str, path: Path, *, things_by_default: bool
) -> Palette:
    """The palette of checked COCO categories, with what the file leaves out filled in.

    A category without ``color`` or ``isthing`` takes them from the COCO panoptic class of the
    same id and name; any other gets ``fallback_color`` and ``things_by_default`` (an instances
    file lists objects, a panoptic file says which classes are things).
    """
    reference = builtin_palette("coco-panoptic")
    entries = []
    for entry in categories:
        if entry["id"] in reference and reference[entry["id"]].name == entry.get("name"):
            color, isthing = reference[entry["id"]].color, reference[entry["id"]].isthing
        else:
            color, isthing = fallback_color(entry["id"]), things_by_default
        entry = {k: v for k, v in entry.items() if v is not None}  # null: as if absent, as pycocotools
        entries.append({"color": list(color), "isthing": int(isthing), "supercategory": "", **entry})
    try:
        return Palette.from_categories(entries, name)
    except PaletteError as error:
        raise DatasetError(f"{path}: {error}") from error


def write_coco_json(
    path: Path,
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    palette: Palette,
    info: Mapping[str, Any] | None,
    licenses: Sequence[Any],
) -> None:
    """Write a COCO annotation file (compact, atomically), the palette as its ``categories``."""
    categories = [
        {
            "id": c.id,
            "name": c.name,
            "supercategory": c.supercategory,
            "isthing": int(c.isthing),
            "color": [int(v) for v in c.color],
        }
        for c in palette
    ]
    document = {
        "info": plain(dict(info)) if info is not None else {"description": "exported by segstudio"},
        "licenses": plain(list(licenses)),
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    atomic_write_json(path, document, indent=None, durable=False)  # inside an atomic_directory


# -- writing -------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays become Python ints, floats and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


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


def check_entry(image: Mapping[str, Any], seen: set[Any]) -> dict[str, Any]:
    """A plain-JSON copy of an image entry with ``id`` and ``file_name``, its id not in ``seen``
    (then added); ValueError naming the image otherwise."""
    entry = plain(dict(image))
    where = f"image {entry.get('id')!r} ({entry.get('file_name')!r})"
    if "id" not in entry or "file_name" not in entry:
        raise ValueError(f"{where}: an image entry needs 'id' and 'file_name'")
    if entry["id"] in seen:
        raise ValueError(f"{where}: image id used twice")
    seen.add(entry["id"])
    return entry


def known_categories(palette: Palette) -> np.ndarray:
    """Lookup table: True for the palette's class ids and VOID."""
    known = np.zeros(VOID + 1, bool)
    known[palette.ids] = True
    known[VOID] = True
    return known


def check_labels(entry: dict[str, Any], labels: LabelMap, known: np.ndarray, palette_name: str) -> None:
    """Refuse labels whose size differs from the entry's (``width``/``height`` added when missing)
    or that hold categories outside the palette (``known``, see :func:`known_categories`)."""
    where = f"image {entry.get('id')!r} ({entry.get('file_name')!r})"
    height, width = labels.shape
    if (entry.setdefault("height", height), entry.setdefault("width", width)) != (height, width):
        raise ValueError(
            f"{where}: entry says {entry['width']}x{entry['height']}, labels are {width}x{height}"
        )
    present, _ = unique_counts(labels.category)
    unknown = [int(c) for c in present if not known[c]]
    if unknown:
        raise ValueError(f"{where}: categories {unknown} are not in palette {palette_name!r}")


def checked_records(
    records: Iterable[tuple[Mapping[str, Any], LabelMap]], palette: Palette
) -> Iterator[tuple[dict[str, Any], LabelMap]]:
    """Records ready to export: plain-JSON entries with unique ``id``s and sizes matching the labels.

    ``width``/``height`` are added when missing; every labelled category must be in ``palette``.
    Raises ValueError naming the image otherwise.
    """
    seen: set[Any] = set()
    known = known_categories(palette)
    for image, labels in records:
        entry = check_entry(image, seen)
        check_labels(entry, labels, known, palette.name)
        yield entry, labels


class NameCheck:
    """Output names taken so far; two images that would write the same file are refused."""

    def __init__(self, name_of: Callable[[str], Name | None]) -> None:
        self.name_of = name_of
        self.taken: set[Name] = set()

    def __call__(self, entry: Mapping[str, Any]) -> Name | None:
        """The image's output name, refused (ValueError naming the image) when already taken."""
        path = self.name_of(entry["file_name"])
        if path is None:
            return None
        if path in self.taken:
            raise ValueError(
                f"image {entry['id']!r} ({entry['file_name']!r}): another image also writes {path}"
            )
        self.taken.add(path)
        return path


def named_records(
    records: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    name_of: Callable[[str], Name | None],
) -> Iterator[tuple[dict[str, Any], LabelMap, Name | None]]:
    """``checked_records`` with each image's output name ``name_of(file_name)``, for formats with
    files per image; two images that would write the same file are refused, naming the second.
    """
    name_check = NameCheck(name_of)
    for entry, labels in checked_records(records, palette):
        yield entry, labels, name_check(entry)
