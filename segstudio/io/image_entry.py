"""One image of a project (its entry in the index), its labelling state and the id rules.

Ids name files (``labels/<id>.npz``), so every id read from an index, old or new, is checked here
before it is used: a crafted index cannot make the project read or write outside its folders.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

MAX_ID_BYTES = 120  # leaves room for ".<id>.npz.<token>.tmp" within the usual 255-byte name limit
_UNSAFE_ID_CHARS = re.compile(r'[\x00-\x1f<>:"/\\|?*]')


class ProjectError(Exception):
    """The project folder cannot be used as asked; the message names the file and the problem."""


class ImageState(StrEnum):
    """How far an image has come through labelling."""

    UNLABELLED = "unlabelled"
    PRELABELLED = "prelabelled"
    EDITED = "edited"
    REVIEWED = "reviewed"


@dataclass
class ImageEntry:
    """One image of the project; ``file`` and ``depth`` are relative to the root when inside it.

    A snapshot of the index: change the state with ``Project.set_state``, not on the entry.
    """

    id: str
    file: str
    width: int
    height: int
    state: ImageState
    depth: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    """The image's entry in the dataset it was imported from (e.g. a COCO ``images`` item), kept
    so that an export gives back the same image ids, file names and extra fields."""

    def row(self) -> tuple[Any, ...]:
        """The index row (``project_store.IMAGE_COLUMNS``)."""
        source = json.dumps(self.source, ensure_ascii=False) if self.source else None
        return (self.id, self.file, self.width, self.height, ImageState(self.state).value, self.depth, source)


def id_problem(image_id: object) -> str | None:
    """Why ``image_id`` cannot name files on every platform, or None if it can."""
    if not isinstance(image_id, str) or not image_id:
        return "must be a non-empty string"
    if _UNSAFE_ID_CHARS.search(image_id):
        return r'must not contain control characters or any of <>:"/\|?*'
    if image_id.startswith(".") or image_id != image_id.rstrip(" .") or image_id != image_id.lstrip():
        return "must not start with a dot or space, nor end with a dot or space"
    if len(image_id.encode("utf-8")) > MAX_ID_BYTES:
        return f"is longer than {MAX_ID_BYTES} bytes"
    return None


def id_from_name(file_name: str) -> str:
    """A file-safe id from an image's file name: the name less its last suffix ("a.b.png" -> "a.b")."""
    stem = _UNSAFE_ID_CHARS.sub("_", Path(file_name).stem).strip(" .")
    stem = stem.encode("utf-8")[:MAX_ID_BYTES].decode("utf-8", errors="ignore").strip(" .")
    return stem or "image"


def positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def checked_entry(raw: dict[str, Any], where: str) -> ImageEntry:
    """An entry from stored fields, refused (ProjectError starting with ``where``) when any is bad."""
    problem = id_problem(raw.get("id"))
    if problem:
        raise ProjectError(f"{where}: id {raw.get('id')!r} {problem}")
    where = f"{where}: image {raw['id']!r}"
    if not isinstance(raw.get("file"), str) or not raw["file"]:
        raise ProjectError(f"{where}: 'file' must be a non-empty path")
    for key in ("width", "height"):
        if not positive_int(raw.get(key)):
            raise ProjectError(f"{where}: {key!r} must be a positive integer, got {raw.get(key)!r}")
    try:
        state = ImageState(raw.get("state"))
    except ValueError:
        known = ", ".join(s.value for s in ImageState)
        raise ProjectError(f"{where}: unknown state {raw.get('state')!r} (expected one of {known})") from None
    depth = raw.get("depth")
    if depth is not None and (not isinstance(depth, str) or not depth):
        raise ProjectError(f"{where}: 'depth' must be a path or absent")
    source = raw.get("source")
    source = {} if source is None else source
    if not isinstance(source, dict):
        raise ProjectError(f"{where}: 'source' must be an object or absent")
    return ImageEntry(raw["id"], raw["file"], raw["width"], raw["height"], state, depth, source)
