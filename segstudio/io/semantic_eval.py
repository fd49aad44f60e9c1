"""Semantic evaluation of two folders of label PNGs: per-class IoU, mIoU and pixel accuracy.

Files are paired by stem (``gt/a.png`` with ``pred/a.png``). Label PNGs hold class values as
grey samples or palette indices (VOC ``SegmentationClass``); ``semantic_png.read_label_values``
reads both exactly. Counting follows ``segstudio.core.metrics.ConfusionMatrix``'s convention.
Errors name the file: ImageReadError for unusable PNGs, FileNotFoundError for a missing
prediction, ValueError for sizes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import Palette
from segstudio.io.semantic_png import read_label_values


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def evaluate_semantic_dirs(
    gt_dir: str | Path, pred_dir: str | Path, palette: Palette, ignore: int = 255
) -> dict[str, Any]:
    """Per-class IoU, mIoU and pixel accuracy over every ground-truth PNG and its prediction.

    Ground-truth pixels equal to ``ignore`` are not scored; predicted values that are not classes
    count as misses. ``per_class_iou`` lists only classes present in ground truth or prediction
    (the mean is over those); ``miou`` / ``pixel_accuracy`` are None when nothing was scored.
    """
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    for folder in (gt_dir, pred_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: folder not found")
    gt_files = sorted(gt_dir.glob("*.png"))
    if not gt_files:
        raise FileNotFoundError(f"{gt_dir}: no PNG files to evaluate")
    predictions = {p.stem: p for p in pred_dir.glob("*.png")}
    matrix = ConfusionMatrix(palette.ids, ignore)
    for gt_path in gt_files:
        pred_path = predictions.get(gt_path.stem)
        if pred_path is None:
            raise FileNotFoundError(f"{pred_dir / gt_path.name}: no prediction for {gt_path}")
        gt, pred = read_label_values(gt_path), read_label_values(pred_path)
        if gt.shape != pred.shape:
            raise ValueError(
                f"{pred_path}: {pred.shape[1]}x{pred.shape[0]} pixels, ground truth {gt_path} is "
                f"{gt.shape[1]}x{gt.shape[0]}"
            )
        matrix.add(gt, pred)
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
