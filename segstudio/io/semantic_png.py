"""Semantic label PNGs: one 8-bit class value per pixel, a void value (255) for unlabelled.

The common layout of VOC SegmentationClass, ADE20K and most segmentation training code.
Values are read exactly (``IMREAD_UNCHANGED``), never resampled or colour-converted.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.images import ImageReadError

SEMANTIC_VOID = 255


def read_semantic_png(path: str | Path, void: int = SEMANTIC_VOID) -> LabelMap:
    """Read a single-channel 8- or 16-bit PNG of class values; ``void`` pixels become VOID."""
    path = Path(path)
    try:
        raw = np.fromfile(path, np.uint8)
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read label PNG ({error.strerror or error})") from error
    values = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if values is None:
        raise ImageReadError(f"{path}: not a readable PNG")
    if values.ndim != 2:
        raise ImageReadError(
            f"{path}: label PNG must have one channel of class values, found {values.shape[2]} channels"
        )
    category = values.astype(np.uint16)
    category[values == void] = VOID
    return LabelMap.from_arrays(category, provenance=Provenance.HUMAN)


def write_semantic_png(path: str | Path, labels: LabelMap, void: int = SEMANTIC_VOID) -> None:
    """Write class values as a grey 8-bit PNG (VOID -> ``void``); refuses ids that do not fit."""
    category = labels.category
    known = category[category != VOID]
    if known.size and int(known.max()) >= min(void, 256):
        raise ValueError(f"{path}: class id {int(known.max())} does not fit an 8-bit PNG with void {void}")
    values = np.where(category == VOID, void, category).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", values)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, encoded.tobytes())
