"""Semantic evaluation of label-PNG folders: grey and indexed PNGs, hand-counted IoU."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from _png_files import packed_rows, png_file

from segstudio.core.palette import ClassDef, Palette
from segstudio.io.semantic_eval import evaluate_semantic_dirs

PALETTE = Palette(
    "abc", [ClassDef(0, "bg", (0, 0, 0)), ClassDef(1, "a", (128, 0, 0)), ClassDef(2, "b", (0, 128, 0))]
)


def test_hand_counted_iou(tmp_path: Path) -> None:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    # image 1 (grey): gt  0 0 1 1 1 2 255 255 ; pred 0 1 1 1 2 2 2 0
    cv2.imwrite(str(gt_dir / "one.png"), np.array([[0, 0, 1, 1, 1, 2, 255, 255]], np.uint8))
    cv2.imwrite(str(pred_dir / "one.png"), np.array([[0, 1, 1, 1, 2, 2, 2, 0]], np.uint8))
    # image 2 (indexed in gt, grey in pred): gt 2 2 ; pred 2 9 (9 is not a class: a miss)
    two = png_file(packed_rows(np.array([[2, 2]])), 2, 1, colors=[(0, 0, 0)] * 3)
    (gt_dir / "two.png").write_bytes(two)
    cv2.imwrite(str(pred_dir / "two.png"), np.array([[2, 9]], np.uint8))
    results = evaluate_semantic_dirs(gt_dir, pred_dir, PALETTE)
    # bg: tp 1, gt 2, pred 1 -> 1/2; a: tp 2, gt 3, pred 3 -> 2/4; b: tp 2, gt 3, pred 3 -> 2/4
    assert results["per_class_iou"] == pytest.approx({"0": 0.5, "1": 0.5, "2": 0.5})
    assert results["miou"] == pytest.approx(0.5)
    assert results["pixel_accuracy"] == pytest.approx(5 / 8)
    assert results["images"] == 2


def test_missing_prediction_and_size_mismatch_are_named(tmp_path: Path) -> None:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    cv2.imwrite(str(gt_dir / "one.png"), np.zeros((2, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"pred/one\.png: no prediction"):
        evaluate_semantic_dirs(gt_dir, pred_dir, PALETTE)
    cv2.imwrite(str(pred_dir / "one.png"), np.zeros((3, 2), np.uint8))
    with pytest.raises(ValueError, match=r"one\.png: 2x3 pixels, ground truth .* is 2x2"):
        evaluate_semantic_dirs(gt_dir, pred_dir, PALETTE)
