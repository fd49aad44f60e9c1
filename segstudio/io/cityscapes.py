"""Cityscapes ground truth: ``*_gtFine_labelIds.png``, ``*_gtFine_instanceIds.png``, ``*_gtFine_color.png``.

As cityscapesScripts (``json2labelImg`` / ``json2instanceImg``) writes them:

* labelIds: 8-bit grey, the official labelId per pixel (road 7, car 26, ...); 0 "unlabeled".
* instanceIds: 16-bit grey; a pixel of an object class (``hasInstances``) is
  ``labelId * 1000 + k`` with k = 0, 1, ... counting that class's instances in the image; a
  "group" region (``cargroup``: several objects not told apart) and every other pixel keep the
  bare labelId.
* color: RGB colours of the classes.

segstudio works in the 19 train ids of the built-in ``cityscapes`` palette (a class id *is* a train
id). Reading maps labelIds outside those 19 to VOID, and reads group regions as one crowd segment
per class. Writing maps VOID to 0 and crowd things (and things without an instance) to groups.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.palette import CITYSCAPES_TRAIN_ID_TO_LABEL_ID, Palette, builtin_palette
from segstudio.io.atomic import atomic_directory
from segstudio.io.datasets import (
    DatasetError,
    Decoded,
    LabelDataset,
    LabelStream,
    LazyRecord,
    label_file_path,
    loaded,
    segment_crop,
    write_records,
)
from segstudio.io.images import ImageReadError, image_size, write_png
from segstudio.io.semantic_png import read_label_values

LABEL_IDS = "_gtFine_labelIds.png"
INSTANCE_IDS = "_gtFine_instanceIds.png"
COLOR = "_gtFine_color.png"
IMAGE_SUFFIX = "_leftImg8bit"
UNLABELED = 0
INSTANCE_FACTOR = 1000
"""instanceIds value of instance k of label L: L * 1000 + k."""


def _train_id_lut() -> np.ndarray:
    """labelId (0..65535) -> train id, VOID for labels Cityscapes does not evaluate."""
    lut = np.full(VOID + 1, VOID, np.uint16)
    for train_id, label_id in CITYSCAPES_TRAIN_ID_TO_LABEL_ID.items():
        lut[label_id] = train_id
    return lut


def check_cityscapes_palette(palette: Palette) -> None:
    """Refuse a palette whose classes are not Cityscapes train ids (same id, same name)."""
    reference = builtin_palette("cityscapes")
    for c in palette:
        if c.id not in reference or reference[c.id].name != c.name:
            raise ValueError(
                f"palette {palette.name!r} is not a Cityscapes palette: class {c.id} {c.name!r} is not "
                "a Cityscapes train id (Cityscapes files need the 'cityscapes' palette's 19 classes)"
            )


def _base_name(file_name: str) -> str:
    """``aachen/aachen_000000_000019_leftImg8bit.png`` -> ``aachen/aachen_000000_000019``."""
    return str(label_file_path(file_name, "")).removesuffix(IMAGE_SUFFIX)


# -- write ---------------------------------------------------------------------------------------


def cityscapes_arrays(labels: LabelMap) -> tuple[np.ndarray, np.ndarray]:
    """(labelIds uint8, instanceIds uint16) of a label map in Cityscapes train ids."""
    lut = np.zeros(VOID + 1, np.uint8)
    for train_id, label_id in CITYSCAPES_TRAIN_ID_TO_LABEL_ID.items():
        lut[train_id] = label_id
    label_ids = lut[labels.category]
    instance_ids = label_ids.astype(np.uint16)
    things = builtin_palette("cityscapes").thing_ids
    counts: dict[int, int] = {}
    for segment in labels.segments():  # sorted by (category, instance): k follows instance order
        if segment.category not in things or segment.instance == 0 or segment.iscrowd:
            continue
        k = counts.get(segment.category, 0)
        if k >= INSTANCE_FACTOR:
            raise ValueError(f"more than {INSTANCE_FACTOR} instances of class {segment.category}")
        counts[segment.category] = k + 1
        label_id = CITYSCAPES_TRAIN_ID_TO_LABEL_ID[segment.category]
        instance_ids[segment.box.slices][segment_crop(labels, segment)] = label_id * INSTANCE_FACTOR + k
    return label_ids, instance_ids


class CityscapesWriter:
    """Cityscapes gtFine as a :class:`~segstudio.io.datasets.DatasetWriter`: three PNGs per image."""

    def __init__(self, palette: Palette) -> None:
        check_cityscapes_palette(palette)
        self.palette = palette
        self._colors = palette.color_lut()[:, :3]

    def name_of(self, file_name: str) -> str:
        return _base_name(file_name)

    def write_image(self, folder: Path, entry: dict[str, Any], labels: LabelMap, name: Any) -> None:
        try:
            label_ids, instance_ids = cityscapes_arrays(labels)
        except ValueError as error:
            raise ValueError(f"image {entry['id']!r} ({entry['file_name']!r}): {error}") from error
        write_png(folder / (name + LABEL_IDS), label_ids, durable=False)
        write_png(folder / (name + INSTANCE_IDS), instance_ids, durable=False)
        write_png(folder / (name + COLOR), self._colors[labels.category], durable=False)

    def finish(self, folder: Path, entries: list[dict[str, Any]], results: list[Any]) -> None:
        """Nothing beyond the PNGs."""


def write_cityscapes(
    out_dir: str | Path,
    records: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    overwrite: bool = False,
) -> Path:
    """Write labelIds, instanceIds and color PNGs per image (subfolders of ``file_name`` kept).

    ``palette`` must be Cityscapes' (see ``check_cityscapes_palette``); its colours paint the
    color PNG, VOID in its void colour. The folder appears complete or not at all.
    """
    writer = CityscapesWriter(palette)
    out_dir = Path(out_dir)
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        write_records(staging, records, writer)
    return out_dir


# -- read ----------------------------------------------------------------------------------------


def _read(path: Path) -> np.ndarray:
    try:
        return read_label_values(path)
    except ImageReadError as error:
        raise DatasetError(str(error)) from error


def cityscapes_labels(label_ids: np.ndarray, instance_ids: np.ndarray | None, where: Path) -> LabelMap:
    """The label map (train ids) of a labelIds array and, when given, its instanceIds array."""
    lut = _train_id_lut()
    category = lut[label_ids]
    instance = np.zeros(category.shape, np.uint32)
    crowd: set[tuple[int, int]] = set()
    if instance_ids is not None:
        if instance_ids.shape != label_ids.shape:
            raise DatasetError(
                f"{where}: instanceIds is {instance_ids.shape[::-1]}, labelIds {label_ids.shape[::-1]}"
            )
        values = instance_ids.astype(np.int64)
        is_instance = values >= INSTANCE_FACTOR
        disagree = is_instance & (values // INSTANCE_FACTOR != label_ids)
        if disagree.any():
            y, x = np.argwhere(disagree)[0]
            raise DatasetError(
                f"{where}: pixel ({x}, {y}) has instance id {values[y, x]} but labelId {label_ids[y, x]}"
            )
        things = np.isin(category, sorted(builtin_palette("cityscapes").thing_ids))
        objects = np.unique(values[things & is_instance])
        instance[things & is_instance] = np.searchsorted(objects, values[things & is_instance]) + 1
        groups = things & ~is_instance
        next_id = len(objects) + 1
        for train_id in np.unique(category[groups]).tolist():
            instance[groups & (category == train_id)] = next_id
            crowd.add((train_id, next_id))
            next_id += 1
    return LabelMap.from_arrays(category, instance, Provenance.HUMAN, crowd)


def read_cityscapes(gt_dir: str | Path) -> LabelDataset:
    """Read every ``*_gtFine_labelIds.png`` under ``gt_dir`` with its ``instanceIds`` sibling.

    Without an instanceIds file the image has no instances. ``id`` is the frame name
    (``aachen_000000_000019``), ``file_name`` its ``_leftImg8bit.png`` relative to ``gt_dir``.
    """
    return loaded(scan_cityscapes(gt_dir))


def scan_cityscapes(gt_dir: str | Path) -> LabelStream:
    """The records of :func:`read_cityscapes`, PNGs decoded only when loaded (sizes from headers)."""
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise DatasetError(f"{gt_dir}: folder not found")
    files = sorted(gt_dir.rglob("*" + LABEL_IDS))
    if not files:
        raise DatasetError(f"{gt_dir}: no *{LABEL_IDS} files found")
    records: list[LazyRecord] = []
    for path in files:
        try:
            height, width = image_size(path)
        except ImageReadError as error:
            raise DatasetError(str(error)) from error
        base = path.relative_to(gt_dir).as_posix()[: -len(LABEL_IDS)]
        entry = {
            "id": PurePosixPath(base).name,
            "file_name": base + IMAGE_SUFFIX + ".png",
            "height": height,
            "width": width,
        }
        records.append(LazyRecord(entry, partial(_frame_labels, path)))
    return LabelStream(records, builtin_palette("cityscapes"), [])


def _frame_labels(path: Path) -> Decoded:
    """One frame's labels from its labelIds PNG and, when present, its instanceIds sibling."""
    label_ids = _read(path)
    if label_ids.dtype != np.uint8:
        raise DatasetError(f"{path}: labelIds must be an 8-bit PNG, found {label_ids.dtype}")
    sibling = path.with_name(path.name[: -len(LABEL_IDS)] + INSTANCE_IDS)
    instance_ids = _read(sibling) if os.path.lexists(sibling) else None  # a dangling link is an error
    return Decoded(cityscapes_labels(label_ids, instance_ids, sibling), [])
