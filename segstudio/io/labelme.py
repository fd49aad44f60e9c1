"""labelme annotation folders: one JSON per image, shapes labelled with class names.

A labelme file (wkentaro/labelme) holds ``shapes`` (``label``, ``points``, ``shape_type``,
``group_id``, and for masks a base64 PNG in ``mask``), ``imagePath`` relative to the JSON, and
``imageHeight`` / ``imageWidth``. As in labelme's own ``shapes_to_label``, shapes are painted in
file order (later on top) and shapes sharing (label, group_id) form one instance; a shape
without group_id is an instance of its own.

Shapes are drawn as labelme draws them (``labelme_shapes``: Pillow, points as given; lines
10 px wide, points radius 5), and labelme's conventions hold, as in its ``labelme2voc``: the
label ``_background_`` is class 0 and every pixel no shape covers is background; ``__ignore__``
is void (unlabelled). Without a palette, the classes are ``_background_`` (0, stuff) then the
labels in order of first appearance (1, 2, ..., things). With a palette, background is its class
named ``_background_`` or ``background`` (when it has none, uncovered pixels stay unlabelled).
Instance ids count (label, group_id) pairs over all shapes in file order, as labelme's
``shapes_to_label`` does; stuff and void pixels have none. ``points`` shapes (no area, and
labelme cannot draw them either) are skipped and listed in ``warnings``.
"""

from __future__ import annotations

import base64
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
    label_file_path,
    loaded,
    named_records,
    read_json,
    segment_crop,
)
from segstudio.io.images import ImageReadError, image_size
from segstudio.io.labelme_shapes import shape_mask
from segstudio.io.safe_files import check_pixels, printable

SKIPPED_SHAPES = ("points",)
LABELME_VERSION = "5.5.0"
BACKGROUND = "_background_"
"""labelme's class 0: the label of background shapes and of every pixel no shape covers."""
IGNORE = "__ignore__"
"""labelme's void label (``labelme2voc`` writes 255 there)."""
BACKGROUND_NAMES = (BACKGROUND, "background")
"""Palette classes that take labelme's background, in order of preference."""


# -- read ----------------------------------------------------------------------------------------


def _image_entry(data: Mapping[str, Any], json_path: Path, root: Path, n: int) -> dict[str, Any]:
    """The ``images`` entry of one labelme file: image path relative to ``root``, and its size.

    The size comes from the image's header when the image is there (a file whose
    ``imageHeight``/``imageWidth`` disagree is refused before anything of that size is made),
    else from the file, within the pixel limit.
    """
    image_path = data.get("imagePath")
    if not isinstance(image_path, str) or not image_path:
        raise DatasetError(f"{json_path}: missing 'imagePath'")
    image = Path(os.path.normpath(json_path.parent / image_path.replace("\\", "/")))
    try:
        file_name = image.relative_to(root).as_posix()
    except ValueError:
        raise DatasetError(
            f"{json_path}: imagePath {printable(image_path)!r} points outside {root}; pass the folder "
            "of the images as images_dir"
        ) from None
    height, width = data.get("imageHeight"), data.get("imageWidth")
    if os.path.lexists(image) or height is None or width is None:
        try:
            size = image_size(image)
        except ImageReadError as error:
            if height is None or width is None:
                raise DatasetError(f"{json_path}: no imageHeight/imageWidth, and {error}") from error
            raise DatasetError(f"{json_path}: {error}") from error
        if height is not None and width is not None and (height, width) != size:
            raise DatasetError(
                f"{json_path}: imageHeight/imageWidth say {width}x{height} but {image.name} is "
                f"{size.width}x{size.height}"
            )
        height, width = size
    check_pixels(height, width, json_path, DatasetError)
    return {"id": n, "file_name": file_name, "height": height, "width": width}


def _shapes(data: Any, json_path: Path) -> list[Mapping[str, Any]]:
    if not isinstance(data, Mapping) or not isinstance(data.get("shapes"), list):
        raise DatasetError(f"{json_path}: not a labelme file (no 'shapes' list)")
    # pydantic is imported when a file is checked, not at start-up (0.2 s the app need not pay)
    from segstudio.io.schemas import validate
    from segstudio.io.schemas.labelme import LabelmeFile

    validate(LabelmeFile, data, json_path, DatasetError)
    return data["shapes"]


def _labelme_palette(names: dict[str, Path], palette: Palette | None) -> Palette:
    """The given palette after checking every label is in it, or one built from the labels seen
    (``names``: label -> the first file using it)."""
    if palette is not None:
        known = {c.name for c in palette}
        for name, json_path in names.items():
            if name not in known and not (name == BACKGROUND and background_class(palette) is not None):
                raise DatasetError(
                    f"{json_path}: label {printable(name)!r} is not a class of palette {palette.name!r}"
                )
        return palette
    classes = [ClassDef(0, BACKGROUND, (0, 0, 0), False)]
    classes += [
        ClassDef(i, n, fallback_color(i), True)
        for i, n in enumerate([n for n in names if n != BACKGROUND], 1)
    ]
    return Palette("labelme", sorted(classes, key=lambda c: c.id))


def background_class(palette: Palette) -> ClassDef | None:
    """The palette's class for labelme's ``_background_`` (see the module docstring), or None."""
    by_name = {c.name.lower(): c for c in palette}
    return next((by_name[n] for n in BACKGROUND_NAMES if n in by_name), None)


def _paint(
    shapes: list[Mapping[str, Any]], size: tuple[int, int], palette: Palette, where: Path, warnings: list[str]
) -> LabelMap:
    """One image's label map: shapes in file order, later on top; (label, group_id) = one instance."""
    background = background_class(palette)
    category = np.full(size, VOID if background is None else background.id, CATEGORY_DTYPE)
    instance = np.zeros(size, INSTANCE_DTYPE)
    instances: dict[tuple[str, Any], int] = {}
    for n, shape in enumerate(shapes):
        kind = shape.get("shape_type") or "polygon"
        if kind in SKIPPED_SHAPES:
            warnings.append(
                f"{where}: shape #{n} ({kind} {printable(shape['label'])!r}) has no area; skipped"
            )
            continue
        try:
            mask = shape_mask(shape, size)
        except ValueError as error:
            raise DatasetError(
                f"{where}: shape #{n} ({kind} {printable(shape['label'])!r}): {error}"
            ) from error
        group = shape.get("group_id")
        key = (shape["label"], group if group is not None else ("shape", n))
        instance_id = instances.setdefault(key, len(instances) + 1)
        if shape["label"] == IGNORE:
            category[mask], instance[mask] = VOID, 0
            continue
        class_def = (
            background if shape["label"] == BACKGROUND and background else palette.by_name(shape["label"])
        )
        category[mask] = class_def.id
        instance[mask] = instance_id if class_def.isthing else 0
    return LabelMap.from_arrays(category, instance, Provenance.HUMAN)


def read_labelme(
    folder: str | Path, palette: Palette | None = None, images_dir: str | Path | None = None
) -> LabelDataset:
    """Read every labelme JSON under ``folder`` (sorted by path) into label maps.

    Class names are matched against ``palette`` when given (an unknown label is an error naming
    the file); otherwise a palette of the names seen (see the module docstring). ``id`` counts
    files from 1; ``file_name`` is the image path relative to ``images_dir`` (default
    ``folder``), where every ``imagePath`` must lead.
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
            if shape["label"] != IGNORE:
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
