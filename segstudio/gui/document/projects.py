"""What "open this path" means: a project folder, a folder of images, one image, or the samples.

- a project folder (``project.db``, or a schema-1 ``project.json`` to migrate; or either file
  itself) opens as it is;
- a folder of images becomes a project in its hidden ``.segstudio`` subfolder, so the user's
  folder gains a single entry and reopening the folder finds the same project; images added to
  the folder since are listed on each open. When the folder is read-only, the project lives in
  the per-user data folder instead, under a name derived from the folder's path;
- one image opens its folder's project (created as above) with that image added and shown.

Only files the project cannot list (unreadable headers) are reported back, so the caller can
name them without refusing the rest.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from segstudio.core.palette import Palette
from segstudio.io.project import INDEX_NAME, MANIFEST_NAME, ImageState, Project, ProjectError, is_project
from segstudio.io.samples import load_sample, sample_palette, samples

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
PROJECT_SUBFOLDER = ".segstudio"
SAMPLE_PROJECT = "sample-project"


@dataclass
class Opened:
    """A project ready to show, the image to start on, and files that could not be added."""

    project: Project
    image_id: str | None = None
    problems: list[str] = field(default_factory=list)


def open_path(path: Path, data_dir: Path, palette: Palette | None = None) -> Opened:
    """Open ``path`` as described in the module notes; raises ProjectError naming the file."""
    path = Path(path)
    if path.is_file() and path.name in (INDEX_NAME, MANIFEST_NAME):
        return Opened(Project.open(path.parent))
    if path.is_dir():
        if is_project(path):
            return Opened(Project.open(path))
        project = folder_project(path, data_dir, palette)
        return Opened(project, problems=_add_new_images(project, path))
    if path.is_file():
        project = folder_project(path.parent, data_dir, palette)
        known = project.image_id_of(path)
        if known is None:
            known = project.add_image(path).id
        return Opened(project, known)
    raise ProjectError(f"{path}: no such file or folder")


def creates_project(path: Path, data_dir: Path) -> bool:
    """Whether opening ``path`` (a folder or an image) makes a new project for its image folder."""
    path = Path(path)
    if path.is_file() and path.name in (INDEX_NAME, MANIFEST_NAME) or path.is_dir() and is_project(path):
        return False
    folder = path if path.is_dir() else path.parent
    return not any(is_project(root) for root in project_roots(folder, data_dir))


def project_roots(folder: Path, data_dir: Path) -> tuple[Path, Path]:
    """Where an image folder's project lives: its ``.segstudio``, else the per-user fallback."""
    return folder / PROJECT_SUBFOLDER, _fallback_root(folder, data_dir)


def open_images(paths: Sequence[Path], data_dir: Path, palette: Palette | None = None) -> Opened:
    """Several images of one folder: its project with each of them listed, starting on the first.

    Images the project cannot list are reported back; raises ProjectError when the images come
    from more than one folder (one project holds them) or none could be listed.
    """
    folders = {Path(path).resolve().parent for path in paths}
    if len(folders) != 1:
        raise ProjectError(f"{paths[0]}: open images of one folder at a time ({len(folders)} folders given)")
    project = folder_project(Path(paths[0]).parent, data_dir, palette)
    shown, problems = None, []
    for path in paths:
        image_id = project.image_id_of(path)
        if image_id is None:
            try:
                image_id = project.add_image(path).id
            except ProjectError as error:
                problems.append(str(error))
                continue
        shown = shown or image_id
    if shown is None:
        raise ProjectError("\n".join(problems))
    return Opened(project, shown, problems)


def folder_project(folder: Path, data_dir: Path, palette: Palette | None = None) -> Project:
    """The project of an image folder, created on first use (see the module notes for where)."""
    for root in project_roots(folder, data_dir):
        if is_project(root):
            return Project.open(root)
        try:
            return Project.create(root, palette or sample_palette(), name=folder.resolve().name)
        except (OSError, ProjectError):  # read-only folder, or a file in the way: try the per-user one
            continue
    raise ProjectError(f"{folder}: cannot create a project here nor in {data_dir}")


def _fallback_root(folder: Path, data_dir: Path) -> Path:
    resolved = folder.resolve()
    digest = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:10]
    return data_dir / "projects" / f"{resolved.name or 'root'}-{digest}"


def image_files(folder: Path) -> list[Path]:
    """Images directly inside ``folder`` (not in subfolders), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _add_new_images(project: Project, folder: Path) -> list[str]:
    """List the folder's images the project does not know yet (in one transaction); returns why
    others were refused."""
    known = project.stored_files()
    problems = []
    with project.batch():
        for image in image_files(folder):
            if project.stored_path(image) in known:
                continue
            try:
                project.add_image(image)
            except ProjectError as error:
                problems.append(str(error))
    return problems


def sample_project(data_dir: Path) -> Project:
    """The built-in samples as a project in the per-user data folder, made once and then reused.

    Built in a temporary sibling and renamed into place, so a crash never leaves half a project.
    """
    root = data_dir / SAMPLE_PROJECT
    if is_project(root):
        return Project.open(root)
    data_dir.mkdir(parents=True, exist_ok=True)
    if root.exists():  # left without a manifest: keep it aside rather than delete anything
        root.rename(root.with_name(f"{SAMPLE_PROJECT}.broken-{uuid.uuid4().hex[:8]}"))
    staging = Path(tempfile.mkdtemp(prefix=".sample-", dir=data_dir))
    try:
        with Project.create(staging, sample_palette(), name="samples") as project:
            (staging / "images").mkdir()
            for sample in samples():
                copy = staging / "images" / sample.image.name
                shutil.copyfile(sample.image, copy)
                entry = project.add_image(copy, image_id=sample.name)
                if sample.labels is not None:
                    project.save_labels(entry.id, load_sample(sample)[1], ImageState.EDITED)
        staging.replace(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Project.open(root)
