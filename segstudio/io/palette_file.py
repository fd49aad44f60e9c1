"""Custom palettes as JSON files, and ``--palette NAME|FILE`` resolution.

Two layouts are read: segstudio's own (``Palette.to_dict``: ``name``, ``void_color``,
``classes``) and COCO-style category lists (a bare list like ``panoptic_coco_categories.json``,
or an annotation file's ``categories``). Every error names the file first, then the entry,
so a user can fix a hand-edited palette without guessing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segstudio.core.palette import BUILTIN_PALETTES, Palette, PaletteError, builtin_palette
from segstudio.io.atomic import atomic_write_json
from segstudio.io.datasets import read_json


def palette_from_json(data: Any, default_name: str) -> Palette:
    """Build a palette from parsed JSON in either accepted layout."""
    if isinstance(data, list):
        return Palette.from_categories(data, default_name)
    if isinstance(data, Mapping) and "classes" not in data and isinstance(data.get("categories"), list):
        return Palette.from_categories(data["categories"], default_name)
    if isinstance(data, Mapping) and "name" not in data:
        data = {**data, "name": default_name}
    return Palette.from_dict(data)


def load_palette(path: str | os.PathLike[str]) -> Palette:
    """Read and validate a palette file; a file without a ``name`` is named after its stem."""
    source = Path(path)
    data = read_json(source, PaletteError)
    try:
        palette = palette_from_json(data, source.stem)
    except PaletteError as exc:
        raise PaletteError(f"{source}: {exc}") from exc
    if not len(palette):
        raise PaletteError(f"{source}: the palette has no classes")
    return palette


def save_palette(palette: Palette, path: str | os.PathLike[str]) -> None:
    """Write ``palette`` in segstudio's JSON layout, atomically (never a half-written file)."""
    atomic_write_json(path, palette.to_dict())


def resolve_palette(name_or_path: str | os.PathLike[str]) -> Palette:
    """A built-in palette by name, else a palette file; what ``--palette NAME|FILE`` accepts.

    Built-in names win; a file that happens to be called ``voc`` is reached as ``./voc``.
    """
    text = os.fspath(name_or_path)
    if text in BUILTIN_PALETTES:
        return builtin_palette(text)
    path = Path(text)
    if path.suffix.lower() == ".json" or path.exists():
        return load_palette(path)
    raise PaletteError(
        f"{text!r} is neither a built-in palette ({', '.join(BUILTIN_PALETTES)}) nor a palette file"
    )
