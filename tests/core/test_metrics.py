"""Semantic metrics: hand-computed cases, the fast path against the bincount oracle, and the
incremental matrix against a full recompute after random box edits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segstudio.core import metrics
from segstudio.core.box import Box
from segstudio.core.labels import VOID
from segstudio.core.metrics import ConfusionMatrix, confusion_bincount


def u16(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, np.uint16)


# A small case worked by hand: classes 0, 1, 2.
#   (0,0) gt 0 pred 0: hit            (0,1) gt 0 pred 1: class 0 misses, class 1 false positive
#   (0,2) gt 1 pred 1: hit            (1,0) gt 1 pred 1: hit
#   (1,1) gt 2 pred VOID: class 2 misses ("other" column)
#   (1,2) gt VOID pred 5: ignored entirely
GT = u16([[0, 0, 1], [1, 2, VOID]])
PRED = u16([[0, 1, 1], [1, VOID, 5]])


@pytest.fixture
def hand() -> ConfusionMatrix:
    return ConfusionMatrix.from_maps(GT, PRED, [0, 1, 2])


def test_hand_counts(hand: ConfusionMatrix) -> None:
    expected = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(hand.counts, expected)
    np.testing.assert_array_equal(hand.matrix, expected[:3, :3])
    np.testing.assert_array_equal(hand.gt_area, [2, 2, 1])
    np.testing.assert_array_equal(hand.pred_area, [1, 3, 0])
    assert hand.scored_pixels == 5


def test_hand_metrics(hand: ConfusionMatrix) -> None:
    np.testing.assert_allclose(hand.iou, [1 / 2, 2 / 3, 0.0])
    assert hand.miou == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    np.testing.assert_allclose(hand.class_accuracy, [1 / 2, 1.0, 0.0])
    assert hand.pixel_accuracy == pytest.approx(3 / 5)
    assert hand.fw_iou == pytest.approx((2 * 1 / 2 + 2 * 2 / 3 + 1 * 0) / 5)


def test_absent_class_is_nan_and_left_out_of_miou(hand: ConfusionMatrix) -> None:
    cm = ConfusionMatrix.from_maps(GT, PRED, [0, 1, 2, 7])
    assert math.isnan(cm.iou[3]) and math.isnan(cm.class_accuracy[3])
    assert cm.miou == pytest.approx(hand.miou)
    assert cm.fw_iou == pytest.approx(hand.fw_iou)


def test_class_only_predicted_counts_with_iou_zero() -> None:
    cm = ConfusionMatrix.from_maps(u16([[0, 0]]), u16([[0, 1]]), [0, 1])
    np.testing.assert_allclose(cm.iou, [0.5, 0.0])
    assert math.isnan(cm.class_accuracy[1])
    assert cm.miou == pytest.approx(0.25)


def test_ignore_value_drops_the_pixel_whatever_was_predicted() -> None:
    gt = u16([[255, 255, 1]])
    pred = u16([[1, 0, 1]])
    cm = ConfusionMatrix.from_maps(gt, pred, [0, 1], ignore=255)
    np.testing.assert_allclose(cm.iou, [math.nan, 1.0])
    assert cm.scored_pixels == 1


def test_unknown_ground_truth_is_unscored_but_predictions_there_are_false_positives() -> None:
    # With ignore=255, VOID and 9 are not classes and not ignored: the mmseg convention.
    gt = u16([[VOID, 9, 1, 255]])
    pred = u16([[1, 1, 1, 1]])
    cm = ConfusionMatrix.from_maps(gt, pred, [0, 1], ignore=255)
    np.testing.assert_allclose(cm.iou, [math.nan, 1 / 3])
    assert cm.pixel_accuracy == 1.0
    np.testing.assert_array_equal(cm.counts[2], [0, 2, 0])


def test_unknown_prediction_is_a_miss() -> None:
    cm = ConfusionMatrix.from_maps(u16([[4, 4]]), u16([[4, 99]]), [4, 8])
    np.testing.assert_allclose(cm.iou, [0.5, math.nan])
    np.testing.assert_array_equal(cm.counts[0], [1, 0, 1])


def test_non_contiguous_ids_keep_the_given_order() -> None:
    ids = [40, 3, 1000, VOID - 1]
    gt = u16([[3, 3, 40, VOID - 1, 1000]])
    pred = u16([[3, 40, 40, VOID - 1, 3]])
    cm = ConfusionMatrix.from_maps(gt, pred, ids)
    np.testing.assert_allclose(cm.iou, [1 / 2, 1 / 3, 0.0, 1.0])
    assert cm == confusion_bincount(gt, pred, ids)


def test_empty_matrix_metrics_are_nan() -> None:
    cm = ConfusionMatrix([0, 1])
    assert np.isnan(cm.iou).all()
    assert math.isnan(cm.miou) and math.isnan(cm.pixel_accuracy) and math.isnan(cm.fw_iou)
    empty = np.zeros((0, 5), np.uint16)
    assert ConfusionMatrix.from_maps(empty, empty, [0, 1]) == cm


@pytest.mark.parametrize(
    ("class_ids", "ignore"),
    [([0, 1, 1], VOID), ([0, VOID], VOID), ([0, 255], 255), ([-1], VOID), ([0], VOID + 1)],
)
def test_bad_class_ids_are_refused(class_ids: list[int], ignore: int) -> None:
    with pytest.raises(ValueError):
        ConfusionMatrix(class_ids, ignore)


def test_bad_maps_are_refused() -> None:
    cm = ConfusionMatrix([0, 1])
    with pytest.raises(ValueError, match="shape"):
        cm.add(np.zeros((2, 2), np.uint16), np.zeros((2, 3), np.uint16))
    with pytest.raises(ValueError, match="0..65535"):
        cm.add(np.array([[-1]]), np.array([[0]]))
    with pytest.raises(TypeError):
        cm.add(np.zeros((1, 1)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="2-D"):
        cm.add(np.zeros(3, np.uint16), np.zeros(3, np.uint16))


def test_other_integer_dtypes_give_the_same_counts(hand: ConfusionMatrix) -> None:
    assert ConfusionMatrix.from_maps(GT.astype(np.int64), PRED.astype(np.int32), [0, 1, 2]) == hand


def test_subtracting_what_was_never_added_is_refused_and_changes_nothing(hand: ConfusionMatrix) -> None:
    before = hand.copy()
    with pytest.raises(ValueError, match="never counted"):
        hand.subtract(u16([[2, 2]]), u16([[2, 2]]))
    assert hand == before


def test_update_box_follows_ground_truth_and_prediction_edits(hand: ConfusionMatrix) -> None:
    gt, pred = GT.copy(), PRED.copy()
    box = Box(0, 1, 2, 3)
    gt_before = gt[box.slices].copy()
    gt[box.slices] = 2
    hand.update_box(box, gt, pred, gt_before=gt_before)
    assert hand == confusion_bincount(gt, pred, [0, 1, 2])
    pred_before = pred[box.slices].copy()
    pred[box.slices] = 2
    hand.update_box(box, gt, pred, pred_before=pred_before)
    assert hand == confusion_bincount(gt, pred, [0, 1, 2])
    np.testing.assert_allclose(hand.iou, [1.0, 1.0, 1.0])
    hand.update_box(Box.empty(), gt, pred, gt_before=np.zeros((0, 0), np.uint16))
    assert hand == confusion_bincount(gt, pred, [0, 1, 2])


def random_maps(rng: np.random.Generator, shape: tuple[int, int], values: np.ndarray) -> tuple:
    return rng.choice(values, shape).astype(np.uint16), rng.choice(values, shape).astype(np.uint16)


@pytest.mark.parametrize("n_classes", [20, 300])  # uint8 and uint16 lookup tables
def test_chunked_threaded_fast_path_equals_bincount(monkeypatch: pytest.MonkeyPatch, n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    ids = rng.choice(VOID - 1, n_classes, replace=False)
    values = np.concatenate([ids, [VOID, VOID - 1, 7, 7]])
    gt, pred = random_maps(rng, (67, 89), values)
    expected = confusion_bincount(gt, pred, ids)
    assert ConfusionMatrix.from_maps(gt, pred, ids) == expected
    monkeypatch.setattr(metrics, "CHUNK_PIXELS", 500)
    monkeypatch.setattr(metrics, "PARALLEL_MIN_PIXELS", 1)
    assert ConfusionMatrix.from_maps(gt, pred, ids) == expected
    monkeypatch.setattr(metrics, "CHUNK_PIXELS", 50)  # narrower than a row: columns split too
    assert ConfusionMatrix.from_maps(gt, pred, ids) == expected
    assert ConfusionMatrix.from_maps(gt[::3, 1::2], pred[::3, 1::2], ids) == confusion_bincount(
        gt[::3, 1::2], pred[::3, 1::2], ids
    )


def test_counts_stay_exact_past_float32_precision() -> None:
    """calcHist counts in float32; one bin of 2**24 + an odd number of pixels must still be exact."""
    side = 4097
    zeros = np.zeros((side, side), np.uint16)
    cm = ConfusionMatrix.from_maps(zeros, zeros, [0])
    assert int(cm.counts[0, 0]) == side * side


# ---------------------------------------------------------------- properties

CLASS_IDS = [0, 3, 4, 200, 4000]
VALUES = [*CLASS_IDS, 7, 255, VOID]  # classes, an unknown id, a possible ignore value, VOID


def maps_strategy(height: int, width: int) -> st.SearchStrategy[np.ndarray]:
    cells = st.lists(st.sampled_from(VALUES), min_size=height * width, max_size=height * width)
    return cells.map(lambda v: np.array(v, np.uint16).reshape(height, width))


def naive_iou(gt: np.ndarray, pred: np.ndarray, class_ids: list[int], ignore: int) -> np.ndarray:
    """IoU from the definition, pixel sets per class, with ignored ground truth left out."""
    scored = gt != ignore
    out = []
    for c in class_ids:
        inter = ((gt == c) & (pred == c) & scored).sum()
        union = (((gt == c) | (pred == c)) & scored).sum()
        out.append(inter / union if union else math.nan)
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), ignore=st.sampled_from([VOID, 255]), chunk=st.integers(1, 64))
def test_fast_path_matches_oracle_and_definition(data: st.DataObject, ignore: int, chunk: int) -> None:
    height, width = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    gt = data.draw(maps_strategy(height, width))
    pred = data.draw(maps_strategy(height, width))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "CHUNK_PIXELS", chunk)
        mp.setattr(metrics, "PARALLEL_MIN_PIXELS", 1)
        cm = ConfusionMatrix.from_maps(gt, pred, CLASS_IDS, ignore)
    assert cm == confusion_bincount(gt, pred, CLASS_IDS, ignore)
    np.testing.assert_allclose(cm.iou, naive_iou(gt, pred, CLASS_IDS, ignore))
    scored = np.isin(gt, CLASS_IDS)
    if scored.any():
        assert cm.pixel_accuracy == pytest.approx((gt == pred)[scored].mean())


@st.composite
def box_edit(draw: st.DrawFn, height: int, width: int) -> tuple[str, Box, np.ndarray]:
    top, bottom = sorted(draw(st.lists(st.integers(0, height), min_size=2, max_size=2)))
    left, right = sorted(draw(st.lists(st.integers(0, width), min_size=2, max_size=2)))
    box = Box(top, left, bottom, right)
    target = draw(st.sampled_from(["gt", "pred", "both"]))
    fill = draw(maps_strategy(box.height, box.width))
    return target, box, fill


@settings(max_examples=60, deadline=None)
@given(data=st.data(), ignore=st.sampled_from([VOID, 255]))
def test_incremental_updates_equal_full_recompute(data: st.DataObject, ignore: int) -> None:
    height, width = data.draw(st.integers(1, 16)), data.draw(st.integers(1, 16))
    gt = data.draw(maps_strategy(height, width))
    pred = data.draw(maps_strategy(height, width))
    cm = ConfusionMatrix.from_maps(gt, pred, CLASS_IDS, ignore)
    edits = data.draw(st.lists(box_edit(height, width), max_size=8))
    for target, box, fill in edits:
        gt_before = gt[box.slices].copy() if target in ("gt", "both") else None
        pred_before = pred[box.slices].copy() if target in ("pred", "both") else None
        if gt_before is not None:
            gt[box.slices] = fill
        if pred_before is not None:
            pred[box.slices] = fill[::-1]
        cm.update_box(box, gt, pred, gt_before=gt_before, pred_before=pred_before)
        assert cm == confusion_bincount(gt, pred, CLASS_IDS, ignore)
