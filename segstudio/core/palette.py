"""Classes and palettes: each class has an id, a name, an RGB colour and a thing/stuff flag.

A palette is the project's list of classes. It is validated on construction so that a bad
custom palette is refused with a message naming the offending entry, never half-loaded.
The built-in palettes (PASCAL VOC, Cityscapes, ADE20K, COCO panoptic) reproduce their public
definitions exactly; ``segstudio/core/palettes/README.md`` names the source of each table.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np

from segstudio.core.labels import VOID

Color = tuple[int, int, int]
BACKGROUND_NAMES = frozenset({"background", "unlabeled", "unlabelled", "void", "ignore"})
"""Class names (case and surrounding underscores aside) of background classes."""


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


def _is_int(value: object) -> bool:
    """JSON integers only: ``True`` and ``1.0`` are not class ids or colour components."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_color(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and all(_is_int(c) and 0 <= c <= 255 for c in value)
    )


def _check_class(c: ClassDef, where: str) -> None:
    """Value checks shared by JSON palettes and palettes built in code."""
    if not _is_int(c.id) or not 0 <= c.id < VOID:
        raise PaletteError(f"{where}: id {c.id!r} must be an integer in 0..{VOID - 1}")
    if not isinstance(c.name, str) or not c.name.strip():
        raise PaletteError(f"{where}: name must be a non-empty string")
    if not _is_color(c.color):
        raise PaletteError(f"{where}: color {c.color!r} must be three integers in 0..255")
    if not isinstance(c.isthing, int) or c.isthing not in (0, 1):
        raise PaletteError(f"{where}: isthing {c.isthing!r} must be a bool")
    if not isinstance(c.supercategory, str):
        raise PaletteError(f"{where}: supercategory must be a string")


def _class_from_dict(entry: Any, index: int) -> ClassDef:
    """Shape checks of one JSON class object; value checks follow in ``Palette.__init__``."""
    where = f"class #{index}"
    if not isinstance(entry, Mapping):
        raise PaletteError(f"{where}: expected an object, got {type(entry).__name__}")
    if "name" in entry:
        where = f"class #{index} ({entry['name']!r})"
    for key in ("id", "name", "color"):
        if key not in entry:
            raise PaletteError(f"{where}: missing field {key!r}")
    color = entry["color"]
    if not _is_color(color):
        raise PaletteError(f"{where}: color {color!r} must be three integers in 0..255")
    isthing = entry.get("isthing", 0)
    if isinstance(isthing, bool):
        isthing = int(isthing)
    if not _is_int(isthing) or isthing not in (0, 1):
        raise PaletteError(f"{where}: isthing {isthing!r} must be 0 or 1")
    return ClassDef(
        entry["id"],
        entry["name"],
        (color[0], color[1], color[2]),
        bool(isthing),
        entry.get("supercategory", ""),
    )


class Palette:
    """An ordered, validated, immutable list of classes with unique ids and names.

    Immutable because built-in palettes are cached and shared by every caller.
    """

    __slots__ = ("_name", "_classes", "_void_color", "_by_id", "_by_name")

    def __init__(self, name: str, classes: Iterable[ClassDef], void_color: Color = (0, 0, 0)) -> None:
        if not isinstance(name, str) or not name.strip():
            raise PaletteError(f"palette name {name!r} must be a non-empty string")
        if not _is_color(void_color):
            raise PaletteError(f"void_color {void_color!r} must be three integers in 0..255")
        self._name = name
        self._classes: tuple[ClassDef, ...] = tuple(classes)
        self._void_color: Color = (void_color[0], void_color[1], void_color[2])
        index_of_id: dict[int, int] = {}
        index_of_name: dict[str, int] = {}
        for i, c in enumerate(self._classes):
            where = f"class #{i} ({getattr(c, 'name', None)!r})"
            if not isinstance(c, ClassDef):
                raise PaletteError(f"class #{i}: expected a ClassDef, got {type(c).__name__}")
            _check_class(c, where)
            if c.id in index_of_id:
                j = index_of_id[c.id]
                other = self._classes[j].name
                raise PaletteError(f"{where}: duplicate id {c.id} (also used by class #{j} ({other!r}))")
            if c.name in index_of_name:
                raise PaletteError(f"{where}: duplicate name (also used by class #{index_of_name[c.name]})")
            index_of_id[c.id] = i
            index_of_name[c.name] = i
        self._by_id = {c.id: c for c in self._classes}
        self._by_name = {c.name: c for c in self._classes}

    @property
    def name(self) -> str:
        return self._name

    @property
    def classes(self) -> tuple[ClassDef, ...]:
        return self._classes

    @property
    def void_color(self) -> Color:
        """Colour drawn for VOID pixels (e.g. VOC's 255 border is (224, 224, 192))."""
        return self._void_color

    def __iter__(self) -> Iterator[ClassDef]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __contains__(self, class_id: object) -> bool:
        return class_id in self._by_id

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Palette)
            and self._name == other._name
            and self._classes == other._classes
            and self._void_color == other._void_color
        )

    def __hash__(self) -> int:
        return hash((self._name, self._classes, self._void_color))

    def __repr__(self) -> str:
        return f"Palette({self._name!r}, {len(self._classes)} classes)"

    def __getitem__(self, class_id: int) -> ClassDef:
        return self._by_id[class_id]

    def by_name(self, name: str) -> ClassDef:
        return self._by_name[name]

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self._classes]

    @property
    def thing_ids(self) -> set[int]:
        return {c.id for c in self._classes if c.isthing}

    @property
    def background_ids(self) -> frozenset[int]:
        """Classes that mean "nothing in particular" (VOC's background, labelme's _background_,
        Cityscapes' unlabeled): overlays leave the photo clear there unless asked."""
        return frozenset(c.id for c in self._classes if c.name.strip("_ ").casefold() in BACKGROUND_NAMES)

    def color_lut(self, alpha: int = 255, void_alpha: int = 0) -> np.ndarray:
        """A (VOID + 1, 4) uint8 RGBA table indexed by category value; unknown ids and VOID are clear."""
        lut = np.zeros((VOID + 1, 4), np.uint8)
        for c in self._classes:
            lut[c.id] = (*c.color, alpha)
        lut[VOID] = (*self._void_color, void_alpha)
        return lut

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self._name,
            "void_color": list(self._void_color),
            "classes": [c.to_dict() for c in self._classes],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Palette:
        """Validate and build a palette from its JSON form; raises PaletteError naming the entry."""
        if not isinstance(data, Mapping):
            raise PaletteError(f"a palette must be an object, got {type(data).__name__}")
        if "classes" not in data or not isinstance(data["classes"], list):
            raise PaletteError("a palette needs a list field 'classes'")
        void = data.get("void_color", [0, 0, 0])
        if not _is_color(void):
            raise PaletteError(f"void_color {void!r} must be three integers in 0..255")
        classes = [_class_from_dict(entry, i) for i, entry in enumerate(data["classes"])]
        return cls(data.get("name", "custom"), classes, (void[0], void[1], void[2]))

    @classmethod
    def from_categories(cls, categories: Any, name: str, void_color: Color = (0, 0, 0)) -> Palette:
        """Build a palette from a COCO-style category list (``panoptic_coco_categories.json``)."""
        if not isinstance(categories, list):
            raise PaletteError(f"a category list must be a list, got {type(categories).__name__}")
        return cls(name, [_class_from_dict(entry, i) for i, entry in enumerate(categories)], void_color)


# --- built-in palettes -------------------------------------------------------------------------


def voc_color_map(n: int = 256) -> np.ndarray:
    """The PASCAL VOC devkit's ``labelcolormap``: bits of the label spread over R, G, B from the top.

    Index 0..20 are the VOC classes and 255 (the "void" border) is (224, 224, 192).
    """
    cmap = np.zeros((n, 3), np.uint8)
    for index in range(n):
        rgb = [0, 0, 0]
        label = index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((label >> channel) & 1) << shift
            label >>= 3
        cmap[index] = rgb
    return cmap


VOC_VOID_INDEX = 255
"""Label value of the "void" border in VOC PNGs."""

_VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip

# cityscapesScripts helpers/labels.py, the 19 evaluated classes in trainId order:
# (name, labelId, category, hasInstances, color)
_CITYSCAPES_LABELS: tuple[tuple[str, int, str, bool, Color], ...] = (
    ("road", 7, "flat", False, (128, 64, 128)),
    ("sidewalk", 8, "flat", False, (244, 35, 232)),
    ("building", 11, "construction", False, (70, 70, 70)),
    ("wall", 12, "construction", False, (102, 102, 156)),
    ("fence", 13, "construction", False, (190, 153, 153)),
    ("pole", 17, "object", False, (153, 153, 153)),
    ("traffic light", 19, "object", False, (250, 170, 30)),
    ("traffic sign", 20, "object", False, (220, 220, 0)),
    ("vegetation", 21, "nature", False, (107, 142, 35)),
    ("terrain", 22, "nature", False, (152, 251, 152)),
    ("sky", 23, "sky", False, (70, 130, 180)),
    ("person", 24, "human", True, (220, 20, 60)),
    ("rider", 25, "human", True, (255, 0, 0)),
    ("car", 26, "vehicle", True, (0, 0, 142)),
    ("truck", 27, "vehicle", True, (0, 0, 70)),
    ("bus", 28, "vehicle", True, (0, 60, 100)),
    ("train", 31, "vehicle", True, (0, 80, 100)),
    ("motorcycle", 32, "vehicle", True, (0, 0, 230)),
    ("bicycle", 33, "vehicle", True, (119, 11, 32)),
)

CITYSCAPES_TRAIN_ID_TO_LABEL_ID: Mapping[int, int] = MappingProxyType(
    {train_id: row[1] for train_id, row in enumerate(_CITYSCAPES_LABELS)}
)
"""Cityscapes train id (the palette's class id) -> official labelId, as the benchmark expects."""

CITYSCAPES_IGNORE_ID = 255
"""Train id of every label not evaluated (cityscapesScripts' ``trainId`` 255)."""


def _voc() -> Palette:
    cmap = voc_color_map()
    classes = [
        ClassDef(i, name, (int(cmap[i, 0]), int(cmap[i, 1]), int(cmap[i, 2])), isthing=i != 0)
        for i, name in enumerate(_VOC_CLASSES)
    ]
    v = cmap[VOC_VOID_INDEX]
    return Palette("voc", classes, (int(v[0]), int(v[1]), int(v[2])))


def _cityscapes() -> Palette:
    classes = [
        ClassDef(train_id, name, color, has_instances, category)
        for train_id, (name, _, category, has_instances, color) in enumerate(_CITYSCAPES_LABELS)
    ]
    return Palette("cityscapes", classes)


def _packaged_json(filename: str) -> Any:
    """Read one of the palette tables shipped as package data in ``segstudio/core/palettes``."""
    return json.loads(resources.files(__package__).joinpath(f"palettes/{filename}").read_text("utf-8"))


def _ade20k() -> Palette:
    return Palette.from_dict(_packaged_json("ade20k.json"))


def _coco_panoptic() -> Palette:
    return Palette.from_categories(_packaged_json("coco_panoptic.json"), "coco-panoptic")


_BUILDERS = {"voc": _voc, "cityscapes": _cityscapes, "ade20k": _ade20k, "coco-panoptic": _coco_panoptic}

BUILTIN_PALETTES: tuple[str, ...] = tuple(_BUILDERS)
"""Names accepted by ``builtin_palette`` (and by ``--palette NAME`` on the command line)."""


@functools.cache
def builtin_palette(name: str) -> Palette:
    """The built-in palette ``name``; built once and shared (palettes are immutable)."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise PaletteError(
            f"unknown built-in palette {name!r}; choose one of {', '.join(BUILTIN_PALETTES)}"
        ) from None
    return builder()
