"""Semantic evaluation of two folders of label PNGs: per-class IoU, mIoU and pixel accuracy.

Files are paired by stem (``gt/a.png`` with ``pred/a.png``). Label PNGs hold class values as
grey samples or palette indices (VOC ``SegmentationClass``); ``semantic_png.read_label_values``
reads both exactly. Counting follows ``segstudio.core.metrics.ConfusionMatrix``'s convention.
Errors name the file: ImageReadError for unusable PNGs, FileNotFoundError for a missing
prediction, ValueError for sizes.
"""

from __future__ import annotations

import math
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
    gt_files = sorted(gt_dir.glob("*.png"))
    if not gt_files:
        raise FileNotFoundError(f"{gt_dir}: no PNG files to evaluate")
    predictions = {p.stem: p for p in pred_dir.glob("*.png")}
    pairs = []
    for gt_path in gt_files:
        pred_path = predictions.get(gt_path.stem)
        if pred_path is None:
            raise FileNotFoundError(f"{pred_dir / gt_path.name}: no prediction for {gt_path}")
        pairs.append((gt_path, pred_path))
    matrix = ConfusionMatrix(palette.ids, ignore)
    with OrderedPool(jobs, partial(ConfusionMatrix, palette.ids, ignore)) as pool:
        for done, counts in enumerate(pool.map(_pair_counts, pairs)):
            matrix.counts += counts
            if progress is not None:
                progress(done + 1, len(pairs))
    per_class = {
        str(class_id): float(iou)
        for class_id, iou in zip(palette.ids, matrix.iou.tolist(), strict=True)
        if not math.isnan(iou)
    }
    return {
        "per_class_iou": per_class,
        "miou": _finite(matrix.miou),
        "pixel_accuracy": _finite(matrix.pixel_accuracy),
        "images": len(gt_files),
    }


def _pair_counts(empty: ConfusionMatrix, pair: tuple[Path, Path]) -> np.ndarray:
    """The confusion counts of one pair of label PNGs (in a worker; ``empty`` is its zero matrix)."""
    gt_path, pred_path = pair
    gt, pred = read_label_values(gt_path), read_label_values(pred_path)
    if gt.shape != pred.shape:
        raise ValueError(
            f"{pred_path}: {pred.shape[1]}x{pred.shape[0]} pixels, ground truth {gt_path} is "
            f"{gt.shape[1]}x{gt.shape[0]}"
        )
    matrix = empty.copy()
    matrix.add(gt, pred)
    return matrix.counts
