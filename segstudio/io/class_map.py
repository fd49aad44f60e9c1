"""Class-map files: which palette class each of a model's output classes becomes (issue 5).

A model's classes are matched onto a project's palette by name (case-insensitively, directly or
through ``CLASS_NAME_ALIASES`` in either direction). A class-map file edits that rule per model::

    {"format": "segstudio-class-map", "version": 1, "model": "deeplabv3_resnet50",
     "map": {"sofa": "chair", "tvmonitor": null}}

A model class named in ``map`` becomes the named palette class (``null``: it stays unlabelled,
VOID); every other class falls back to the by-name rule. A project keeps one file per model in
``PROJECT/models/class-maps/MODEL.json``. Read for a model, a file whose ``model`` names another
model is refused: a map copied from another model's file would silently apply to the wrong classes.
Pure Python (no Qt, no torch): the GUI's dialog, the model service and
``segstudio predict --class-map`` all use it. Errors name the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segstudio.core.labels import VOID
from segstudio.core.model_records import PROJECT_MODELS_DIR
from segstudio.core.palette import Palette
from segstudio.io.atomic import atomic_write_json
from segstudio.io.datasets import read_json
from segstudio.io.safe_files import printable

CLASS_MAP_FORMAT = "segstudio-class-map"
CLASS_MAP_VERSION = 1
CLASS_MAPS_DIR = "class-maps"
"""Inside ``PROJECT/models``: ``PROJECT/models/class-maps/MODEL.json``."""

CLASS_NAME_ALIASES: dict[str, str] = {
    "__background__": "background",
    "aeroplane": "airplane",
    "diningtable": "dining table",
    "motorbike": "motorcycle",
    "pottedplant": "potted plant",
    "sofa": "couch",
    "tvmonitor": "tv",
}
"""Model class name -> palette class name, used both ways by the by-name rule (VOC <-> COCO)."""

Overrides = Mapping[str, "str | None"]


class ClassMapError(ValueError):
    """A class-map file that cannot be read or does not fit the palette (the message names the file)."""


@dataclass(frozen=True)
class ClassMap:
    """One model's edits of the by-name rule: model class name -> palette class name or None."""

    model: str
    map: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CLASS_MAP_FORMAT,
            "version": CLASS_MAP_VERSION,
            "model": self.model,
            "map": dict(self.map),
        }


def class_map_path(project_root: str | os.PathLike[str], model: str) -> Path:
    """Where the project at ``project_root`` keeps the class map of ``model``.

    Model names come from checkpoints, which anyone can write: a name that is not a plain file
    name (``../x``, ``a/b``, ``..``) is refused, so a map is never read or written outside
    ``PROJECT/models/class-maps``.
    """
    folder = Path(project_root) / PROJECT_MODELS_DIR / CLASS_MAPS_DIR
    name = f"{model}.json"
    if not model or "/" in model or "\\" in model or model in (".", "..") or "\0" in model:
        raise ClassMapError(
            f"model name {printable(model)!r} cannot name a class-map file in {folder} "
            "(it would lead outside it); rename the model"
        )
    return folder / name


def _palette_ids(palette: Palette) -> dict[str, int]:
    return {c.name.lower(): c.id for c in palette}


def check_palette(class_map: ClassMap, palette: Palette, source: object) -> None:
    """Raise ``ClassMapError`` (naming ``source`` and the class) for a target not in ``palette``."""
    ids = _palette_ids(palette)
    for model_class, target in class_map.map.items():
        if target is not None and target.lower() not in ids:
            raise ClassMapError(
                f"{source}: model class {model_class!r} maps to {target!r}, "
                f"which is not a class of the palette {palette.name!r}"
            )


def class_map_from_json(data: Any, source: object, default_model: str = "") -> ClassMap:
    """Validate parsed JSON; errors name ``source`` (the file)."""
    if not isinstance(data, Mapping):
        raise ClassMapError(f"{source}: a class map is a JSON object, got {type(data).__name__}")
    if data.get("format") != CLASS_MAP_FORMAT:
        raise ClassMapError(f"{source}: not a class map (format should be {CLASS_MAP_FORMAT!r})")
    version = data.get("version")
    if version != CLASS_MAP_VERSION:
        raise ClassMapError(
            f"{source}: class map version {version!r} is not supported "
            f"(this version reads {CLASS_MAP_VERSION})"
        )
    model = data.get("model", default_model)
    if not isinstance(model, str):
        raise ClassMapError(f"{source}: 'model' should be a model name, got {model!r}")
    raw = data.get("map", {})
    if not isinstance(raw, Mapping):
        raise ClassMapError(f"{source}: 'map' should be an object of model class -> palette class")
    entries: dict[str, str | None] = {}
    for key, value in raw.items():
        if value is not None and not isinstance(value, str):
            raise ClassMapError(
                f"{source}: model class {key!r} maps to {value!r}; give a palette class name or null"
            )
        entries[str(key)] = value
    return ClassMap(model, entries)


def _check_model(data: Mapping[str, Any], model: str, source: object) -> None:
    """Raise ``ClassMapError`` (naming ``source`` and both models) when the validated file's
    ``model`` field is present and is not ``model``, the model the file is read for."""
    written_for = data.get("model")
    if written_for is not None and written_for != model:
        raise ClassMapError(
            f"{source}: this class map is for model {written_for!r}, not {model!r} "
            f"(map {model!r}'s classes in its own file, or set 'model' to {model!r})"
        )


def read_class_map(
    path: str | os.PathLike[str], palette: Palette | None = None, model: str | None = None
) -> ClassMap:
    """Read a class-map file; with ``palette``, every target must be one of its classes; with
    ``model``, a ``model`` field in the file must name it."""
    source = Path(path)
    data = read_json(source, ClassMapError)
    class_map = class_map_from_json(data, source, source.stem if model is None else model)
    if model is not None:
        _check_model(data, model, source)
    if palette is not None:
        check_palette(class_map, palette, source)
    return class_map


def write_class_map(
    path: str | os.PathLike[str], class_map: ClassMap, palette: Palette | None = None
) -> None:
    """Write atomically; with ``palette``, refuse (naming the file) a target not in it."""
    if palette is not None:
        check_palette(class_map, palette, Path(path))
    atomic_write_json(path, class_map.to_json())


def project_class_map(
    project_root: str | os.PathLike[str], model: str, palette: Palette | None = None
) -> ClassMap | None:
    """The project's class map of ``model``, or None when it has none."""
    path = class_map_path(project_root, model)
    return read_class_map(path, palette, model) if path.is_file() else None


def palette_names(
    class_names: Sequence[str],
    palette: Palette,
    overrides: Overrides | None = None,
    aliases: Mapping[str, str] | None = None,
) -> list[str | None]:
    """The palette class name each model class becomes (None: unlabelled).

    ``overrides`` (model class name -> palette class name or None, case-insensitive keys) come
    first; other classes match by name, directly or through ``aliases`` (default
    ``CLASS_NAME_ALIASES``) in either direction. An override naming no palette class raises
    ``ClassMapError``.
    """
    by_id = {c.id: c.name for c in palette}
    return [None if i == VOID else by_id[i] for i in class_ids(class_names, palette, overrides, aliases)]


def class_ids(
    class_names: Sequence[str],
    palette: Palette,
    overrides: Overrides | None = None,
    aliases: Mapping[str, str] | None = None,
) -> list[int]:
    """The palette id of each model class (VOID: unlabelled); the rule of :func:`palette_names`."""
    aliases = CLASS_NAME_ALIASES if aliases is None else aliases
    synonyms: dict[str, set[str]] = {}
    for left, right in aliases.items():
        synonyms.setdefault(left.lower(), set()).add(right.lower())
        synonyms.setdefault(right.lower(), set()).add(left.lower())
    ids = _palette_ids(palette)
    edits = {key.lower(): value for key, value in (overrides or {}).items()}
    result = []
    for name in class_names:
        key = name.lower()
        if key in edits:
            target = edits[key]
            if target is None:
                result.append(VOID)
            elif target.lower() in ids:
                result.append(ids[target.lower()])
            else:
                raise ClassMapError(
                    f"model class {name!r} maps to {target!r}, "
                    f"which is not a class of the palette {palette.name!r}"
                )
            continue
        for candidate in (key, *sorted(synonyms.get(key, ()))):
            if candidate in ids:
                result.append(ids[candidate])
                break
        else:
            result.append(VOID)
    return result
