"""Reading an image and its layers for the window, off the GUI thread.

Opening a 12 MP photo decodes the JPEG, inflates the label, prediction (or journal) files, counts
the prediction's confusion matrix and copies the labels for it: ~0.5 s on a quiet machine, seconds
under load. :func:`load_image` does all of it and returns a :class:`LoadedImage` whose
:class:`LabelDocument` is ready to be shown; :class:`ImageLoader` (``loader``) runs it on a thread
of its own. The GUI thread only wraps the result in a ``Document`` and shows it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from segstudio.core.label_document import LabelDocument
from segstudio.core.labels import CATEGORY_DTYPE
from segstudio.core.palette import Palette
from segstudio.core.scribbles import value_counts
from segstudio.io.prediction_files import PREDICTIONS_DIR
from segstudio.io.project import AUTOSAVE_DIR, Project, ProjectError
from segstudio.io.scribble_file import load_scribbles, scribbles_target

LOAD_ERRORS: tuple[type[BaseException], ...] = (ProjectError, OSError, ValueError)
"""An image that cannot be shown (unreadable, damaged, sizes that disagree): its message names it."""

T = TypeVar("T")

PathStamp = tuple[int, int] | None
"""(mtime in ns, size) of a file, None where it does not exist."""
FileStamp = tuple[PathStamp, ...]
"""The stamps of the files an image is read from."""


@dataclass(frozen=True)
class ReadScribbles:
    """An image's scribbles as the loader put them into its document's scribble map: ``values``
    (None: no file; or ``problem`` says why they were left out) and the file's stamp before it was
    read. The scribble controller takes them while the file is still so (a write of it may land
    after the read), else reads the file itself."""

    values: np.ndarray | None
    problem: str
    stamp: PathStamp
    counts: Counter[int] | None = None
    """``value_counts`` of ``values``, counted here (not on the GUI thread)."""


@dataclass
class LoadedImage:
    """An image read and ready to show; ``problems`` are the layers left out (named in a message)."""

    model: LabelDocument
    screen: np.ndarray
    """The photo as the screen draws it: (H, W, 4) uint8 B, G, R, 255 (Qt's RGB32, no conversion)."""
    recovering: bool
    palette: Palette
    stamp: FileStamp
    scribbles: ReadScribbles
    next_instance: int
    """The labels' first free instance id (a pass over the whole instance map)."""
    problems: list[str] = field(default_factory=list)

    @property
    def image_id(self) -> str:
        return self.model.image_id


def screen_pixels(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB as the (H, W, 4) BGRX buffer a Qt RGB32 image wraps: making the canvas's
    pixmap from it is a few microseconds on the GUI thread, where an RGB888 photo costs a
    conversion of tens of milliseconds at 12 MP."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)


def source_files(project: Project, image_id: str) -> list[Path | None]:
    """The files an image's document is read from: photo, depth, labels, prediction, journal,
    scribbles."""
    labels = project.labels_file(image_id)
    return [
        project.image_path(image_id),
        project.depth_path(image_id),
        labels,
        project.root / PREDICTIONS_DIR / labels.name,
        project.root / AUTOSAVE_DIR / labels.name,
        scribbles_target(project, image_id).path,
    ]


def path_stamp(path: Path | None) -> PathStamp:
    try:
        status = os.stat(path) if path is not None else None
    except OSError:
        return None
    return None if status is None else (status.st_mtime_ns, status.st_size)


def file_stamp(project: Project, image_id: str) -> FileStamp:
    """What the image's files are now: a prefetched image whose stamp differs is read again."""
    return tuple(path_stamp(path) for path in source_files(project, image_id))


def read_scribbles(project: Project, model: LabelDocument) -> ReadScribbles:
    """Load the image's scribble file into ``model``'s scribble map (at 12 MP the conversion alone
    held the GUI thread ~0.4 s)."""
    stamp = path_stamp(scribbles_target(project, model.image_id).path)
    try:
        values = load_scribbles(project, model.image_id)
        if values is not None:
            values = np.asarray(values, CATEGORY_DTYPE)  # the tally's dtype: no conversion on the GUI thread
            model.scribbles.load_values(values)
    except (ProjectError, ValueError) as error:
        return ReadScribbles(None, str(error), stamp)
    return ReadScribbles(values, "", stamp, None if values is None else value_counts(values))


def load_image(
    project: Project, image_id: str, recovering: bool, check: Callable[[], None] = lambda: None
) -> LoadedImage:
    """Read ``image_id`` with its labels (or their journal, when ``recovering``), prediction and
    depth, and count its metrics. Raises one of ``LOAD_ERRORS`` naming the file when the image or
    its labels cannot be used; an unusable prediction or depth map is left out and named in
    ``problems``. ``check`` is called between the steps (it raises to stop a load no longer wanted)."""
    stamp = file_stamp(project, image_id)  # before reading: a file changed meanwhile is read again
    palette = project.palette
    rgb = project.read_image(image_id)
    check()
    screen = screen_pixels(rgb)
    check()
    labels = project.recover(image_id) if recovering else project.load_labels(image_id)
    check()
    problems: list[str] = []
    prediction = _optional(lambda: project.load_prediction(image_id), "prediction", problems)
    check()
    depth = _optional(lambda: project.read_depth(image_id), "depth map", problems)
    check()
    model = LabelDocument(image_id, rgb, labels, palette, prediction, depth=depth, dirty=recovering)
    scribbles = read_scribbles(project, model)
    return LoadedImage(model, screen, recovering, palette, stamp, scribbles, labels.next_instance(), problems)


def _optional(read: Callable[[], T | None], what: str, problems: list[str]) -> T | None:
    """A layer the image opens without: None, and its problem noted, when it cannot be read."""
    try:
        return read()
    except ProjectError as error:
        problems.append(f"The {what} was left out: {error}")
        return None


def load_first_readable(
    project: Project,
    image_ids: Sequence[str],
    recover: Collection[str],
    check: Callable[[], None] = lambda: None,
) -> tuple[LoadedImage | None, list[str]]:
    """The first of ``image_ids`` that loads (None when none does), and the errors of those before it."""
    problems: list[str] = []
    for image_id in image_ids:
        try:
            return load_image(project, image_id, image_id in recover, check), problems
        except LOAD_ERRORS as error:
            problems.append(str(error))
        check()
    return None, problems


def still_fresh(loaded: LoadedImage, project: Project, recovering: bool) -> bool:
    """Whether a prefetched image is what opening it now would read (same files, palette, journal use)."""
    return (
        loaded.recovering == recovering
        and loaded.palette is project.palette
        and loaded.stamp == file_stamp(project, loaded.image_id)
    )
