"""Rebuild the bundled sample labels: ``python resources/samples/make_sample_labels.py``.

chelsea.labels.png: VOC classes, the cat (8) cut out with OpenCV's GrabCut from a hand-drawn
hint (the blurred room on the right is background; the cat fills the left edge, so a plain box
would teach GrabCut cat fur as background), everything else background (0). Deterministic.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segstudio.core.edits import set_from_mask
from segstudio.core.labels import LabelMap
from segstudio.core.palette import builtin_palette
from segstudio.io.images import read_rgb
from segstudio.io.semantic_png import write_semantic_png

HERE = Path(__file__).resolve().parent


def cat_hint(height: int, width: int) -> np.ndarray:
    """GrabCut's initial mask: probably cat; probably room on the right, surely room at its middle."""
    hint = np.full((height, width), cv2.GC_PR_FGD, np.uint8)
    hint[:, 395:] = cv2.GC_PR_BGD
    hint[60:240, 420:] = cv2.GC_BGD
    return hint


def main() -> None:
    voc = builtin_palette("voc")
    cv2.setRNGSeed(0)
    rgb = read_rgb(HERE / "chelsea.jpg")
    height, width = rgb.shape[:2]
    state = cat_hint(height, width)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(rgb, state, None, *models, 8, cv2.GC_INIT_WITH_MASK)
    cat = (state == cv2.GC_FGD) | (state == cv2.GC_PR_FGD)
    labels = LabelMap.empty(height, width)
    labels.category[:] = voc.by_name("background").id
    set_from_mask(labels, cat, (voc.by_name("cat").id, 0))
    write_semantic_png(HERE / "chelsea.labels.png", labels)


if __name__ == "__main__":
    main()
