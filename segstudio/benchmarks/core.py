"""``segstudio bench core``: the core's hot paths on a 4000x3000 label map.

Medians in milliseconds of: a full per-class IoU (fast path) and the same with a plain
``numpy.bincount`` as the baseline, an incremental IoU update after a 256x256 edit, one
radius-20 brush dab recorded for undo, the undo of one brush stroke, and the IoU dock's PQ
recount (``core.label_pq``) against the dataset evaluation's route (both maps to COCO segment
ids, then ``core.pq.pq_image``) as the baseline.
"""

from __future__ import annotations

import os

import numpy as np

from segstudio.benchmarks.timing import median_ms
from segstudio.core.box import Box
from segstudio.core.edits import brush_dab, brush_stroke
from segstudio.core.history import History
from segstudio.core.label_pq import label_map_pq
from segstudio.core.labels import LabelMap
from segstudio.core.metrics import ConfusionMatrix, confusion_bincount
from segstudio.core.panoptic import labels_to_panoptic
from segstudio.core.pq import pq_image

HEIGHT, WIDTH = 3000, 4000
CLASS_IDS = list(range(20))
THING_IDS = CLASS_IDS[10:]
BASELINE_REPEATS = 3
"""The PQ baseline takes seconds per run."""


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

    pq_ms, pq_baseline_ms = _pq_timings(gt, pred, repeats)
    return {
        "map": f"{WIDTH}x{HEIGHT}",
        "classes": len(CLASS_IDS),
        "cpu_count": os.cpu_count() or 0,
        "full_iou_ms": round(full_iou_ms, 3),
        "bincount_iou_ms": round(bincount_iou_ms, 3),
        "incremental_iou_ms": round(incremental_iou_ms, 3),
        "brush_dab_ms": round(brush_dab_ms, 3),
        "undo_ms": round(undo_ms, 3),
        "pq_ms": round(pq_ms, 3),
        "pq_baseline_ms": round(pq_baseline_ms, 3),
        "pq_speedup": round(pq_baseline_ms / pq_ms, 2),
    }


def _with_things(category: np.ndarray, block: int = 50) -> LabelMap:
    """Thing pixels get one instance per ``block``-sized tile and class (unique across classes)."""
    rows, cols = np.indices(category.shape, dtype=np.uint32)
    tile = (rows // block) * np.uint32(WIDTH // block + 1) + cols // block
    instance = tile * np.uint32(len(CLASS_IDS)) + category.astype(np.uint32) + 1
    things = np.isin(category, THING_IDS)
    return LabelMap.from_arrays(category, np.where(things, instance, 0).astype(np.uint32))


def _pq_timings(gt: np.ndarray, pred: np.ndarray, repeats: int) -> tuple[float, float]:
    """(live PQ recount, dataset-evaluation route) on the bench's maps with thing instances."""
    truth, guess = _with_things(gt), _with_things(pred)
    isthing = {c: c in THING_IDS for c in CLASS_IDS}

    def live() -> None:
        label_map_pq(truth.category, truth.instance, guess.category, guess.instance, isthing)

    def baseline() -> None:
        gt_ids, gt_segments = labels_to_panoptic(truth, THING_IDS)
        pred_ids, pred_segments = labels_to_panoptic(guess, THING_IDS)
        pq_image(gt_ids, gt_segments, pred_ids, pred_segments, isthing)

    return median_ms(live, repeats), median_ms(baseline, min(repeats, BASELINE_REPEATS))
