"""numpy arrays shown as QImages without copying the pixels.

A QImage built on a numpy buffer does not own it; ``ArrayImage`` keeps the array referenced
for as long as the QImage lives, which is the whole trick (as in pyqtgraph's ``makeQImage``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage


@dataclass(frozen=True)
class ArrayImage:
    """A QImage and the numpy array whose memory it shows."""

    array: np.ndarray
    image: QImage


def rgb_image(rgb: np.ndarray) -> ArrayImage:
    """Wrap an (H, W, 3) uint8 RGB array as an RGB888 QImage, or an (H, W, 4) B, G, R, X one as
    RGB32 (a pixmap is made from that without converting it), with no copy if already contiguous."""
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3 or 4) uint8 array, got {rgb.shape} {rgb.dtype}")
    array = np.ascontiguousarray(rgb)
    height, width, channels = array.shape
    kind = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGB32
    image = QImage(array.data, width, height, array.strides[0], kind)
    return ArrayImage(array, image)


def indexed_image(index: np.ndarray, color_table: list[int]) -> ArrayImage:
    """Wrap an (H, W) uint8 index map as an Indexed8 QImage whose colours are ``color_table``.

    Changing the palette later only swaps the 256-entry table (``image.setColorTable``);
    changing pixels means writing into ``array`` and repainting the changed box.
    """
    if index.ndim != 2 or index.dtype != np.uint8 or not index.flags.c_contiguous:
        raise ValueError(f"expected a C-contiguous (H, W) uint8 index map, got {index.shape} {index.dtype}")
    height, width = index.shape
    image = QImage(index.data, width, height, index.strides[0], QImage.Format.Format_Indexed8)
    image.setColorTable(color_table)
    return ArrayImage(index, image)
