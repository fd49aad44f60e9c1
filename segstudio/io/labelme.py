"""labelme annotation folders: one JSON per image, shapes labelled with class names.

A labelme file (wkentaro/labelme) holds ``shapes`` (``label``, ``points``, ``shape_type``,
``group_id``, and for masks a base64 PNG in ``mask``), ``imagePath`` relative to the JSON, and
``imageHeight`` / ``imageWidth``. As in labelme's own ``shapes_to_label``, shapes are painted in
file order (later on top) and shapes sharing (label, group_id) form one instance; a shape
without group_id is an instance of its own.

Rasterisation: a pixel belongs to a shape when its centre (integer coordinates, as in labelme and
PIL) lies inside or on it. Polygon and rectangle vertices are rounded to the nearest pixel;
a circle is given by its centre and a point on it. A mask shape's points are the inclusive box
``[[x1, y1], [x2, y2]]`` its PNG covers. Points, lines and line strips have no area: they are
skipped and listed in ``warnings``.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segstudio.core.labels import CATEGORY_DTYPE, INSTANCE_DTYPE, VOID, LabelMap, Provenance
from segstudio.core.palette import ClassDef, Palette
from segstudio.io.atomic import atomic_directory, atomic_write_json
from segstudio.io.datasets import (
    DatasetError,
    Decoded,
    LabelDataset,
    LabelStream,
    LazyRecord,
    fallback_color,
    is_int,
    label_file_path,
    loaded,
    named_records,
    read_json,
    segment_crop,
)
from segstudio.io.images import ImageReadError, image_size

AREA_SHAPES = ("polygon", "rectangle", "circle", "mask")
LINE_SHAPES = ("point", "points", "line", "linestrip")
LABELME_VERSION = "5.5.0"


# -- shapes -> masks ----------------------------------------------------------------------------


def _points(shape: Mapping[str, Any]) -> np.ndarray:
    points = np.asarray(shape.get("points"), dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        raise ValueError("points must be a list of [x, y] numbers")
    return points


def _polygon_mask(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    vertices = np.floor(points + 0.5).astype(np.int32)
    cv2.fillPoly(mask, [vertices], 1)
    return mask.astype(bool)


def _circle_mask(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    (cx, cy), (px, py) = points
    r2 = (cx - px) ** 2 + (cy - py) ** 2
    ys, xs = np.ogrid[: size[0], : size[1]]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r2


def _decode_png_mask(data: Any) -> np.ndarray:
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, TypeError, ValueError) as error:
        raise ValueError(f"mask is not base64 ({error})") from error
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED) if raw else None
    if image is None:
        raise ValueError("mask is not a PNG image")
    return image.any(axis=2) if image.ndim == 3 else image != 0


def _mask_shape(shape: Mapping[str, Any], points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    (x1, y1), (x2, y2) = points.astype(int)  # labelme truncates, as here
    crop = _decode_png_mask(shape.get("mask"))
    if crop.shape != (y2 - y1 + 1, x2 - x1 + 1):
        raise ValueError(
            f"mask PNG is {crop.shape[1]}x{crop.shape[0]} but its box [{x1}, {y1}]-[{x2}, {y2}] "
            f"is {x2 - x1 + 1}x{y2 - y1 + 1}"
        )
    if x1 < 0 or y1 < 0 or x2 >= size[1] or y2 >= size[0]:
        raise ValueError(f"mask box [{x1}, {y1}]-[{x2}, {y2}] leaves the {size[1]}x{size[0]} image")
    mask = np.zeros(size, bool)
    mask[y1 : y2 + 1, x1 : x2 + 1] = crop
    return mask


def shape_mask(shape: Mapping[str, Any], size: tuple[int, int]) -> np.ndarray:
    """The boolean mask of one area shape; ValueError says what is wrong with it."""
    kind = shape.get("shape_type") or "polygon"
    points = _points(shape)
    wanted = {"rectangle": 2, "circle": 2, "mask": 2}.get(kind)
    if wanted is not None and len(points) != wanted:
        raise ValueError(f"a {kind} needs {wanted} points, found {len(points)}")
    if kind == "polygon":
        if len(points) < 3:
            raise ValueError(f"a polygon needs at least 3 points, found {len(points)}")
        return _polygon_mask(points, size)
    if kind == "rectangle":
        (xa, ya), (xb, yb) = points
        corners = np.array([[xa, ya], [xb, ya], [xb, yb], [xa, yb]])
        return _polygon_mask(corners, size)
    if kind == "circle":
        return _circle_mask(points, size)
    return _mask_shape(shape, points, size)


# -- read ----------------------------------------------------------------------------------------


def _image_entry(data: Mapping[str, Any], json_path: Path, root: Path, n: int) -> dict[str, Any]:
    """The ``images`` entry of one labelme file: image path relative to ``root``, and its size."""
    image_path = data.get("imagePath")
    if not isinstance(image_path, str) or not image_path:
        raise DatasetError(f"{json_path}: missing 'imagePath'")
    image = Path(os.path.normpath(json_path.parent / image_path.replace("\\", "/")))
    try:
        file_name = image.relative_to(root).as_posix()
    except ValueError:
        raise DatasetError(
            f"{json_path}: imagePath {image_path!r} points outside {root}; pass the folder of the "
            "images as images_dir"
        ) from None
    height, width = data.get("imageHeight"), data.get("imageWidth")
    if height is None or width is None:
        try:
            height, width = image_size(image)
        except ImageReadError as error:
            raise DatasetError(f"{json_path}: no imageHeight/imageWidth, and {error}") from error
    if not all(is_int(v) and v > 0 for v in (height, width)):
        raise DatasetError(f"{json_path}: imageHeight/imageWidth must be positive integers")
    return {"id": n, "file_name": file_name, "height": height, "width": width}


def _shapes(data: Any, json_path: Path) -> list[Mapping[str, Any]]:
    shapes = data.get("shapes") if isinstance(data, Mapping) else None
    if not isinstance(shapes, list):
        raise DatasetError(f"{json_path}: not a labelme file (no 'shapes' list)")
    for n, shape in enumerate(shapes):
        if not isinstance(shape, Mapping) or not isinstance(shape.get("label"), str):
            raise DatasetError(f"{json_path}: shape #{n} needs a string 'label'")
        if not isinstance(shape.get("group_id"), (int, str, type(None))):
            raise DatasetError(f"{json_path}: shape #{n}: group_id must be an integer or null")
    return shapes


def _labelme_palette(names: dict[str, Path], palette: Palette | None) -> Palette:
    """The given palette after checking every label is in it, or one built from the labels seen
    (``names``: label -> the first file using it)."""
    if palette is not None:
        known = {c.name for c in palette}
        for name, json_path in names.items():
            if name not in known:
                raise DatasetError(f"{json_path}: label {name!r} is not a class of palette {palette.name!r}")
        return palette
    return Palette("labelme", [ClassDef(i, name, fallback_color(i), True) for i, name in enumerate(names)])


def _paint(
    shapes: list[Mapping[str, Any]], size: tuple[int, int], palette: Palette, where: Path, warnings: list[str]
) -> LabelMap:
    """One image's label map: shapes in file order, later on top; (label, group_id) = one instance."""
    category = np.full(size, VOID, CATEGORY_DTYPE)
    instance = np.zeros(size, INSTANCE_DTYPE)
    instances: dict[tuple[str, Any], int] = {}
    for n, shape in enumerate(shapes):
        kind = shape.get("shape_type") or "polygon"
        if kind in LINE_SHAPES:
            warnings.append(f"{where}: shape #{n} ({kind} {shape['label']!r}) has no area; skipped")
            continue
        if kind not in AREA_SHAPES:
            raise DatasetError(f"{where}: shape #{n} has unknown shape_type {kind!r}")
        try:
            mask = shape_mask(shape, size)
        except ValueError as error:
            raise DatasetError(f"{where}: shape #{n} ({kind} {shape['label']!r}): {error}") from error
        class_def = palette.by_name(shape["label"])
        instance_id = 0
        if class_def.isthing:
            group = shape.get("group_id")
            key = (shape["label"], group if group is not None else ("shape", n))
            instance_id = instances.setdefault(key, len(instances) + 1)
        category[mask] = class_def.id
        instance[mask] = instance_id
    return LabelMap.from_arrays(category, instance, Provenance.HUMAN)


def read_labelme(
    folder: str | Path, palette: Palette | None = None, images_dir: str | Path | None = None
) -> LabelDataset:
    """Read every labelme JSON under ``folder`` (sorted by path) into label maps.

    Class names are matched against ``palette`` when given (an unknown label is an error naming
    the file); otherwise a palette of the names seen, in order of first appearance, all things.
    ``id`` counts files from 1; ``file_name`` is the image path relative to ``images_dir``
    (default ``folder``), where every ``imagePath`` must lead.
    """
    return loaded(scan_labelme(folder, palette, images_dir))


def scan_labelme(
    folder: str | Path, palette: Palette | None = None, images_dir: str | Path | None = None
) -> LabelStream:
    """The records of :func:`read_labelme`, each file's shapes painted only when loaded."""
    folder = Path(os.path.normpath(Path(folder).absolute()))
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found")
    root = Path(os.path.normpath(Path(images_dir).absolute())) if images_dir is not None else folder
    paths = sorted(folder.rglob("*.json"))
    if not paths:
        raise DatasetError(f"{folder}: no labelme JSON files found")
    entries: list[tuple[Path, dict[str, Any]]] = []
    names: dict[str, Path] = {}
    for n, json_path in enumerate(paths, start=1):  # the files are read again when loaded: memory stays flat
        data = read_json(json_path)
        for shape in _shapes(data, json_path):
            names.setdefault(shape["label"], json_path)
        entries.append((json_path, _image_entry(data, json_path, root, n)))
    palette = _labelme_palette(names, palette)
    records = [
        LazyRecord(entry, partial(_file_labels, json_path, (entry["height"], entry["width"]), palette))
        for json_path, entry in entries
    ]
    return LabelStream(records, palette, [])


def _file_labels(json_path: Path, size: tuple[int, int], palette: Palette) -> Decoded:
    warnings: list[str] = []
    data = read_json(json_path)
    return Decoded(_paint(_shapes(data, json_path), size, palette, json_path, warnings), warnings)


# -- write ---------------------------------------------------------------------------------------


def _mask_b64(crop: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", crop.astype(np.uint8))  # 0/1 grey, as labelme saves masks
    if not ok:
        raise OSError("PNG encoding of a mask failed")
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def labelme_document(labels: LabelMap, palette: Palette, image_path: str) -> dict[str, Any]:
    """A labelme file for one label map: one exact ``mask`` shape per segment (instance = group_id)."""
    shapes = []
    for segment in labels.segments():
        box = segment.box
        crop = segment_crop(labels, segment)
        shapes.append(
            {
                "label": palette[segment.category].name,
                "points": [[box.left, box.top], [box.right - 1, box.bottom - 1]],
                "group_id": segment.instance or None,
                "description": "",
                "shape_type": "mask",
                "flags": {},
                "mask": _mask_b64(crop),
            }
        )
    height, width = labels.shape
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }


def write_labelme(
    out_dir: str | Path,
    records: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    images_dir: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``<stem>.json`` per image (subfolders of ``file_name`` kept); all or nothing.

    ``imagePath`` points from each JSON to ``images_dir/file_name`` (default: the image beside
    the JSON). Crowd flags are not part of the format and are dropped.
    """
    out_dir = Path(out_dir)
    images_root = Path(images_dir).absolute() if images_dir is not None else out_dir.absolute()
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        for entry, labels, name in named_records(records, palette, lambda f: label_file_path(f, ".json")):
            json_folder = (out_dir.absolute() / name).parent
            image_path = os.path.relpath(images_root / entry["file_name"], json_folder)
            document = labelme_document(labels, palette, Path(image_path).as_posix())
            atomic_write_json(staging / name, document, durable=False)
    return out_dir
