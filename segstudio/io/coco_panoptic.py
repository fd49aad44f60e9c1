"""COCO panoptic datasets: read, write and evaluate (annotation JSON + a folder of RGB PNGs).

Format (cocodataset/panopticapi): ``images``, ``annotations`` (one per image: ``image_id``,
``file_name`` of its PNG, ``segments_info``) and ``categories`` (``id``, ``name``,
``supercategory``, ``isthing``, ``color``). PNG pixels carry ``id = R + 256*G + 256**2*B``.
The PNG folder defaults to the JSON path without ``.json``, as in the panoptic API.

Every error names the file it is about, so a broken dataset can be fixed without guessing:
``PanopticFormatError`` (a ValueError) for JSON and consistency problems, ``ImageReadError`` (an
OSError) for PNGs that are missing or not 8-bit RGB. Segment ids round-trip as
``segstudio.core.panoptic`` documents.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from segstudio.core.labels import LabelMap
from segstudio.core.palette import Palette, PaletteError
from segstudio.core.panoptic import ids_to_rgb, labels_to_panoptic, panoptic_to_labels, rgb_to_ids
from segstudio.core.pq import PQStat, pq_image, pq_results
from segstudio.io.atomic import atomic_directory, atomic_write_json
from segstudio.io.images import ImageReadError, write_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ANNOTATIONS_DIR = "annotations"
JSON_NAME = "panoptic.json"
PNG_DIR = "panoptic"


class PanopticFormatError(ValueError):
    """A COCO panoptic file is missing or malformed; the message starts with the file's path."""


@dataclass
class PanopticRecord:
    """One image of a dataset: its ``images`` entry (kept exactly as read) and its labels."""

    image: dict[str, Any]
    labels: LabelMap


@dataclass
class PanopticDataset:
    """A whole COCO panoptic file: its categories as a palette, records in ``images`` order."""

    palette: Palette
    records: list[PanopticRecord]
    info: dict[str, Any] | None = None
    licenses: list[Any] = field(default_factory=list)


# -- PNG -----------------------------------------------------------------------------------------


def png_ihdr(data: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's header; None when it is not a PNG."""
    if len(data) < 29 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, bit_depth, colour_type


def read_png_bytes(path: Path) -> bytes:
    """A file's bytes, with a one-line ImageReadError naming it when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read ({error.strerror or error})") from error


def read_panoptic_png(path: str | Path) -> np.ndarray:
    """The uint32 segment-id map of a COCO panoptic PNG; ImageReadError for anything but 8-bit RGB."""
    path = Path(path)
    data = read_png_bytes(path)
    header = png_ihdr(data)
    if header is None:
        raise ImageReadError(f"{path}: not a PNG file")
    _, _, bit_depth, colour_type = header
    if colour_type != 2 or bit_depth != 8:
        kind = {0: "greyscale", 3: "indexed", 4: "greyscale+alpha", 6: "RGBA"}.get(colour_type, "RGB")
        raise ImageReadError(
            f"{path}: {bit_depth}-bit {kind} PNG; panoptic PNGs must be 8-bit RGB (id = R + 256G + 65536B)"
        )
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ImageReadError(f"{path}: corrupt or truncated PNG")
    return rgb_to_ids(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def png_name(file_name: str) -> str:
    """The PNG name for an image: its final extension replaced (``a.b.jpg`` -> ``a.b.png``)."""
    path = PurePosixPath(file_name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.name:
        raise ValueError(f"image file_name {file_name!r} must be a relative path inside the dataset")
    return str(path.with_suffix(".png"))


# -- JSON ----------------------------------------------------------------------------------------


def load_json(path: str | Path) -> Any:
    """Parse a JSON file; missing files and syntax errors name the file (and line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PanopticFormatError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PanopticFormatError(f"{path}: cannot read ({error})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PanopticFormatError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error


def _list_field(data: Any, key: str, path: Path) -> list[Any]:
    if not isinstance(data, Mapping):
        raise PanopticFormatError(f"{path}: expected a JSON object at the top level")
    value = data.get(key)
    if not isinstance(value, list):
        raise PanopticFormatError(f"{path}: missing list field {key!r}")
    return value


def _annotation(entry: Any, index: int, path: Path) -> tuple[Any, str, list[Mapping[str, Any]]]:
    """(image_id, PNG file name, segments_info) of one annotation, checked."""
    where = f"{path}: annotation #{index}"
    if not isinstance(entry, Mapping):
        raise PanopticFormatError(f"{where}: expected an object")
    for key in ("image_id", "file_name", "segments_info"):
        if key not in entry:
            raise PanopticFormatError(f"{where}: missing field {key!r}")
    segments = entry["segments_info"]
    if not isinstance(segments, list):
        raise PanopticFormatError(f"{where}: segments_info must be a list")
    for n, segment in enumerate(segments):
        if not isinstance(segment, Mapping) or "id" not in segment or "category_id" not in segment:
            raise PanopticFormatError(f"{where}: segments_info #{n} needs 'id' and 'category_id'")
    return entry["image_id"], str(entry["file_name"]), segments


def _categories(data: Any, path: Path) -> dict[int, Mapping[str, Any]]:
    categories: dict[int, Mapping[str, Any]] = {}
    for n, entry in enumerate(_list_field(data, "categories", path)):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), int):
            raise PanopticFormatError(f"{path}: category #{n} needs an integer 'id'")
        categories[entry["id"]] = entry
    return categories


def _stand_in_color(category_id: int) -> list[int]:
    """A stable colour for a category that has none (the format makes ``color`` optional in practice)."""
    return [(category_id * 67 + 31) % 256, (category_id * 151 + 97) % 256, (category_id * 211 + 13) % 256]


def _palette(categories: Mapping[int, Mapping[str, Any]], name: str, path: Path) -> Palette:
    entries = [
        {**entry, "color": entry.get("color", _stand_in_color(category_id))}
        for category_id, entry in categories.items()
    ]
    try:
        return Palette.from_categories(entries, name)
    except PaletteError as error:
        raise PanopticFormatError(f"{path}: {error}") from error


def default_png_dir(json_path: str | Path) -> Path:
    """The panoptic API's default PNG folder: the JSON path without ``.json``."""
    return Path(json_path).with_suffix("")


# -- read ----------------------------------------------------------------------------------------


def read_coco_panoptic(json_path: str | Path, png_dir: str | Path | None = None) -> PanopticDataset:
    """Read a COCO panoptic dataset into label maps, checking PNGs against ``segments_info``.

    Thing segments keep their segment id as instance id; see ``segstudio.core.panoptic``.
    """
    json_path = Path(json_path)
    png_dir = default_png_dir(json_path) if png_dir is None else Path(png_dir)
    data = load_json(json_path)
    categories = _categories(data, json_path)
    palette = _palette(categories, json_path.stem, json_path)
    annotations: dict[Any, tuple[str, list[Mapping[str, Any]]]] = {}
    for n, entry in enumerate(_list_field(data, "annotations", json_path)):
        image_id, file_name, segments = _annotation(entry, n, json_path)
        if image_id in annotations:
            raise PanopticFormatError(f"{json_path}: image id {image_id!r} has two annotations")
        annotations[image_id] = (file_name, segments)

    records = []
    for n, image in enumerate(_list_field(data, "images", json_path)):
        if not isinstance(image, Mapping) or "id" not in image:
            raise PanopticFormatError(f"{json_path}: image #{n} needs an 'id'")
        if image["id"] not in annotations:
            raise PanopticFormatError(f"{json_path}: image id {image['id']!r} has no annotation")
        file_name, segments = annotations.pop(image["id"])
        png_path = png_dir / file_name
        for segment in segments:
            if segment["category_id"] not in categories:
                raise PanopticFormatError(
                    f"{json_path}: segment {segment['id']} of {file_name} has unknown category_id "
                    f"{segment['category_id']}"
                )
        ids = read_panoptic_png(png_path)
        size = (image.get("height"), image.get("width"))
        if None not in size and size != ids.shape:
            raise PanopticFormatError(
                f"{png_path}: PNG is {ids.shape[1]}x{ids.shape[0]} but image {image['id']!r} is "
                f"{size[1]}x{size[0]} in {json_path.name}"
            )
        try:
            labels = panoptic_to_labels(ids, segments, palette.thing_ids)
        except ValueError as error:
            raise PanopticFormatError(f"{png_path}: {error}") from error
        records.append(PanopticRecord(dict(image), labels))
    if annotations:
        orphan = next(iter(annotations))
        raise PanopticFormatError(f"{json_path}: annotation for image id {orphan!r} has no entry in 'images'")
    info = data.get("info") if isinstance(data.get("info"), dict) else None
    licenses = data.get("licenses") if isinstance(data.get("licenses"), list) else []
    return PanopticDataset(palette, records, info, licenses)


# -- write ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays become Python ints, floats and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_coco_panoptic(
    out_dir: str | Path,
    images: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    *,
    info: Mapping[str, Any] | None = None,
    licenses: Sequence[Any] = (),
    overwrite: bool = False,
) -> Path:
    """Export ``(images entry, labels)`` pairs as ``out_dir/annotations/panoptic.json`` + PNGs.

    The folder appears complete or not at all. Image entries are kept as given (``width`` and
    ``height`` added when missing, refused when they disagree with the labels); stuff takes its
    category colour as segment id, things their instance id. Returns the JSON's path.
    """
    out_dir = Path(out_dir)
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        write_coco_panoptic_into(staging, images, palette, info=info, licenses=licenses)
    return out_dir / ANNOTATIONS_DIR / JSON_NAME


def write_coco_panoptic_into(
    folder: Path,
    images: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    *,
    info: Mapping[str, Any] | None = None,
    licenses: Sequence[Any] = (),
) -> Path:
    """Write the dataset into an existing (staging) ``folder``; see :func:`write_coco_panoptic`."""
    colors = {c.id: c.color for c in palette}
    thing_ids = palette.thing_ids
    png_folder = folder / ANNOTATIONS_DIR / PNG_DIR
    png_folder.mkdir(parents=True)
    image_entries: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    seen_ids: set[Any] = set()
    seen_pngs: set[str] = set()
    for image, labels in images:
        entry = _plain(dict(image))
        where = f"image {entry.get('id')!r} ({entry.get('file_name')!r})"
        if "id" not in entry or "file_name" not in entry:
            raise ValueError(f"{where}: an image entry needs 'id' and 'file_name'")
        if entry["id"] in seen_ids:
            raise ValueError(f"{where}: image id used twice")
        name = png_name(str(entry["file_name"]))
        if name in seen_pngs:
            raise ValueError(f"{where}: two images would share the PNG {name!r}")
        seen_ids.add(entry["id"])
        seen_pngs.add(name)
        height, width = labels.shape
        if (entry.setdefault("height", height), entry.setdefault("width", width)) != (height, width):
            raise ValueError(
                f"{where}: entry says {entry['width']}x{entry['height']}, labels are {width}x{height}"
            )
        id_map, segments_info = labels_to_panoptic(labels, thing_ids, colors)
        unknown = sorted({s["category_id"] for s in segments_info} - colors.keys())
        if unknown:
            raise ValueError(f"{where}: categories {unknown} are not in palette {palette.name!r}")
        write_png(png_folder / name, ids_to_rgb(id_map))
        image_entries.append(entry)
        annotations.append({"image_id": entry["id"], "file_name": name, "segments_info": segments_info})
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
        "info": _plain(dict(info)) if info is not None else {"description": "exported by segstudio"},
        "licenses": _plain(list(licenses)),
        "images": image_entries,
        "annotations": annotations,
        "categories": categories,
    }
    atomic_write_json(folder / ANNOTATIONS_DIR / JSON_NAME, document, indent=None)
    return folder / ANNOTATIONS_DIR / JSON_NAME


# -- evaluate ------------------------------------------------------------------------------------


def evaluate_panoptic_files(
    gt_json: str | Path,
    pred_json: str | Path,
    gt_dir: str | Path | None = None,
    pred_dir: str | Path | None = None,
) -> dict[str, Any]:
    """PQ/SQ/RQ of a prediction file against ground truth, as the COCO panoptic API computes them.

    Returns ``{"All"|"Things"|"Stuff": {pq, sq, rq, n}, "per_class": {"<id>": {pq, sq, rq, tp,
    fp, fn, name}}}``. Like the API, categories come from the ground truth and every ground-truth
    image needs a prediction; extra predicted images are ignored.
    """
    gt_json, pred_json = Path(gt_json), Path(pred_json)
    gt_dir = default_png_dir(gt_json) if gt_dir is None else Path(gt_dir)
    pred_dir = default_png_dir(pred_json) if pred_dir is None else Path(pred_dir)
    gt_data, pred_data = load_json(gt_json), load_json(pred_json)
    categories = _categories(gt_data, gt_json)
    isthing = {category_id: entry.get("isthing", 0) == 1 for category_id, entry in categories.items()}
    for folder in (gt_dir, pred_dir):
        if not folder.is_dir():
            raise PanopticFormatError(f"{folder}: PNG folder not found")
    predictions: dict[Any, tuple[str, list[Mapping[str, Any]]]] = {}
    for n, entry in enumerate(_list_field(pred_data, "annotations", pred_json)):
        image_id, file_name, segments = _annotation(entry, n, pred_json)
        predictions[image_id] = (file_name, segments)

    stat = PQStat()
    for n, entry in enumerate(_list_field(gt_data, "annotations", gt_json)):
        image_id, gt_file, gt_segments = _annotation(entry, n, gt_json)
        if image_id not in predictions:
            raise PanopticFormatError(f"{pred_json}: no prediction for image id {image_id!r}")
        pred_file, pred_segments = predictions[image_id]
        gt_ids = read_panoptic_png(gt_dir / gt_file)
        pred_png = pred_dir / pred_file
        pred_ids = read_panoptic_png(pred_png)
        try:
            stat += pq_image(gt_ids, gt_segments, pred_ids, pred_segments, isthing)
        except ValueError as error:
            raise PanopticFormatError(
                f"{pred_png}: {error} (image id {image_id!r}, ground truth {gt_dir / gt_file})"
            ) from error
    results = pq_results(stat, isthing)
    for category_id, values in results["per_class"].items():
        values["name"] = str(categories[int(category_id)].get("name", category_id))
    return results
