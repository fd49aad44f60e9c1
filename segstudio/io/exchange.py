"""Moving datasets between the project folder and other tools' formats.

Importers give ``(image entry, LabelMap)`` records; here they become a new project whose images
keep their dataset entry (``ImageEntry.source``), so an export gives back the same image ids and
file names. Both directions build their output under a temporary name and rename it into place
only when complete, so an interrupted import or export never looks finished.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sized
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from segstudio.core.jobs import ProgressCallback
from segstudio.core.palette import Palette
from segstudio.io.atomic import atomic_directory
from segstudio.io.datasets import Decoded, LazyRecord, label_file_path
from segstudio.io.label_file import write_label_file
from segstudio.io.parallel import OrderedPool
from segstudio.io.project import ImageEntry, ImageState, Project, ProjectError
from segstudio.io.safe_files import contained_path, regular_file_problem

IMAGES_DIR = "images"
IMPORT_COMPRESSLEVEL = 1
"""zlib level of imported label files: level 6 is 3-4x slower to write for files ~2.4x smaller
(30 KB instead of 12 KB for a 640x480 COCO image); the next save of an image rewrites it at 6."""


class ImageMode(StrEnum):
    """What an export does with the photos: copy them, symlink them, or leave them out."""

    COPY = "copy"
    LINK = "link"
    NONE = "none"


def import_records(
    project_root: str | Path,
    palette: Palette,
    records: Iterable[LazyRecord],
    images_dir: str | Path,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    allow_absolute: bool = False,
) -> tuple[Project, list[str]]:
    """Create a project at ``project_root`` from scanned dataset records; photos stay where they are.

    Returns the project and the warnings of decoding (annotations skipped, in image order).
    Each record's ``file_name`` is looked up in ``images_dir`` and may not lead outside it
    (``..``; absolute paths elsewhere only with ``allow_absolute``); a missing photo (or a
    folder, pipe or dangling link in its place) fails the whole import, naming it, and leaves
    no project behind. Records stream: the project lists each image (in order, here) and
    ``jobs`` worker processes decode its labels and write its label file (``io.parallel``), so
    memory holds a few label maps whatever the dataset's size, and the project is the same
    whatever ``jobs``. ``progress(done, total)`` comes before the first record and after each
    (total 0 when ``records`` has no length); it may raise, which also leaves nothing.
    """
    root = Path(project_root)
    images_dir = Path(images_dir).resolve()
    if not images_dir.is_dir():
        raise ProjectError(f"{images_dir}: images folder not found")
    total = len(records) if isinstance(records, Sized) else 0
    warnings: list[str] = []
    with (
        atomic_directory(root) as staging,
        Project.create(staging, palette, name=name or root.name) as project,
        project.batch(),  # one transaction for the whole index; the staging folder makes it all or nothing
    ):
        if progress is not None:
            progress(0, total)
        with OrderedPool(jobs) as pool:
            for done, (image_id, found) in enumerate(
                pool.map(_write_labels, _label_tasks(project, records, images_dir, allow_absolute))
            ):
                project.set_state(image_id, ImageState.EDITED)  # its label file is written
                warnings += found
                if progress is not None:
                    progress(done + 1, total)
    return Project.open(root), warnings


class _LabelTask(NamedTuple):
    """One image to import: how to decode its labels and where its label file goes."""

    image_id: str
    load: Callable[[], Decoded]
    labels_file: Path
    size: tuple[int, int]
    photo: Path


def _label_tasks(
    project: Project, records: Iterable[LazyRecord], images_dir: Path, allow_absolute: bool
) -> Iterator[_LabelTask]:
    """List each record's photo in the project (in record order) and say what to decode and write."""
    for image, load in records:
        where = f"image {image.get('id')!r}"
        photo = contained_path(images_dir, str(image["file_name"]), where, ProjectError, allow_absolute)
        problem = regular_file_problem(photo)
        if problem is not None:
            raise ProjectError(f"{photo}: {where}: {problem}")
        entry = project.add_image(photo, dataset_entry=image)
        yield _LabelTask(entry.id, load, project.labels_file(entry.id), (entry.height, entry.width), photo)


def _write_labels(_: None, task: _LabelTask) -> tuple[str, list[str]]:
    """Decode one image's labels and write its label file (in a worker process); the same file
    ``Project.save_labels`` writes, deflated at the fast level the project's autosave uses and
    not fsynced on its own: the staging folder is flushed as a whole before it becomes the project."""
    labels, warnings = task.load()
    if labels.shape != task.size:
        height, width = task.size
        raise ProjectError(
            f"{task.photo}: image is {width}x{height} but its labels are {labels.shape[1]}x{labels.shape[0]}"
        )
    try:
        write_label_file(task.labels_file, labels, compresslevel=IMPORT_COMPRESSLEVEL, durable=False)
    except ValueError as error:
        raise ProjectError(str(error)) from error
    return task.image_id, warnings


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


def export_entries(project: Project) -> list[tuple[str, dict[str, Any]]]:
    """(image id, dataset entry) of every labelled image; images without an id get ones after the largest."""
    used = [e.source["id"] for e in project.entries() if isinstance(e.source.get("id"), int)]
    next_id = max(used, default=0) + 1
    entries = []
    for entry in labelled_entries(project):
        entries.append((entry.id, dataset_entry(entry, next_id)))
        if "id" not in entry.source:
            next_id += 1
    return entries


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
