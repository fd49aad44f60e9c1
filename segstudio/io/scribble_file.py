"""The project's scribbles: ``PROJECT/scribbles/ID.scribbles``, what ``segstudio pixel-classify`` reads.

A grey PNG of the image's size, 0 = not scribbled and ``k = id + 1`` for class ``id`` (8-bit when
every value fits, else 16-bit), written atomically. So a project's scribbles can be fed to the
headless command as they are (it reads PNG data whatever the name). The file is not named
``.png``: the project of an image folder lives inside it (``.segstudio/``), and tools that list
images recursively would list the scribbles as photos. Files of the former name ``ID.png`` are
renamed when first read. An image without scribbles has no file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.io.images import write_png
from segstudio.io.project import Project, ProjectError
from segstudio.io.semantic_png import read_label_values

SCRIBBLES_DIR = "scribbles"
SCRIBBLES_SUFFIX = ".scribbles"
LEGACY_SUFFIX = ".png"


def scribbles_path(project: Project, image_id: str) -> Path:
    return scribbles_target(project, image_id).path


def _adopt_legacy(path: Path) -> None:
    """Rename a scribble file of the former ``ID.png`` name to ``path`` (once, when first read)."""
    legacy = path.with_suffix(LEGACY_SUFFIX)
    if not path.exists() and legacy.is_file():
        try:
            legacy.replace(path)
        except OSError as error:
            raise ProjectError(
                f"{legacy}: cannot rename to {path.name} ({error.strerror or error})"
            ) from error


@dataclass(frozen=True)
class ScribbleTarget:
    """Where an image's scribbles go and the size they must have: all a writer thread needs
    (it never touches the index, which the GUI thread reads to make this)."""

    path: Path
    height: int
    width: int


def scribbles_target(project: Project, image_id: str) -> ScribbleTarget:
    entry = project.entry(image_id)
    path = project.root / SCRIBBLES_DIR / f"{entry.id}{SCRIBBLES_SUFFIX}"
    return ScribbleTarget(path, entry.height, entry.width)


def write_scribbles(target: ScribbleTarget, values: np.ndarray) -> None:
    """Write scribbles (classifier convention) atomically; none at all removes the file. Safe on
    any thread (the file only); ProjectError naming the file on failure."""
    path = target.path
    if values.shape != (target.height, target.width):
        size = f"{target.width}x{target.height}"
        raise ProjectError(f"{path}: refusing scribbles of shape {values.shape} for a {size} image")
    if not values.any():
        path.unlink(missing_ok=True)
        path.with_suffix(LEGACY_SUFFIX).unlink(missing_ok=True)
        return
    dtype = np.uint8 if int(values.max()) <= np.iinfo(np.uint8).max else np.uint16
    try:
        path.parent.mkdir(exist_ok=True)
        write_png(path, values.astype(dtype, copy=False))
    except OSError as error:
        raise ProjectError(f"{path}: cannot write the scribbles ({error.strerror or error})") from error


def save_scribbles(project: Project, image_id: str, values: np.ndarray) -> None:
    """Write the scribbles (classifier convention) of an image; none at all removes its file."""
    write_scribbles(scribbles_target(project, image_id), values)


def load_scribbles(project: Project, image_id: str) -> np.ndarray | None:
    """The saved scribbles of an image (classifier convention), or None when it has none."""
    path = scribbles_path(project, image_id)
    _adopt_legacy(path)
    if not path.is_file():
        return None
    try:
        values = read_label_values(path)
    except OSError as error:  # ImageReadError names the file
        raise ProjectError(str(error)) from error
    entry = project.entry(image_id)
    if values.shape != (entry.height, entry.width):
        raise ProjectError(
            f"{path}: scribbles are {values.shape[1]}x{values.shape[0]} but image {image_id!r} is "
            f"{entry.width}x{entry.height}"
        )
    return values
