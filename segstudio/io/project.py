"""The project folder: a manifest, saved labels, model predictions and an autosave journal.

Layout::

    project.json          manifest: schema_version, name, palette, images
    labels/<id>.npz       saved labels (see ``label_file`` for the format and why)
    predictions/<id>.npz  model predictions, kept apart from human-corrected labels
    .autosave/<id>.npz    journal of unsaved edits, written often and cheaply

Every write is atomic (temporary sibling, fsync, rename), so a crash leaves the old or the new
file, never a torn one. Data files are looked up by exact name, never by listing a folder, so a
``.<name>.<random>.tmp`` left by a crash is never taken for data. Opening never writes, and a
manifest or label file that cannot be trusted raises ProjectError naming it, touching nothing.

An autosave records the revision token of the saved labels it was made on top of, so "newer than
the saved labels" is decided exactly, with no reliance on file-system timestamps: a crash between
saving labels and deleting the journal entry leaves a stale entry that is not offered for recovery.
The class is not thread-safe: call it from one thread.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from segstudio.core.labels import LabelMap
from segstudio.core.palette import Palette, PaletteError
from segstudio.io.atomic import atomic_write_json
from segstudio.io.images import ImageReadError, image_size, read_depth, read_rgb
from segstudio.io.label_file import (
    LABEL_FILE_SUFFIX,
    LabelFileError,
    StoredLabels,
    read_label_file,
    read_label_tokens,
    write_label_file,
)

SCHEMA_VERSION = 1
MANIFEST_NAME = "project.json"
LABELS_DIR = "labels"
PREDICTIONS_DIR = "predictions"
AUTOSAVE_DIR = ".autosave"

_MAX_ID_BYTES = 120  # leaves room for ".<id>.npz.<random>.tmp" within the usual 255-byte name limit
_UNSAFE_ID_CHARS = re.compile(r'[\x00-\x1f<>:"/\\|?*]')
_AUTOSAVE_COMPRESSLEVEL = 1  # the journal is written often: favour speed over size


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
    """One image of the project; ``file`` and ``depth`` are relative to the root when inside it."""

    id: str
    file: str
    width: int
    height: int
    state: ImageState
    depth: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    """The image's entry in the dataset it was imported from (e.g. a COCO ``images`` item), kept
    so that an export gives back the same image ids, file names and extra fields."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "file": self.file,
            "width": self.width,
            "height": self.height,
            "state": ImageState(self.state).value,
        }
        if self.depth is not None:
            data["depth"] = self.depth
        if self.source:
            data["source"] = self.source
        return data


def _id_problem(image_id: object) -> str | None:
    """Why ``image_id`` cannot name files on every platform, or None if it can."""
    if not isinstance(image_id, str) or not image_id:
        return "must be a non-empty string"
    if _UNSAFE_ID_CHARS.search(image_id):
        return r'must not contain control characters or any of <>:"/\|?*'
    if image_id.startswith(".") or image_id != image_id.rstrip(" .") or image_id != image_id.lstrip():
        return "must not start with a dot or space, nor end with a dot or space"
    if len(image_id.encode("utf-8")) > _MAX_ID_BYTES:
        return f"is longer than {_MAX_ID_BYTES} bytes"
    return None


def _id_from_name(file_name: str) -> str:
    """A file-safe id from an image's file name: the name less its last suffix ("a.b.png" -> "a.b")."""
    stem = _UNSAFE_ID_CHARS.sub("_", Path(file_name).stem).strip(" .")
    stem = stem.encode("utf-8")[:_MAX_ID_BYTES].decode("utf-8", errors="ignore").strip(" .")
    return stem or "image"


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _entry_from_json(raw: object, index: int, manifest: Path) -> ImageEntry:
    where = f"{manifest}: images[{index}]"
    if not isinstance(raw, dict):
        raise ProjectError(f"{where}: expected an object, got {type(raw).__name__}")
    problem = _id_problem(raw.get("id"))
    if problem:
        raise ProjectError(f"{where}: id {raw.get('id')!r} {problem}")
    where = f"{manifest}: image {raw['id']!r}"
    if not isinstance(raw.get("file"), str) or not raw["file"]:
        raise ProjectError(f"{where}: 'file' must be a non-empty path")
    for key in ("width", "height"):
        if not _positive_int(raw.get(key)):
            raise ProjectError(f"{where}: {key!r} must be a positive integer, got {raw.get(key)!r}")
    try:
        state = ImageState(raw.get("state"))
    except ValueError:
        known = ", ".join(s.value for s in ImageState)
        raise ProjectError(f"{where}: unknown state {raw.get('state')!r} (expected one of {known})") from None
    depth = raw.get("depth")
    if depth is not None and (not isinstance(depth, str) or not depth):
        raise ProjectError(f"{where}: 'depth' must be a path or absent")
    source = raw.get("source", {})
    if not isinstance(source, dict):
        raise ProjectError(f"{where}: 'source' must be an object or absent")
    return ImageEntry(raw["id"], raw["file"], raw["width"], raw["height"], state, depth, source)


class _Index:
    """Lookups by id, by case-folded id and by stored file, so large projects stay fast."""

    def __init__(self, images: list[ImageEntry]) -> None:
        self.source = images
        self.by_id = {e.id: e for e in images}
        self.keys = {e.id.casefold() for e in images}
        self.files = {e.file for e in images}

    def add(self, entry: ImageEntry) -> None:
        self.by_id[entry.id] = entry
        self.keys.add(entry.id.casefold())
        self.files.add(entry.file)


class Project:
    """A project folder opened for reading and writing; see the module notes for the layout."""

    def __init__(self, root: str | Path, name: str, palette: Palette, images: list[ImageEntry]) -> None:
        self.root = Path(root).resolve()
        self.name = name
        self.palette = palette
        self.images = images
        self._index_cache: _Index | None = None

    # -- creating and opening -------------------------------------------------------------------

    @classmethod
    def create(cls, root: str | Path, palette: Palette, name: str | None = None) -> Project:
        """Start a project in ``root`` (created if needed; images already there are fine)."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root}: exists and is not a folder")
        manifest = root / MANIFEST_NAME
        if manifest.exists():
            raise ProjectError(f"{manifest}: a project already exists here; open it instead")
        root.mkdir(parents=True, exist_ok=True)
        project = cls(root, name or root.resolve().name, palette, [])
        project.save()
        return project

    @classmethod
    def open(cls, root: str | Path) -> Project:
        """Read a project folder, checking its manifest and that every listed image exists."""
        root = Path(root)
        manifest = root / MANIFEST_NAME
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProjectError(f"{manifest}: not found; {root} is not a segstudio project") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ProjectError(f"{manifest}: corrupt manifest, not valid JSON ({error})") from None
        except OSError as error:
            raise ProjectError(f"{manifest}: cannot read ({error.strerror or error})") from error
        if not isinstance(data, dict):
            raise ProjectError(f"{manifest}: corrupt manifest, expected a JSON object")
        version = data.get("schema_version")
        if not _positive_int(version):
            raise ProjectError(f"{manifest}: missing or invalid schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise ProjectError(
                f"{manifest}: written by a newer segstudio (schema version {version}; this one reads up "
                f"to {SCHEMA_VERSION}); upgrade segstudio to open it"
            )
        name = data.get("name")
        if not isinstance(name, str):
            raise ProjectError(f"{manifest}: 'name' must be a string")
        try:
            palette = Palette.from_dict(data.get("palette"))
        except PaletteError as error:
            raise ProjectError(f"{manifest}: palette: {error}") from error
        raw_images = data.get("images")
        if not isinstance(raw_images, list):
            raise ProjectError(f"{manifest}: 'images' must be a list")
        project = cls(root, name, palette, [])
        index = project._index()
        for position, raw in enumerate(raw_images):
            entry = _entry_from_json(raw, position, manifest)
            if entry.id.casefold() in index.keys:
                raise ProjectError(f"{manifest}: image id {entry.id!r} is listed twice")
            project.images.append(entry)
            index.add(entry)
        project._check_files_exist(manifest)
        return project

    def _check_files_exist(self, manifest: Path) -> None:
        missing = [
            str(path)
            for entry in self.images
            for path in (self.image_path(entry.id), self.depth_path(entry.id))
            if path is not None and not path.is_file()
        ]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ProjectError(f"{manifest}: {len(missing)} listed image file(s) missing: {shown}")

    def save(self) -> None:
        """Write the manifest atomically."""
        atomic_write_json(
            self.root / MANIFEST_NAME,
            {
                "schema_version": SCHEMA_VERSION,
                "name": self.name,
                "palette": self.palette.to_dict(),
                "images": [entry.to_json() for entry in self.images],
            },
        )

    # -- images ---------------------------------------------------------------------------------

    def _index(self) -> _Index:
        """The lookup index, rebuilt when ``images`` was replaced or changed length behind our back."""
        cache = self._index_cache
        if cache is None or cache.source is not self.images or len(cache.by_id) != len(self.images):
            cache = self._index_cache = _Index(self.images)
        return cache

    def _stored_path(self, path: Path) -> str:
        """Relative (POSIX) to the root when inside it, so the folder can move; else absolute."""
        resolved = path.resolve()
        try:
            return resolved.relative_to(self.root).as_posix()
        except ValueError:
            return str(resolved)

    def _resolve(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def add_image(
        self,
        path: str | Path,
        image_id: str | None = None,
        depth: str | Path | None = None,
        dataset_entry: dict[str, Any] | None = None,
    ) -> ImageEntry:
        """List an image (and optionally its 16-bit depth map); call ``save()`` to persist the manifest.

        The id defaults to the file name less its suffix, made unique with ``-2``, ``-3``, ... .
        Only the image header is read. A depth map must have the image's size.
        """
        source = Path(path)
        index = self._index()
        stored = self._stored_path(source)
        if stored in index.files:
            raise ProjectError(f"{source}: already in the project")
        try:
            size = image_size(source)
        except ImageReadError as error:
            raise ProjectError(str(error)) from error
        if image_id is None:
            base = candidate = _id_from_name(source.name)
            suffix = 2
            while candidate.casefold() in index.keys:
                candidate, suffix = f"{base}-{suffix}", suffix + 1
            image_id = candidate
        elif problem := _id_problem(image_id):
            raise ProjectError(f"{source}: image id {image_id!r} {problem}")
        elif image_id.casefold() in index.keys:
            raise ProjectError(f"{source}: image id {image_id!r} is already used (ids ignore case)")
        depth_stored = None
        if depth is not None:
            try:
                depth_shape = read_depth(depth).shape
            except ImageReadError as error:
                raise ProjectError(str(error)) from error
            if depth_shape != size:
                raise ProjectError(
                    f"{depth}: depth map is {depth_shape[1]}x{depth_shape[0]} but image {source} "
                    f"is {size.width}x{size.height}"
                )
            depth_stored = self._stored_path(Path(depth))
        entry = ImageEntry(
            image_id,
            stored,
            size.width,
            size.height,
            ImageState.UNLABELLED,
            depth_stored,
            dict(dataset_entry or {}),
        )
        self.images.append(entry)
        index.add(entry)
        return entry

    def entry(self, image_id: str) -> ImageEntry:
        found = self._index().by_id.get(image_id)
        if found is None or found.id != image_id:  # an entry renamed in place: re-index once
            self._index_cache = None
            found = self._index().by_id.get(image_id)
        if found is None:
            raise ProjectError(f"{self.root / MANIFEST_NAME}: no image with id {image_id!r}")
        return found

    def image_path(self, image_id: str) -> Path:
        return self._resolve(self.entry(image_id).file)

    def depth_path(self, image_id: str) -> Path | None:
        depth = self.entry(image_id).depth
        return None if depth is None else self._resolve(depth)

    def read_image(self, image_id: str) -> np.ndarray:
        """The image as (H, W, 3) uint8 RGB; refused if its size changed since it was added."""
        entry = self.entry(image_id)
        path = self.image_path(image_id)
        try:
            rgb = read_rgb(path)
        except ImageReadError as error:
            raise ProjectError(str(error)) from error
        self._check_size(entry, path, rgb.shape[:2], "image")
        return rgb

    def read_depth(self, image_id: str) -> np.ndarray | None:
        """The depth map as (H, W) uint16 millimetres, or None when the image has none."""
        entry = self.entry(image_id)
        path = self.depth_path(image_id)
        if path is None:
            return None
        try:
            depth = read_depth(path)
        except ImageReadError as error:
            raise ProjectError(str(error)) from error
        self._check_size(entry, path, depth.shape, "depth map")
        return depth

    def _check_size(self, entry: ImageEntry, path: Path, shape: tuple[int, ...], what: str) -> None:
        if tuple(shape) != (entry.height, entry.width):
            raise ProjectError(
                f"{path}: {what} is {shape[1]}x{shape[0]} but image {entry.id!r} is "
                f"{entry.width}x{entry.height} in the project"
            )

    # -- labels, predictions and the autosave journal ------------------------------------------

    def labels_file(self, image_id: str) -> Path:
        return self._data_file(LABELS_DIR, image_id)

    def _data_file(self, folder: str, image_id: str) -> Path:
        return self.root / folder / f"{self.entry(image_id).id}{LABEL_FILE_SUFFIX}"

    def _read(self, image_id: str, path: Path) -> StoredLabels | None:
        """Stored labels checked against the image size; None when the file does not exist."""
        try:
            stored = read_label_file(path)
        except FileNotFoundError:
            return None
        except LabelFileError as error:
            raise ProjectError(str(error)) from error
        self._check_size(self.entry(image_id), path, stored.labels.shape, "label map")
        return stored

    def _write(self, image_id: str, path: Path, labels: LabelMap, **options: Any) -> str:
        entry = self.entry(image_id)
        if labels.shape != (entry.height, entry.width):
            raise ProjectError(
                f"{path}: refusing labels of shape {labels.shape}; image {image_id!r} is "
                f"{entry.width}x{entry.height} (shape {(entry.height, entry.width)})"
            )
        try:
            return write_label_file(path, labels, **options)
        except ValueError as error:
            raise ProjectError(str(error)) from error

    def load_labels(self, image_id: str) -> LabelMap:
        """The saved labels, or an empty (all VOID) map of the image's size when none were saved."""
        stored = self._read(image_id, self.labels_file(image_id))
        if stored is None:
            entry = self.entry(image_id)
            return LabelMap.empty(entry.height, entry.width)
        return stored.labels

    def save_labels(self, image_id: str, labels: LabelMap, state: ImageState = ImageState.EDITED) -> None:
        """Save labels atomically, drop the image's autosave and record ``state`` in the manifest."""
        self._write(image_id, self.labels_file(image_id), labels)
        self.discard_autosave(image_id)
        entry = self.entry(image_id)
        if entry.state != state:
            entry.state = ImageState(state)
            self.save()

    def load_prediction(self, image_id: str) -> LabelMap | None:
        stored = self._read(image_id, self._data_file(PREDICTIONS_DIR, image_id))
        return None if stored is None else stored.labels

    def save_prediction(self, image_id: str, labels: LabelMap) -> None:
        """Keep a model's output beside, never over, the human-corrected labels."""
        self._write(image_id, self._data_file(PREDICTIONS_DIR, image_id), labels)

    def autosave(self, image_id: str, labels: LabelMap) -> None:
        """Journal unsaved edits (atomic, fast compression); the saved label file is not touched."""
        try:
            base = read_label_tokens(self.labels_file(image_id))[0]
        except (FileNotFoundError, LabelFileError):
            base = ""  # nothing usable saved: recoverable() offers this entry whatever its base
        path = self._data_file(AUTOSAVE_DIR, image_id)
        self._write(image_id, path, labels, base=base, compresslevel=_AUTOSAVE_COMPRESSLEVEL)

    def recoverable(self) -> list[str]:
        """Ids whose journal entry holds edits made after their labels were last saved.

        An entry made on top of an older save (the crash fell between saving and clearing the
        journal) is stale and not listed; one whose saved labels are missing or unusable is
        listed, being the best copy left. A damaged journal file cannot be recovered: not listed.
        """
        found = []
        for entry in self.images:
            journal = self._data_file(AUTOSAVE_DIR, entry.id)
            if not journal.is_file():
                continue
            try:
                _, base = read_label_tokens(journal)
            except (FileNotFoundError, LabelFileError):
                continue
            try:
                saved = self._read(entry.id, self.labels_file(entry.id))
            except ProjectError:  # corrupt or wrong shape: the journal is the best copy left
                saved = None
            if saved is None or saved.revision == base:
                found.append(entry.id)
        return found

    def recover(self, image_id: str) -> LabelMap:
        """The journaled labels of an image (call ``save_labels`` to keep them)."""
        path = self._data_file(AUTOSAVE_DIR, image_id)
        stored = self._read(image_id, path)
        if stored is None:
            raise ProjectError(f"{path}: no autosave to recover for image {image_id!r}")
        return stored.labels

    def discard_autosave(self, image_id: str) -> None:
        self._data_file(AUTOSAVE_DIR, image_id).unlink(missing_ok=True)
