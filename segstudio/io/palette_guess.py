"""Which classes a folder of images was labelled with, where its data says so.

A new project for an image folder should get the classes of its dataset, not merely those used
last. The clues, strongest first:

- Cityscapes file names (``*_leftImg8bit.png`` photos, ``*_gtFine_*`` labels) in the folder or
  its subfolders: ``cityscapes``;
- a COCO annotation file (panoptic or instances): its ``categories`` (the built-in
  ``coco-panoptic`` when they are exactly its 133); in the folder itself, or beside it (a COCO
  ``annotations`` folder) when it lists one of the folder's photos;
- one-channel label PNGs (grey or indexed, 8-bit) named after the folder's photos
  (``SegmentationClass/2007_000032.png`` for ``2007_000032.jpg``, or ``photo_mask.png``): the
  first of VOC (0-20), ADE20K (0-149) and COCO panoptic whose class ids hold every value found
  (255 is void).

Data beside the folder counts only where it names the folder's photos, so an unrelated dataset,
grey picture or binary mask nearby is no clue. The folder, its subfolders, its siblings and
theirs are looked at, a bounded number of names and files each, so a folder of 100,000 photos
costs milliseconds. Nothing here raises: an unreadable file is no clue.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from segstudio.core.palette import Palette, builtin_palette
from segstudio.io.datasets import DatasetError, categories_palette, coco_categories
from segstudio.io.images import ImageReadError
from segstudio.io.png_encode import GREY, INDEXED, PNG_SIGNATURE
from segstudio.io.semantic_png import SEMANTIC_VOID, read_label_values

MAX_NAMES = 500
"""Directory entries looked at per folder."""
MAX_FOLDERS = 24
MAX_JSON_FILES = 4
MAX_LABEL_PNGS = 6
WHOLE_JSON_BYTES = 32 << 20
"""A bigger JSON file is read in part: its head for the images, its tail for the categories
(COCO writes ``images`` before ``annotations`` and ``categories`` last)."""
JSON_PART_BYTES = 4 << 20
VALUE_PALETTES = ("voc", "ade20k", "coco-panoptic")
"""Tried in this order for label PNG values: the first whose ids hold them all."""
SKIPPED_FOLDERS = frozenset({".segstudio", ".git", "__pycache__"})
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
FILE_NAME = re.compile(r'"file_name"\s*:\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class PaletteGuess:
    """The classes the data points to, and the clue in words (for the status bar)."""

    palette: Palette
    reason: str


@dataclass
class _Surroundings:
    """The files of the folder and its subfolders (``own``) and of its siblings and theirs."""

    folder: Path
    own: list[Path] = field(default_factory=list)
    near: list[Path] = field(default_factory=list)
    photos: dict[str, set[Path]] = field(default_factory=dict)
    """The folder's images by stem."""

    @property
    def photo_names(self) -> set[str]:
        return {path.name for paths in self.photos.values() for path in paths}


def guess_palette(folder: Path) -> PaletteGuess | None:
    """The palette ``folder``'s data says it uses (see the module notes), or None."""
    around = _surroundings(Path(folder))
    return _cityscapes(around) or _coco_json(around) or _label_values(around)


def _surroundings(folder: Path) -> _Surroundings:
    around = _Surroundings(folder)
    own = [folder, *_subfolders(folder)]
    near: list[Path] = []
    for sibling in _subfolders(folder.parent) if folder.parent != folder else []:
        if sibling != folder:
            near += [sibling, *_subfolders(sibling)]
    around.own = list(_files(own[:MAX_FOLDERS]))
    around.near = list(_files(near[: max(0, MAX_FOLDERS - len(own))]))
    for path in around.own:
        if path.parent == folder and path.suffix.lower() in PHOTO_SUFFIXES:
            around.photos.setdefault(path.stem, set()).add(path)
    return around


def _entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as scan:
            for count, entry in enumerate(scan):
                if count >= MAX_NAMES:
                    return
                yield entry
    except OSError:
        return


def _subfolders(folder: Path) -> list[Path]:
    found = []
    for entry in _entries(folder):
        try:
            if entry.is_dir() and entry.name not in SKIPPED_FOLDERS:
                found.append(Path(entry.path))
        except OSError:
            continue
    return sorted(found)


def _files(places: Sequence[Path]) -> Iterator[Path]:
    for place in places:
        names = []
        for entry in _entries(place):
            try:
                if entry.is_file():
                    names.append(Path(entry.path))
            except OSError:
                continue
        yield from sorted(names)


def _cityscapes(around: _Surroundings) -> PaletteGuess | None:
    for path in around.own:
        if path.name.endswith("_leftImg8bit.png") or "_gtFine_" in path.name:
            clue = "_leftImg8bit.png" if path.name.endswith("_leftImg8bit.png") else "_gtFine_"
            return PaletteGuess(builtin_palette("cityscapes"), f"Cityscapes file names (*{clue}*)")
    return None


def _coco_json(around: _Surroundings) -> PaletteGuess | None:
    own = [path for path in around.own if path.parent == around.folder]
    candidates = [path for path in [*own, *around.near] if path.suffix.lower() == ".json"]
    for path in candidates[:MAX_JSON_FILES]:
        categories, file_names = _coco_parts(path)
        if not categories or (path not in own and not file_names & around.photo_names):
            continue
        try:
            checked = coco_categories({"categories": categories}, path)
            things = not any("isthing" in entry for entry in checked)  # instances: every class an object
            palette = categories_palette(checked, path.stem, path, things_by_default=things)
        except DatasetError:
            continue
        coco = builtin_palette("coco-panoptic")
        if [(c.id, c.name) for c in palette] == [(c.id, c.name) for c in coco]:
            palette = coco
        return PaletteGuess(palette, f"the categories of {path.name} ({len(palette)} classes)")
    return None


def _coco_parts(path: Path) -> tuple[list[Any] | None, set[str]]:
    """A COCO file's ``categories`` and the base names of its images' ``file_name``s; a big
    file's from its head and tail only. (None, {}) for anything else."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            if size <= WHOLE_JSON_BYTES:
                return _whole_coco(json.loads(file.read()))
            head = file.read(JSON_PART_BYTES).decode("utf-8", errors="replace")
            file.seek(size - JSON_PART_BYTES)
            tail = file.read().decode("utf-8", errors="replace")
    except (OSError, ValueError, RecursionError):
        return None, set()
    names = {_base_name(json.loads(f'"{name}"')) for name in FILE_NAME.findall(head)}
    return _tail_categories(tail), names


def _whole_coco(data: Any) -> tuple[list[Any] | None, set[str]]:
    if not isinstance(data, Mapping) or not isinstance(data.get("categories"), list):
        return None, set()
    images = data.get("images")
    names = {
        _base_name(image["file_name"])
        for image in (images if isinstance(images, list) else [])
        if isinstance(image, Mapping) and isinstance(image.get("file_name"), str)
    }
    return data["categories"], names


def _base_name(file_name: str) -> str:
    return PureWindowsPath(PurePosixPath(file_name).name).name


def _tail_categories(tail: str) -> list[Any] | None:
    at = tail.rfind('"categories"')
    start = tail.find("[", at)
    if at < 0 or start < 0 or tail[at + len('"categories"') : start].strip() != ":":
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(tail, start)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, list) else None


def _is_label_png(path: Path) -> bool:
    """An 8-bit (or less) grey or indexed PNG: a label map, not a photo (nor a 16-bit depth map)."""
    try:
        with path.open("rb") as file:
            head = file.read(26)
    except OSError:
        return False
    return (
        len(head) == 26 and head.startswith(PNG_SIGNATURE) and head[24] <= 8 and head[25] in (GREY, INDEXED)
    )


def _named_after(path: Path, photos: Mapping[str, set[Path]]) -> bool:
    """``path`` is named as another image of the folder, or so with a suffix (``photo_mask.png``,
    ``photo-label.png`` for ``photo.jpg``)."""
    stem = path.stem
    names = [stem, *(stem.rsplit(mark, 1)[0] for mark in "_-." if mark in stem)]
    return any(photos.get(name, set()) - {path} for name in names)


def _label_values(around: _Surroundings) -> PaletteGuess | None:
    pngs = (path for path in [*around.own, *around.near] if path.suffix.lower() == ".png")
    labels = []
    for path in pngs:
        if _named_after(path, around.photos) and _is_label_png(path):
            labels.append(path)
            if len(labels) == MAX_LABEL_PNGS:
                break
    seen: set[int] = set()
    for path in labels:
        try:
            seen.update(int(v) for v in np.unique(read_label_values(path)))
        except ImageReadError:
            continue
    seen.discard(SEMANTIC_VOID)
    if not seen:
        return None
    where = labels[0].parent.name or str(labels[0].parent)
    values = f"values {min(seen)}-{max(seen)}" if len(seen) > 1 else f"value {min(seen)}"
    for name in VALUE_PALETTES:
        palette = builtin_palette(name)
        if seen <= set(palette.ids):
            return PaletteGuess(palette, f"label PNGs in {where}/ hold {values}, all {name} class ids")
    return None
