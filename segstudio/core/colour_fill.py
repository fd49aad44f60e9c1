"""The colour-similarity fill (magic wand): the pixels connected to a seed whose colour is close
to the seed's. The label fill (``edits.fill_region``) follows equal labels, so on an unlabelled
photo it takes the whole image; this one follows the photo.

"Close" is a per-channel bound: every channel within ``tolerance`` of the seed pixel's value
(OpenCV's fixed-range flood fill), so a gradient does not creep away from the clicked colour.
Reads only, so it runs off the GUI thread.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

from segstudio.core.box import Box

MAX_TOLERANCE = 255
DEFAULT_TOLERANCE = 32


def similar_colour_region(
    rgb: np.ndarray, seed: tuple[float, float], tolerance: int, connectivity: Literal[4, 8] = 4
) -> tuple[Box, np.ndarray]:
    """The connected pixels within ``tolerance`` (0..255, per channel) of the colour at ``seed``
    (an ``(x, y)`` point): their box and a boolean mask over it (an empty box off the image)."""
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    if not 0 <= tolerance <= MAX_TOLERANCE:
        raise ValueError(f"tolerance must be in 0..{MAX_TOLERANCE}, got {tolerance}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    col, row = math.floor(seed[0]), math.floor(seed[1])
    height, width = rgb.shape[:2]
    if not (0 <= row < height and 0 <= col < width):
        return Box.empty(), np.zeros((0, 0), bool)
    image = np.ascontiguousarray(rgb)
    if not image.flags.writeable:  # OpenCV takes the image as in-out even with MASK_ONLY
        image = image.copy()
    region = np.zeros((height + 2, width + 2), np.uint8)
    flags = connectivity | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    bound = (tolerance,) * 3
    _, _, _, (x, y, w, h) = cv2.floodFill(image, region, (col, row), 0, bound, bound, flags)
    box = Box.from_xywh(x, y, w, h)
    return box, region[1:-1, 1:-1][box.slices].view(bool)
