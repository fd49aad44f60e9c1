"""PQ's matching in C (``pixels.pq_match`` behind ``pq.pq_of_pair_counts``) against its Python twin
(``pq.pq_of_overlaps``): the same sums on plain input, and the Python path's numbers, warnings and
errors wherever the C path declines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segstudio import _native
from segstudio.core.pq import PQStat, pq_image, pq_of_overlaps, pq_of_pair_counts
from segstudio.core.runs import pair_counts, unpack_pair_counts

CATEGORIES = {1: True, 2: True, 3: False}


@pytest.fixture(params=["compiled", "pure"])
def matching(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once with the C matching and once without the extension."""
    if request.param == "compiled":
        assert _native.pixels is not None, "segstudio._native.pixels is not built"
    else:
        monkeypatch.setattr(_native, "pixels", None)
    return request.param


def _answer(gt: np.ndarray, pred: np.ndarray) -> tuple[bytes, bytes]:
    """The extension's pair counting answer for two id maps, made by numpy (so it exists on both paths)."""
    keys, counts = pair_counts(gt.astype(np.uint64), pred.astype(np.uint64), 1 << 32)
    return keys.astype(np.uint64).tobytes(), counts.astype(np.int64).tobytes()


def _sums(stat: PQStat) -> dict[int, tuple[float, int, int, int]]:
    return {c: (s.iou, s.tp, s.fp, s.fn) for c, s in stat.per_category.items()}


def _python(
    answer: tuple[bytes, bytes], gt_segments: list, pred_segments: list, warnings: list | None = None
):  # noqa: ANN202
    return pq_of_overlaps(*unpack_pair_counts(*answer), gt_segments, pred_segments, CATEGORIES, warnings)


@st.composite
def images(draw: st.DrawFn) -> tuple[np.ndarray, list[dict], np.ndarray, list[dict]]:
    """Small id maps (so IoUs of exactly 0.5, empty unions of void and crowd overlaps come up) with
    plain segments_info: every id listed, areas right, some crowd, categories that may disagree."""
    width = draw(st.integers(1, 12))
    gt = np.array(draw(st.lists(st.integers(0, 4), min_size=width, max_size=width)), np.uint32) * 3
    pred = np.array(draw(st.lists(st.integers(0, 4), min_size=width, max_size=width)), np.uint32) * 5
    category = st.sampled_from(sorted(CATEGORIES))
    gt_segments = []
    for label in draw(
        st.permutations(sorted({int(v) for v in gt if v} | {draw(st.sampled_from([3, 6, 12]))}))
    ):
        segment: dict[str, Any] = {"id": label, "category_id": draw(category)}
        if draw(st.booleans()):
            segment["iscrowd"] = draw(st.sampled_from([0, 1, True, False]))
        if draw(st.booleans()) or not np.any(gt == label):
            segment["area"] = int(np.sum(gt == label))
        gt_segments.append(segment)
    pred_segments = [
        {"id": label, "category_id": draw(category), "iscrowd": 0}
        for label in draw(st.permutations(sorted({int(v) for v in pred if v})))
    ]
    return gt[None, :], gt_segments, pred[None, :], pred_segments


@settings(max_examples=400, deadline=None)
@given(images())
def test_the_c_matching_gives_the_python_sums(image: tuple) -> None:
    gt, gt_segments, pred, pred_segments = image
    answer = _answer(gt, pred)
    assert _native.pixels is not None
    assert _native.pixels.pq_match(*answer, gt_segments, pred_segments, CATEGORIES) is not None  # taken
    warnings: list[str] = []
    compiled = pq_of_pair_counts(*answer, gt_segments, pred_segments, CATEGORIES, warnings)
    assert _sums(compiled) == _sums(_python(answer, gt_segments, pred_segments))  # floats bit for bit
    assert warnings == []


def test_an_iou_of_exactly_one_half_is_no_match(matching: str) -> None:
    gt, pred = np.array([[3, 3, 3, 3]]), np.array([[5, 5, 0, 0]])
    gt_segments, pred_segments = [{"id": 3, "category_id": 3, "area": 4}], [{"id": 5, "category_id": 3}]
    stat = pq_of_pair_counts(*_answer(gt, pred), gt_segments, pred_segments, CATEGORIES)
    assert _sums(stat) == {3: (0.0, 0, 1, 1)}


def test_void_and_the_last_crowd_segment_excuse_false_positives(matching: str) -> None:
    # a crowd person (3), then a later crowd person (6); pred 5 lies on 6 and void, pred 10 on 3
    gt = np.array([[3, 3, 3, 6, 6, 6, 0, 0, 9, 9]])
    pred = np.array([[10, 10, 10, 5, 5, 5, 5, 0, 15, 15]])
    gt_segments = [
        {"id": 3, "category_id": 1, "iscrowd": 1, "area": 3},
        {"id": 6, "category_id": 1, "iscrowd": True, "area": 3},
        {"id": 9, "category_id": 2, "area": 2},
    ]
    pred_segments = [{"id": 10, "category_id": 1}, {"id": 5, "category_id": 1}, {"id": 15, "category_id": 2}]
    stat = pq_of_pair_counts(*_answer(gt, pred), gt_segments, pred_segments, CATEGORIES)
    assert _sums(stat) == {2: (1.0, 1, 0, 0), 1: (0.0, 0, 1, 0)}  # 10 is an FP: 3 is not the last crowd


GT = np.array([[3, 3, 6, 6, 0]])
PRED = np.array([[5, 5, 10, 10, 10]])
GT_SEGMENTS = [{"id": 3, "category_id": 1, "area": 2}, {"id": 6, "category_id": 2}]
PRED_SEGMENTS = [{"id": 5, "category_id": 1}, {"id": 10, "category_id": 2}]


@pytest.mark.parametrize(
    "gt_segments, pred_segments",
    [
        ([{"id": 3, "category_id": 1, "area": 2.0}, GT_SEGMENTS[1]], PRED_SEGMENTS),  # area not an int
        ([{"id": 3, "category_id": 1, "iscrowd": "0"}, GT_SEGMENTS[1]], PRED_SEGMENTS),  # int("0")
        (GT_SEGMENTS, [{"id": 5.0, "category_id": 1}, PRED_SEGMENTS[1]]),  # id not an int
        (GT_SEGMENTS, [{"id": 5, "category_id": True}, PRED_SEGMENTS[1]]),  # bool category
        ([{"id": 3, "category_id": 1, "area": 7}, GT_SEGMENTS[1]], PRED_SEGMENTS),  # area not its pixels
        (tuple(GT_SEGMENTS), PRED_SEGMENTS),  # not a list
    ],
)
def test_what_is_not_plain_is_scored_by_the_python_path(gt_segments: Any, pred_segments: list) -> None:
    answer = _answer(GT, PRED)
    assert _native.pixels is not None
    assert _native.pixels.pq_match(*answer, gt_segments, pred_segments, CATEGORIES) is None
    warnings: list[str] = []
    stat = pq_of_pair_counts(*answer, gt_segments, pred_segments, CATEGORIES, warnings)
    expected_warnings: list[str] = []
    assert _sums(stat) == _sums(_python(answer, gt_segments, pred_segments, expected_warnings))
    assert warnings == expected_warnings


@pytest.mark.parametrize(
    "gt_segments, pred_segments, message",
    [
        (GT_SEGMENTS, PRED_SEGMENTS[:1], "predicted segment id 10 is in the PNG but not in segments_info"),
        (GT_SEGMENTS, [*PRED_SEGMENTS, {"id": 7, "category_id": 1}], r"\[7\] are in segments_info but not"),
        (GT_SEGMENTS, [PRED_SEGMENTS[0], {"id": 10, "category_id": 4}], "10 has unknown category_id 4"),
        ([*GT_SEGMENTS, {"id": 3, "category_id": 2}], PRED_SEGMENTS, "lists segment id 3 twice"),
        (GT_SEGMENTS, [*PRED_SEGMENTS, {"id": 0, "category_id": 1}], "lists id 0, which is void"),
    ],
)
def test_problems_are_named_by_the_python_path(
    matching: str, gt_segments: list, pred_segments: list, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        pq_of_pair_counts(*_answer(GT, PRED), gt_segments, pred_segments, CATEGORIES)


def test_a_wrong_area_is_warned_about_on_both_paths(matching: str) -> None:
    warnings: list[str] = []
    gt_segments = [{"id": 3, "category_id": 1, "area": 3}, GT_SEGMENTS[1]]
    stat = pq_of_pair_counts(*_answer(GT, PRED), gt_segments, PRED_SEGMENTS, CATEGORIES, warnings)
    assert warnings == [
        "ground-truth segment 3 has area 3 in the JSON but 2 pixels in the PNG "
        "(PQ uses the JSON's area, as the COCO panoptic API does)"
    ]
    assert stat[1].tp == 1 and stat[1].iou == 2 / 3


def test_ids_outside_24_bits_are_refused(matching: str) -> None:
    # from id maps (pq_image): the compiled counting takes uint32 maps, the C matching declines
    gt = np.array([[3, 1 << 24]], np.uint32)
    with pytest.raises(ValueError, match="ground-truth segment ids must lie in 0..16777215"):
        pq_image(gt, GT_SEGMENTS, np.array([[5, 5]], np.uint32), PRED_SEGMENTS[:1], CATEGORIES)
