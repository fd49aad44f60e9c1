"""``segstudio bench core``: the core's hot paths on a 4000x3000 label map.

Medians in milliseconds of: a full per-class IoU (fast path) and the same with a plain
``numpy.bincount`` as the baseline, an incremental IoU update after a 256x256 edit, one
radius-20 brush dab recorded for undo, and the undo of one brush stroke.
"""

from __future__ import annotations

import os

import numpy as np

from segstudio.benchmarks.timing import median_ms
from segstudio.core.box import Box
from segstudio.core.edits import brush_dab, brush_stroke
from segstudio.core.history import History
from segstudio.core.labels import LabelMap
from segstudio.core.metrics import ConfusionMatrix, confusion_bincount

HEIGHT, WIDTH = 3000, 4000
CLASS_IDS = list(range(20))


def blocky_map(rng: np.random.Generator, n_classes: int, block: int = 50) -> np.ndarray:
    """A map of ``block``-sized regions of random classes: realistic region structure, cheap to make."""
    coarse = rng.integers(0, n_classes, size=(HEIGHT // block + 1, WIDTH // block + 1), dtype=np.uint16)
    return np.ascontiguousarray(np.repeat(np.repeat(coarse, block, 0), block, 1)[:HEIGHT, :WIDTH])


def run_core_bench(repeats: int = 15, seed: int = 0) -> dict[str, float | int | str]:
    """Run every core benchmark once; returns the JSON-ready medians."""
    rng = np.random.default_rng(seed)
    gt = blocky_map(rng, len(CLASS_IDS))
    pred = gt.copy()
    noise = blocky_map(rng, len(CLASS_IDS), block=37)
    flip = rng.random((HEIGHT, WIDTH)) < 0.2
    pred[flip] = noise[flip]

    full_iou_ms = median_ms(lambda: ConfusionMatrix.from_maps(gt, pred, CLASS_IDS).iou, repeats)
    bincount_iou_ms = median_ms(lambda: confusion_bincount(gt, pred, CLASS_IDS).iou, repeats)

    matrix = ConfusionMatrix.from_maps(gt, pred, CLASS_IDS)
    box = Box(1000, 1500, 1256, 1756)
    before = gt[box.slices].copy()
    edited = gt.copy()
    edited[box.slices] = (before + 1) % len(CLASS_IDS)

    def incremental() -> None:
        matrix.update_box(box, edited, pred, gt_before=before)
        _ = matrix.iou
        matrix.update_box(box, gt, pred, gt_before=edited[box.slices])

    incremental_iou_ms = median_ms(incremental, repeats * 20) / 2

    labels = LabelMap.from_arrays(gt)
    history = History()
    centres = rng.uniform((100, 100), (WIDTH - 100, HEIGHT - 100), size=(repeats * 20 + 1, 2))
    dab_index = iter(range(len(centres)))

    def dab() -> None:
        x, y = centres[next(dab_index) % len(centres)]
        with history.stroke(labels) as recorder:
            brush_dab(labels, (x, y), 20, (3, 0), recorder=recorder)

    brush_dab_ms = median_ms(dab, repeats * 20)

    stroke_points = [(500.0 + 6 * i, 800.0 + 3 * i) for i in range(100)]
    with history.stroke(labels) as recorder:
        brush_stroke(labels, stroke_points, 20, (7, 0), recorder=recorder)
    undo_ms = median_ms(lambda: history.undo(labels), repeats, setup=lambda: history.redo(labels))

    return {
        "map": f"{WIDTH}x{HEIGHT}",
        "classes": len(CLASS_IDS),
        "cpu_count": os.cpu_count() or 0,
        "full_iou_ms": round(full_iou_ms, 3),
        "bincount_iou_ms": round(bincount_iou_ms, 3),
        "incremental_iou_ms": round(incremental_iou_ms, 3),
        "brush_dab_ms": round(brush_dab_ms, 3),
        "undo_ms": round(undo_ms, 3),
    }
