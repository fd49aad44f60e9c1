"""Semantic evaluation of two folders of label PNGs: per-class IoU, mIoU and pixel accuracy.

Files are paired by stem (``gt/a.png`` with ``pred/a.png``). Label PNGs hold class values
either as grey samples (8 or 16 bit) or as palette indices (VOC ``SegmentationClass``). OpenCV
always expands an indexed PNG to colours, so ``read_label_png`` first swaps the file's palette
for an identity one (entry i = grey i) in memory, which makes the decoded colour the index itself.
Counting follows ``segstudio.core.metrics.ConfusionMatrix``'s convention. Errors name the file:
ImageReadError for unusable PNGs, FileNotFoundError for a missing prediction, ValueError for sizes.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import Palette
from segstudio.io.coco_panoptic import PNG_SIGNATURE, png_ihdr, read_png_bytes
from segstudio.io.images import ImageReadError

GREY, INDEXED = 0, 3
"""PNG colour types that carry class values."""


def _identity_palette(data: bytes, bit_depth: int) -> bytes:
    """The same PNG with its PLTE replaced by entries ``i -> (i, i, i)``, CRCs recomputed."""
    entries = 1 << bit_depth
    plte = bytes(np.repeat(np.arange(entries, dtype=np.uint8), 3))
    out = bytearray(PNG_SIGNATURE)
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"PLTE":
            body = plte
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        offset += 12 + length
        if kind == b"IEND":
            break
    return bytes(out)


def read_label_png(path: str | Path) -> np.ndarray:
    """Class values of a grey (8/16-bit) or indexed PNG, exactly as stored; colour PNGs are refused."""
    path = Path(path)
    data = read_png_bytes(path)
    header = png_ihdr(data)
    if header is None:
        raise ImageReadError(f"{path}: not a PNG file")
    _, _, bit_depth, colour_type = header
    if colour_type == INDEXED:
        decoded = cv2.imdecode(np.frombuffer(_identity_palette(data, bit_depth), np.uint8), cv2.IMREAD_COLOR)
        values = None if decoded is None else np.ascontiguousarray(decoded[:, :, 0])
    elif colour_type == GREY:
        values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        raise ImageReadError(
            f"{path}: colour PNG; expected class values as a greyscale or indexed (palette) PNG"
        )
    if values is None or values.ndim != 2:
        raise ImageReadError(f"{path}: corrupt or truncated PNG")
    return values


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
        gt, pred = read_label_png(gt_path), read_label_png(pred_path)
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
