"""A generated toy project: discs and squares on textured backgrounds, with exact labels.

Used to check end to end, in seconds on a CPU, that fine-tuning learns (the acceptance test of
training) and by the command-line tests. Colours are drawn independently of the class, so a
model has to learn shape, not colour; backgrounds and shapes carry noise and stripes so that
edges are not trivially the only contrast. Everything follows from ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segstudio.core.labels import CATEGORY_DTYPE, INSTANCE_DTYPE, LabelMap, Provenance
from segstudio.core.palette import ClassDef, Palette
from segstudio.io.images import write_png
from segstudio.io.project import ImageState, Project

BACKGROUND, DISC, SQUARE = 0, 1, 2

SHAPES_PALETTE = Palette(
    "shapes",
    [
        ClassDef(BACKGROUND, "background", (0, 0, 0)),
        ClassDef(DISC, "disc", (230, 70, 60), isthing=True),
        ClassDef(SQUARE, "square", (60, 110, 230), isthing=True),
    ],
)


def _texture(rng: np.random.Generator, size: int, color: np.ndarray) -> np.ndarray:
    """A (size, size, 3) float image: ``color`` with noise, sometimes stripes of another shade."""
    image = np.broadcast_to(color.astype(np.float32), (size, size, 3)).copy()
    image += rng.normal(0, rng.uniform(2, 10), (size, size, 1)).astype(np.float32)
    if rng.random() < 0.5:
        period = rng.uniform(6, 20)
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[:size, :size].astype(np.float32)
        stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        image += (stripes[..., None] * rng.uniform(4, 14)).astype(np.float32)
    return image


def _shape_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random colour far enough from the background to be seen."""
    while True:
        colour = rng.integers(0, 256, 3)
        if np.linalg.norm(colour - background) > 160:
            return colour


def _shape_mask(rng: np.random.Generator, size: int) -> tuple[int, np.ndarray]:
    """A random disc or axis-aligned square lying wholly inside the image: (class, boolean mask)."""
    radius = float(rng.uniform(0.08, 0.18) * size)
    cx, cy = rng.uniform(radius + 1, size - radius - 1, 2)
    mask = np.zeros((size, size), np.uint8)
    kind = DISC if rng.random() < 0.5 else SQUARE
    if kind == DISC:
        cv2.circle(mask, (round(cx), round(cy)), round(radius), 1, thickness=-1)
    else:
        half = 0.9 * radius  # about the disc's area
        cv2.rectangle(mask, (round(cx - half), round(cy - half)), (round(cx + half), round(cy + half)), 1, -1)
    return kind, mask.astype(bool)


def make_shapes_image(rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, LabelMap]:
    """One image with up to 6 discs and squares that neither touch nor leave the image.

    Whole, separate shapes keep the labels unambiguous: a partly hidden square is no square.
    """
    background = rng.integers(0, 256, 3)
    image = _texture(rng, size, background)
    category = np.full((size, size), BACKGROUND, CATEGORY_DTYPE)
    instance = np.zeros((size, size), INSTANCE_DTYPE)
    wanted, placed, attempts = int(rng.integers(2, 7)), 0, 0
    while placed < wanted and attempts < 50:
        attempts += 1
        kind, inside = _shape_mask(rng, size)
        if instance[cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)].any():
            continue
        placed += 1
        image[inside] = _texture(rng, size, _shape_colour(rng, background))[inside]
        category[inside], instance[inside] = kind, placed
    rgb = np.clip(image, 0, 255).astype(np.uint8)
    return rgb, LabelMap.from_arrays(category, instance, Provenance.HUMAN)


def make_shapes_project(root: str | Path, n: int = 40, seed: int = 0, size: int = 128) -> Project:
    """Create a project folder at ``root`` with ``n`` PNG images and their saved (reviewed) labels."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    project = Project.create(root, SHAPES_PALETTE, name="shapes")
    for index in range(n):
        rgb, labels = make_shapes_image(rng, size)
        path = root / "images" / f"shape_{index:03d}.png"
        write_png(path, rgb)
        entry = project.add_image(path)
        project.save_labels(entry.id, labels, ImageState.REVIEWED)
    return project
