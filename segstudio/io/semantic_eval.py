"""Semantic evaluation of two folders of label PNGs: per-class IoU, mIoU and pixel accuracy.

Files are paired by stem (``gt/a.png`` with ``pred/a.png``). Label PNGs hold class values as
grey samples or palette indices (VOC ``SegmentationClass``); ``semantic_png.read_label_values``
reads both exactly. Counting follows ``segstudio.core.metrics.ConfusionMatrix``'s convention.
Errors name the file: ImageReadError for unusable PNGs, FileNotFoundError for a missing
prediction, ValueError for sizes. Only file names are held (sorted, so the first missing
prediction, then the first bad pair, in name order is the one reported, whatever ``jobs``); the
pairs stream through the pool, a few label maps at a time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from segstudio.core.jobs import ProgressCallback
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import Palette
from segstudio.io.parallel import OrderedPool
from segstudio.io.semantic_png import read_label_values


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def evaluate_semantic_dirs(
    gt_dir: str | Path,
    pred_dir: str | Path,
    palette: Palette,
    ignore: int = 255,
    *,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Per-class IoU, mIoU and pixel accuracy over every ground-truth PNG and its prediction.

    Ground-truth pixels equal to ``ignore`` are not scored; predicted values that are not classes
    count as misses. ``per_class_iou`` lists only classes present in ground truth or prediction
    (the mean is over those); ``miou`` / ``pixel_accuracy`` are None when nothing was scored.
    Pairs are counted by ``jobs`` processes (``io.parallel``); counts are integers, so the
    result does not depend on ``jobs``. ``progress(done, total)`` comes per image.
    """
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    for folder in (gt_dir, pred_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: folder not found")
    names = sorted(png_names(gt_dir))
    if not names:
        raise FileNotFoundError(f"{gt_dir}: no PNG files to evaluate")
    predicted = set(png_names(pred_dir))
    missing = next((name for name in names if name not in predicted), None)
    if missing is not None:
        raise FileNotFoundError(f"{pred_dir / missing}: no prediction for {gt_dir / missing}")
    del predicted
    matrix = ConfusionMatrix(palette.ids, ignore)
    with OrderedPool(jobs, partial(PairCounter, palette.ids, ignore, gt_dir, pred_dir)) as pool:
        for done, counts in enumerate(pool.map(_pair_counts, names)):
            matrix.counts += counts
            if progress is not None:
                progress(done + 1, len(names))
    per_class = {
        str(class_id): float(iou)
        for class_id, iou in zip(palette.ids, matrix.iou.tolist(), strict=True)
        if not math.isnan(iou)
    }
    return {
        "per_class_iou": per_class,
        "miou": _finite(matrix.miou),
        "pixel_accuracy": _finite(matrix.pixel_accuracy),
        "images": len(names),
    }


def png_names(folder: Path) -> Iterator[str]:
    """Names of the ``*.png`` entries of ``folder``, one at a time (names only: a dataset's
    folder may hold 100k files, and a ``Path`` each costs several times its name)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".png"):
                yield entry.name


class PairCounter:
    """A worker's context: the two folders and a zero confusion matrix to copy per pair."""

    def __init__(self, ids: list[int], ignore: int, gt_dir: Path, pred_dir: Path) -> None:
        self.empty = ConfusionMatrix(ids, ignore)
        self.gt_dir, self.pred_dir = gt_dir, pred_dir


def _pair_counts(counter: PairCounter, name: str) -> np.ndarray:
    """The confusion counts of the label PNGs called ``name`` in both folders (in a worker)."""
    gt_path, pred_path = counter.gt_dir / name, counter.pred_dir / name
    gt, pred = read_label_values(gt_path), read_label_values(pred_path)
    if gt.shape != pred.shape:
        raise ValueError(
            f"{pred_path}: {pred.shape[1]}x{pred.shape[0]} pixels, ground truth {gt_path} is "
            f"{gt.shape[1]}x{gt.shape[0]}"
        )
    matrix = counter.empty.copy()
    matrix.add(gt, pred)
    return matrix.counts
