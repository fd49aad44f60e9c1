"""Semantic evaluation of label-PNG folders: grey and indexed PNGs, hand-counted IoU."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio.core.palette import ClassDef, Palette
from segstudio.io.images import ImageReadError
from segstudio.io.semantic_eval import evaluate_semantic_dirs, read_label_png

PALETTE = Palette(
    "abc", [ClassDef(0, "bg", (0, 0, 0)), ClassDef(1, "a", (128, 0, 0)), ClassDef(2, "b", (0, 128, 0))]
)


def indexed_png(indices: np.ndarray, colors: list[tuple[int, int, int]], bit_depth: int = 8) -> bytes:
    """A palette PNG written by hand (OpenCV cannot write one), like VOC's SegmentationClass files."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width = indices.shape
    per_byte = 8 // bit_depth
    rows = []
    for row in indices.astype(np.uint8):
        packed = bytearray()
        for start in range(0, width, per_byte):
            value = 0
            for n, index in enumerate(row[start : start + per_byte]):
                value |= int(index) << (8 - bit_depth * (n + 1))
            packed.append(value)
        rows.append(b"\x00" + bytes(packed))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 3, 0, 0, 0)
    plte = b"".join(bytes(c) for c in colors)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", plte)
        + chunk(b"tRNS", b"\xff" * len(colors))
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def test_indexed_png_gives_indices_not_colours(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2, 255], [255, 2, 1, 0]], np.uint8)
    colors = [(0, 0, 0)] * 256
    colors[1], colors[2], colors[255] = (128, 0, 0), (0, 0, 0), (224, 224, 192)  # index 2 shares black
    (tmp_path / "x.png").write_bytes(indexed_png(indices, colors))
    values = read_label_png(tmp_path / "x.png")
    assert values.dtype == np.uint8 and np.array_equal(values, indices)


def test_low_bit_depth_indexed_png(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2, 3, 1], [3, 2, 1, 0, 0]], np.uint8)
    (tmp_path / "x.png").write_bytes(indexed_png(indices, [(9, 9, 9)] * 4, bit_depth=2))
    assert np.array_equal(read_label_png(tmp_path / "x.png"), indices)


def test_grey_8_and_16_bit_are_read_as_stored(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.array([[0, 7, 255]], np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.array([[0, 300, 65535]], np.uint16))
    assert read_label_png(tmp_path / "a.png").tolist() == [[0, 7, 255]]
    assert read_label_png(tmp_path / "b.png").tolist() == [[0, 300, 65535]]
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ImageReadError, match=r"c\.png: colour PNG"):
        read_label_png(tmp_path / "c.png")


def test_hand_counted_iou(tmp_path: Path) -> None:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    # image 1 (grey): gt  0 0 1 1 1 2 255 255 ; pred 0 1 1 1 2 2 2 0
    cv2.imwrite(str(gt_dir / "one.png"), np.array([[0, 0, 1, 1, 1, 2, 255, 255]], np.uint8))
    cv2.imwrite(str(pred_dir / "one.png"), np.array([[0, 1, 1, 1, 2, 2, 2, 0]], np.uint8))
    # image 2 (indexed in gt, grey in pred): gt 2 2 ; pred 2 9 (9 is not a class: a miss)
    (gt_dir / "two.png").write_bytes(indexed_png(np.array([[2, 2]]), [(0, 0, 0)] * 3))
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
