"""Classes and palettes: each class has an id, a name, an RGB colour and a thing/stuff flag.

A palette is the project's list of classes. It is validated on construction so that a bad
custom palette is refused with a message naming the offending entry, never half-loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from segstudio.core.labels import VOID

Color = tuple[int, int, int]


class PaletteError(ValueError):
    """A palette definition is invalid; the message names the entry and the problem."""


@dataclass(frozen=True, slots=True)
class ClassDef:
    """One class of a palette."""

    id: int
    name: str
    color: Color
    isthing: bool = False
    supercategory: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "color": list(self.color),
            "isthing": int(self.isthing),
            "supercategory": self.supercategory,
        }


def _class_from_dict(entry: Any, index: int) -> ClassDef:
    where = f"class #{index}"
    if not isinstance(entry, Mapping):
        raise PaletteError(f"{where}: expected an object, got {type(entry).__name__}")
    if "name" in entry:
        where = f"class #{index} ({entry['name']!r})"
    for key in ("id", "name", "color"):
        if key not in entry:
            raise PaletteError(f"{where}: missing field {key!r}")
    class_id = entry["id"]
    if isinstance(class_id, bool) or not isinstance(class_id, int) or not 0 <= class_id < VOID:
        raise PaletteError(f"{where}: id {class_id!r} must be an integer in 0..{VOID - 1}")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise PaletteError(f"{where}: name must be a non-empty string")
    color = entry["color"]
    if (
        not isinstance(color, (list, tuple))
        or len(color) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)
    ):
        raise PaletteError(f"{where}: color {color!r} must be three integers in 0..255")
    isthing = entry.get("isthing", 0)
    if isthing not in (0, 1, True, False):
        raise PaletteError(f"{where}: isthing {isthing!r} must be 0 or 1")
    supercategory = entry.get("supercategory", "")
    if not isinstance(supercategory, str):
        raise PaletteError(f"{where}: supercategory must be a string")
    return ClassDef(class_id, name, (color[0], color[1], color[2]), bool(isthing), supercategory)


class Palette:
    """An ordered, validated list of classes with unique ids and names."""

    def __init__(self, name: str, classes: Iterable[ClassDef], void_color: Color = (0, 0, 0)) -> None:
        self.name = name
        self.classes: tuple[ClassDef, ...] = tuple(classes)
        self.void_color = void_color
        seen_ids: dict[int, str] = {}
        seen_names: set[str] = set()
        for c in self.classes:
            if c.id in seen_ids:
                raise PaletteError(f"class {c.name!r}: duplicate id {c.id} (also used by {seen_ids[c.id]!r})")
            if c.name in seen_names:
                raise PaletteError(f"class {c.name!r}: duplicate name")
            seen_ids[c.id] = c.name
            seen_names.add(c.name)
        self._by_id = {c.id: c for c in self.classes}
        self._by_name = {c.name: c for c in self.classes}

    def __iter__(self) -> Iterator[ClassDef]:
        return iter(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, class_id: object) -> bool:
        return class_id in self._by_id

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Palette)
            and self.name == other.name
            and self.classes == other.classes
            and self.void_color == other.void_color
        )

    def __repr__(self) -> str:
        return f"Palette({self.name!r}, {len(self.classes)} classes)"

    def __getitem__(self, class_id: int) -> ClassDef:
        return self._by_id[class_id]

    def by_name(self, name: str) -> ClassDef:
        return self._by_name[name]

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.classes]

    @property
    def thing_ids(self) -> set[int]:
        return {c.id for c in self.classes if c.isthing}

    def color_lut(self, alpha: int = 255, void_alpha: int = 0) -> np.ndarray:
        """A (VOID + 1, 4) uint8 RGBA table indexed by category value; unknown ids and VOID are clear."""
        lut = np.zeros((VOID + 1, 4), np.uint8)
        for c in self.classes:
            lut[c.id] = (*c.color, alpha)
        lut[VOID] = (*self.void_color, void_alpha)
        return lut

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "void_color": list(self.void_color),
            "classes": [c.to_dict() for c in self.classes],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Palette:
        """Validate and build a palette from its JSON form; raises PaletteError naming the entry."""
        if not isinstance(data, Mapping):
            raise PaletteError(f"a palette must be an object, got {type(data).__name__}")
        if "classes" not in data or not isinstance(data["classes"], list):
            raise PaletteError("a palette needs a list field 'classes'")
        name = data.get("name", "custom")
        if not isinstance(name, str):
            raise PaletteError("palette name must be a string")
        void = data.get("void_color", [0, 0, 0])
        if not (
            isinstance(void, (list, tuple))
            and len(void) == 3
            and all(isinstance(c, int) and 0 <= c <= 255 for c in void)
        ):
            raise PaletteError(f"void_color {void!r} must be three integers in 0..255")
        classes = [_class_from_dict(entry, i) for i, entry in enumerate(data["classes"])]
        return cls(name, classes, (void[0], void[1], void[2]))
