"""Semantic evaluation of label-PNG folders: grey and indexed PNGs, hand-counted IoU."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from _png_files import packed_rows, png_file

from segstudio.core.palette import ClassDef, Palette
from segstudio.io.images import ImageReadError
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


def _folders(tmp_path: Path, count: int) -> tuple[Path, Path]:
    """``count`` pairs of 4x4 label PNGs, each pair of its own values (so every pair counts)."""
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for n in range(count):
        name = f"a_dataset_image_of_a_long_name_{n:06d}.png"
        gt = np.full((4, 4), n % 3, np.uint8)
        gt[0, : n % 5] = 255
        cv2.imwrite(str(gt_dir / name), gt)
        cv2.imwrite(str(pred_dir / name), np.roll(gt, n % 4, axis=1))
    return gt_dir, pred_dir


def test_many_files_hold_names_only_and_jobs_change_nothing(tmp_path: Path) -> None:
    """400 pairs: the traced peak stays under 0.2 MB (~0.11 MB; Path objects and a dict of
    every prediction took ~0.34 MB), and two processes count exactly what one does."""
    gt_dir, pred_dir = _folders(tmp_path, 400)
    tracemalloc.start()
    try:
        one = evaluate_semantic_dirs(gt_dir, pred_dir, PALETTE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000
    assert one["images"] == 400 and one["miou"] is not None
    assert evaluate_semantic_dirs(gt_dir, pred_dir, PALETTE, jobs=2) == one


@pytest.mark.parametrize("jobs", [1, 2])
def test_first_problem_in_name_order_is_reported(tmp_path: Path, jobs: int) -> None:
    gt_dir, pred_dir = _folders(tmp_path, 40)
    names = sorted(p.name for p in gt_dir.iterdir())
    for name in (names[31], names[17]):
        (pred_dir / name).write_bytes(b"not a PNG")
    with pytest.raises(ImageReadError, match=rf"pred/{names[17]}: not a PNG"):
        evaluate_semantic_dirs(gt_dir, pred_dir, PALETTE, jobs=jobs)
    for name in (names[29], names[23]):
        (pred_dir / name).unlink()
    with pytest.raises(FileNotFoundError, match=rf"pred/{names[23]}: no prediction for .*gt/{names[23]}"):
        evaluate_semantic_dirs(gt_dir, pred_dir, PALETTE, jobs=jobs)
