"""Which classes a folder of images was labelled with, where its data says so.

A new project for an image folder should get the classes of its dataset, not merely those used
last. The clues, strongest first:

- Cityscapes file names (``*_leftImg8bit.png`` photos, ``*_gtFine_*`` labels): ``cityscapes``;
- a COCO annotation file (panoptic or instances) beside the photos: its ``categories`` (the
  built-in ``coco-panoptic`` when they are exactly its 133);
- one-channel label PNGs (grey or indexed, 8-bit) named after the photos (``2007_000032.png``
  for ``2007_000032.jpg``, or ``photo_mask.png``): the first of VOC (0-20), ADE20K (0-149) and
  COCO panoptic whose class ids hold every value found (255 is void). Only masks named after
  the photos count, so an unrelated grey picture or binary mask nearby is no clue.

The folder, its subfolders and its siblings are looked at, a bounded number of names and files
each, so a folder of 100,000 photos costs milliseconds. Nothing here raises: unreadable files
are no clue.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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
"""A bigger JSON file is searched for its categories in its tail only (COCO puts them last)."""
JSON_TAIL_BYTES = 4 << 20
VALUE_PALETTES = ("voc", "ade20k", "coco-panoptic")
"""Tried in this order for label PNG values: the first whose ids hold them all."""
SKIPPED_FOLDERS = frozenset({".segstudio", ".git", "__pycache__"})
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class PaletteGuess:
    """The classes the data points to, and the clue in words (for the status bar)."""

    palette: Palette
    reason: str


def guess_palette(folder: Path) -> PaletteGuess | None:
    """The palette ``folder``'s data says it uses (see the module notes), or None."""
    folder = Path(folder)
    files = list(_files(_places(folder)))
    photos = {path.stem for path in files if path.parent == folder and path.suffix.lower() in PHOTO_SUFFIXES}
    return _cityscapes(files) or _coco_json(files) or _label_values(files, photos)


def _places(folder: Path) -> list[Path]:
    """The folder, its subfolders, its parent's other subfolders (a VOC ``SegmentationClass`` or a
    COCO ``annotations`` beside the photos) and their subfolders, at most ``MAX_FOLDERS``."""
    places = [folder, *_subfolders(folder)]
    for sibling in _subfolders(folder.parent) if folder.parent != folder else []:
        if sibling != folder:
            places += [sibling, *_subfolders(sibling)]
    return places[:MAX_FOLDERS]


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


def _cityscapes(files: Sequence[Path]) -> PaletteGuess | None:
    for path in files:
        if path.name.endswith("_leftImg8bit.png") or "_gtFine_" in path.name:
            clue = "_leftImg8bit.png" if path.name.endswith("_leftImg8bit.png") else "_gtFine_"
            return PaletteGuess(builtin_palette("cityscapes"), f"Cityscapes file names (*{clue}*)")
    return None


def _coco_json(files: Sequence[Path]) -> PaletteGuess | None:
    for path in [p for p in files if p.suffix.lower() == ".json"][:MAX_JSON_FILES]:
        categories = _categories(path)
        if not categories:
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


def _categories(path: Path) -> list[Any] | None:
    """A COCO file's ``categories`` list, read whole when small, else from the file's tail."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            if size <= WHOLE_JSON_BYTES:
                data = json.loads(file.read())
                value = data.get("categories") if isinstance(data, Mapping) else None
                return value if isinstance(value, list) else None
            file.seek(size - JSON_TAIL_BYTES)
            tail = file.read().decode("utf-8", errors="replace")
    except (OSError, ValueError, RecursionError):
        return None
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


def _named_after(stem: str, photos: set[str]) -> bool:
    """``stem`` is a photo's name, or one with a suffix (``photo_mask``, ``photo-label``)."""
    return stem in photos or any(stem.rsplit(mark, 1)[0] in photos for mark in "_-." if mark in stem)


def _label_values(files: Sequence[Path], photos: set[str]) -> PaletteGuess | None:
    named = (path for path in files if path.suffix.lower() == ".png" and _named_after(path.stem, photos))
    labels = []
    for path in named:
        if _is_label_png(path):
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
