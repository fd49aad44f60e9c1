"""Moving datasets between the project folder and other tools' formats.

Importers give ``(image entry, LabelMap)`` records; here they become a new project whose images
keep their dataset entry (``ImageEntry.source``), so an export gives back the same image ids and
file names. Both directions build their output under a temporary name and rename it into place
only when complete, so an interrupted import or export never looks finished.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Sized
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from segstudio.core.jobs import ProgressCallback
from segstudio.core.labels import LabelMap
from segstudio.core.palette import Palette
from segstudio.io.atomic import atomic_directory
from segstudio.io.datasets import label_file_path
from segstudio.io.project import ImageEntry, ImageState, Project, ProjectError
from segstudio.io.safe_files import contained_path, regular_file_problem

IMAGES_DIR = "images"


class ImageMode(StrEnum):
    """What an export does with the photos: copy them, symlink them, or leave them out."""

    COPY = "copy"
    LINK = "link"
    NONE = "none"


def import_records(
    project_root: str | Path,
    palette: Palette,
    records: Iterable[tuple[dict[str, Any], LabelMap]],
    images_dir: str | Path,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    allow_absolute: bool = False,
) -> Project:
    """Create a project at ``project_root`` from dataset records; photos stay where they are.

    Each record's ``file_name`` is looked up in ``images_dir`` and may not lead outside it
    (``..``; absolute paths elsewhere only with ``allow_absolute``); a missing photo (or a
    folder, pipe or dangling link in its place) fails the whole import, naming it, and leaves
    no project behind. ``progress(done, total)`` comes before each
    record (total 0 when ``records`` has no length); it may raise, which also leaves nothing.
    """
    root = Path(project_root)
    images_dir = Path(images_dir).resolve()
    if not images_dir.is_dir():
        raise ProjectError(f"{images_dir}: images folder not found")
    total = len(records) if isinstance(records, Sized) else 0
    with (
        atomic_directory(root) as staging,
        Project.create(staging, palette, name=name or root.name) as project,
        project.batch(),
    ):
        for done, (image, labels) in enumerate(records):
            if progress is not None:
                progress(done, total)
            where = f"image {image.get('id')!r}"
            photo = contained_path(images_dir, str(image["file_name"]), where, ProjectError, allow_absolute)
            problem = regular_file_problem(photo)
            if problem is not None:
                raise ProjectError(f"{photo}: {where}: {problem}")
            entry = project.add_image(photo, dataset_entry=image)
            if (entry.height, entry.width) != labels.shape:
                raise ProjectError(
                    f"{photo}: image is {entry.width}x{entry.height} but its labels are "
                    f"{labels.shape[1]}x{labels.shape[0]}"
                )
            project.save_labels(entry.id, labels, ImageState.EDITED)
    return Project.open(root)


def dataset_entry(entry: ImageEntry, fallback_id: int) -> dict[str, Any]:
    """The image's dataset entry: the imported one (size and name brought up to date) or a new one."""
    image = dict(entry.source)
    image.setdefault("id", fallback_id)
    image.setdefault("file_name", Path(entry.file).name)
    image["width"], image["height"] = entry.width, entry.height
    return image


def labelled_entries(project: Project) -> list[ImageEntry]:
    """The images an export carries: every one that has labels."""
    return list(project.entries([s for s in ImageState if s is not ImageState.UNLABELLED]))


def export_records(project: Project) -> Iterator[tuple[dict[str, Any], LabelMap]]:
    """Every labelled image as (dataset entry, labels); images without an id get ones after the largest."""
    used = [e.source["id"] for e in project.entries() if isinstance(e.source.get("id"), int)]
    next_id = max(used, default=0) + 1
    for entry in labelled_entries(project):
        image = dataset_entry(entry, next_id)
        if "id" not in entry.source:
            next_id += 1
        yield image, project.load_labels(entry.id)


def place_images(project: Project, folder: Path, mode: ImageMode) -> None:
    """Copy or symlink the photos of labelled images into ``folder`` under their dataset names.

    Relative subfolders are kept (``a/x.jpg`` and ``b/x.jpg`` are two photos), so each lands
    where the exported JSON's ``file_name`` says; a name that would leave ``folder`` is refused.
    """
    if mode is ImageMode.NONE:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for entry in labelled_entries(project):
        source = project.image_path(entry.id)
        if not source.is_file():
            raise ProjectError(f"{source}: photo of image {entry.id!r} is missing (needed to export photos)")
        name = str(entry.source.get("file_name", Path(entry.file).name))
        target = folder / label_file_path(name, PurePosixPath(name).suffix).as_posix()
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode is ImageMode.COPY:
            shutil.copy2(source, target)
        else:
            os.symlink(source.resolve(), target)
