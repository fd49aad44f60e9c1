"""Model predictions as files, and which model made them.

A prediction file (``predictions/<id>.npz``, the project's label format) carries the token of the
model that wrote it (:class:`PredictionSource`: the model's name and a digest of its weights) as
its revision, and the project index keeps the same pair per image (``Project.record_predictions``),
so a dataset-wide run can skip what the same model already did without opening a file.

Workers of a pre-label run (other processes, other machines) read images and write prediction
files with the functions here, from an :class:`ImageTask`, without opening the index: SQLite in
WAL mode is not safe over a network file system, so only the driver writes the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.core.labels import LabelMap
from segstudio.io.image_entry import ImageEntry, ProjectError
from segstudio.io.images import ImageReadError, read_rgb
from segstudio.io.label_file import LABEL_FILE_SUFFIX, write_label_file

PREDICTIONS_DIR = "predictions"


@dataclass(frozen=True)
class PredictionSource:
    """Which model made a prediction: its registered name and a digest of its weights file."""

    model: str
    weights: str
    """``sha256:<hex>`` of the weights file."""

    @property
    def token(self) -> str:
        """How a prediction file names its source (its revision token)."""
        return f"{self.model}@{self.weights}"


@dataclass(frozen=True)
class ImageTask:
    """One image to pre-label as a worker sees it: no index needed, only the files.

    ``file`` is absolute (the project folder must be at the same path on every worker)."""

    id: str
    file: str
    width: int
    height: int


def prediction_path(root: Path, image_id: str) -> Path:
    return Path(root) / PREDICTIONS_DIR / f"{image_id}{LABEL_FILE_SUFFIX}"


def check_size(image: ImageTask | ImageEntry, path: Path, shape: tuple[int, ...], what: str) -> None:
    """Refuse a file whose size is not the one the project lists for the image."""
    if tuple(shape) != (image.height, image.width):
        raise ProjectError(
            f"{path}: {what} is {shape[1]}x{shape[0]} but image {image.id!r} is "
            f"{image.width}x{image.height} in the project"
        )


def read_task_image(image: ImageTask) -> np.ndarray:
    """The task's photo as (H, W, 3) uint8 RGB; ProjectError when missing, unreadable or resized."""
    path = Path(image.file)
    try:
        rgb = read_rgb(path)
    except ImageReadError as error:
        raise ProjectError(str(error)) from error
    check_size(image, path, rgb.shape[:2], "image")
    return rgb


def write_prediction(
    root: Path, image: ImageTask, labels: LabelMap, source: PredictionSource | None = None
) -> Path:
    """Write an image's prediction atomically (whole or not at all), tagged with its source."""
    path = prediction_path(root, image.id)
    if labels.shape != (image.height, image.width):
        raise ProjectError(
            f"{path}: refusing labels of shape {labels.shape}; image {image.id!r} is "
            f"{image.width}x{image.height} (shape {(image.height, image.width)})"
        )
    try:
        write_label_file(path, labels, revision=None if source is None else source.token)
    except ValueError as error:
        raise ProjectError(str(error)) from error
    return path
