"""Schema 1 (``project.json``, the whole index in one JSON manifest) to the SQLite index.

The manifest is checked as strictly as schema-1 segstudio checked it; a bad one is refused naming
it and nothing is written. A good one becomes ``project.db`` atomically (``build_index``), then the
manifest is renamed to ``project.v1.json`` and kept as a backup. Two processes migrating at once
are fine: the index is linked into place only if absent, and the loser opens the winner's.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from segstudio.core.palette import Palette, PaletteError
from segstudio.io.image_entry import ImageEntry, ProjectError, checked_entry, positive_int
from segstudio.io.project_store import INDEX_NAME, StoreError, build_index

MANIFEST_NAME = "project.json"
MANIFEST_BACKUP_NAME = "project.v1.json"
MANIFEST_SCHEMA_VERSION = 1


def read_manifest(manifest: Path) -> tuple[str, Palette, list[ImageEntry]]:
    """Name, palette and images of a schema-1 manifest; ProjectError naming it when it is bad."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProjectError(f"{manifest}: corrupt manifest, not valid JSON ({error})") from None
    except OSError as error:
        raise ProjectError(f"{manifest}: cannot read ({error.strerror or error})") from error
    if not isinstance(data, dict):
        raise ProjectError(f"{manifest}: corrupt manifest, expected a JSON object")
    version = data.get("schema_version")
    if not positive_int(version):
        raise ProjectError(f"{manifest}: missing or invalid schema_version {version!r}")
    if version > MANIFEST_SCHEMA_VERSION:
        raise ProjectError(
            f"{manifest}: written by a newer segstudio (schema version {version}; this one reads "
            f"manifests of version {MANIFEST_SCHEMA_VERSION}); upgrade segstudio to open it"
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
    images, keys = [], set()
    for position, raw in enumerate(raw_images):
        if not isinstance(raw, dict):
            raise ProjectError(
                f"{manifest}: images[{position}]: expected an object, got {type(raw).__name__}"
            )
        entry = checked_entry(raw, f"{manifest}: images[{position}]")
        if entry.id.casefold() in keys:
            raise ProjectError(f"{manifest}: image id {entry.id!r} is listed twice")
        keys.add(entry.id.casefold())
        images.append(entry)
    return name, palette, images


def index_meta(name: str, palette: Palette) -> dict[str, str]:
    """The ``meta`` table's rows for a project's name and palette."""
    return {"name": name, "palette": json.dumps(palette.to_dict(), ensure_ascii=False)}


def migrate_manifest(root: Path) -> None:
    """Turn ``root``'s schema-1 manifest into the SQLite index, keeping the manifest as a backup."""
    manifest = root / MANIFEST_NAME
    name, palette, images = read_manifest(manifest)
    try:
        build_index(root / INDEX_NAME, index_meta(name, palette), (entry.row() for entry in images))
    except FileExistsError:
        pass  # another process migrated it meanwhile: theirs is the same project
    except (OSError, StoreError) as error:
        raise ProjectError(f"{root / INDEX_NAME}: cannot migrate {manifest} ({error})") from error
    with contextlib.suppress(FileNotFoundError):  # the other process may have moved it already
        os.replace(manifest, root / MANIFEST_BACKUP_NAME)
