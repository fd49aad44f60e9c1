"""The built-in sample images shipped in ``segstudio.resources`` (CC0 / public domain)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from segstudio.core.labels import LabelMap
from segstudio.core.palette import Palette, builtin_palette
from segstudio.io.images import read_rgb
from segstudio.io.semantic_png import read_semantic_png

SAMPLE_PALETTE = "voc"


@dataclass(frozen=True)
class Sample:
    """A bundled photo and, when it has one, its semantic label PNG (VOC class values)."""

    name: str
    image: Path
    labels: Path | None


def samples_folder() -> Path:
    return Path(str(resources.files("segstudio.resources") / "samples"))


def samples() -> list[Sample]:
    """Every bundled sample, in a stable order; labels are ``<stem>.labels.png`` beside the photo."""
    folder = samples_folder()
    found = []
    for image in sorted(folder.glob("*.jpg")):
        labels = image.with_name(f"{image.stem}.labels.png")
        found.append(Sample(image.stem, image, labels if labels.exists() else None))
    return found


def sample_palette() -> Palette:
    return builtin_palette(SAMPLE_PALETTE)


def load_sample(sample: Sample) -> tuple[np.ndarray, LabelMap]:
    """The sample's RGB pixels and labels (an empty map when it has none)."""
    rgb = read_rgb(sample.image)
    if sample.labels is None:
        return rgb, LabelMap.empty(*rgb.shape[:2])
    return rgb, read_semantic_png(sample.labels)
