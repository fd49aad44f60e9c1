"""PQ/SQ/RQ against hand-computed numbers and an independent mask-by-mask reference of the protocol."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core.pq import PQStat, pq_image, pq_results

PERSON, CAR, SKY, GRASS, DOG = 1, 3, 187, 193, 18
CATEGORIES = {PERSON: True, CAR: True, SKY: False, GRASS: False, DOG: True}  # dog never appears


def _row(runs: list[tuple[int, int]]) -> np.ndarray:
    """A 1-pixel-high id map from (id, length) runs, easy to count by hand."""
    return np.concatenate([np.full(n, v, np.uint32) for v, n in runs])[None, :]


# 44 columns. Ground truth: person 0-9, car 10-19, sky 20-29, grass 30-33, person crowd 34-37, void 38-43.
GT = _row([(1, 10), (2, 10), (3, 10), (4, 4), (5, 4), (0, 6)])
GT_SEGMENTS = [
    {"id": 1, "category_id": PERSON, "iscrowd": 0, "area": 10},
    {"id": 2, "category_id": CAR, "iscrowd": 0, "area": 10},
    {"id": 3, "category_id": SKY, "iscrowd": 0, "area": 10},
    {"id": 4, "category_id": GRASS, "iscrowd": 0, "area": 4},
    {"id": 5, "category_id": PERSON, "iscrowd": 1, "area": 4},
]
# Prediction: person 0-5 (IoU 6/10 = 0.6, TP); car 16-19 (IoU 4/10 = 0.4: FP + FN); sky 20-29 plus
# one void pixel (union leaves the void pixel out: IoU 10/10); a car of 5 pixels, 4 on void (ignored);
# a person on the crowd region (ignored); no grass at all (FN).
PRED = _row([(11, 6), (0, 10), (12, 4), (13, 10), (15, 1), (0, 3), (14, 4), (13, 1), (0, 1), (15, 4)])
PRED_SEGMENTS = [
    {"id": 11, "category_id": PERSON, "iscrowd": 0},
    {"id": 12, "category_id": CAR, "iscrowd": 0},
    {"id": 13, "category_id": SKY, "iscrowd": 0},
    {"id": 14, "category_id": PERSON, "iscrowd": 0},
    {"id": 15, "category_id": CAR, "iscrowd": 0},
]


def test_hand_computed_case() -> None:
    stat = pq_image(GT, GT_SEGMENTS, PRED, PRED_SEGMENTS, CATEGORIES)
    counts = {c: (s.tp, s.fp, s.fn) for c, s in stat.per_category.items() if s.tp + s.fp + s.fn}
    assert counts == {PERSON: (1, 0, 0), CAR: (0, 1, 1), SKY: (1, 0, 0), GRASS: (0, 0, 1)}
    assert stat[PERSON].iou == pytest.approx(0.6) and stat[SKY].iou == 1.0

    results = pq_results(stat, CATEGORIES)
    # person PQ .6 SQ .6 RQ 1; car 0 0 0; sky 1 1 1; grass 0 0 0 (RQ = 0 / (0 + .5)); dog not counted
    assert results["All"] == pytest.approx({"pq": 0.4, "sq": 0.4, "rq": 0.5, "n": 4})
    assert results["Things"] == pytest.approx({"pq": 0.3, "sq": 0.3, "rq": 0.5, "n": 2})
    assert results["Stuff"] == pytest.approx({"pq": 0.5, "sq": 0.5, "rq": 0.5, "n": 2})
    assert results["per_class"][str(PERSON)] == pytest.approx(
        {"pq": 0.6, "sq": 0.6, "rq": 1.0, "tp": 1, "fp": 0, "fn": 0}
    )
    assert str(DOG) not in results["per_class"]  # absent from both sides: not reported, not counted


def test_images_add_up() -> None:
    stat = PQStat()
    for _ in range(3):
        stat += pq_image(GT, GT_SEGMENTS, PRED, PRED_SEGMENTS, CATEGORIES)
    assert (stat[CAR].tp, stat[CAR].fp, stat[CAR].fn) == (0, 3, 3)
    assert pq_results(stat, CATEGORIES)["All"] == pytest.approx({"pq": 0.4, "sq": 0.4, "rq": 0.5, "n": 4})


def test_iou_of_exactly_one_half_does_not_match() -> None:
    gt = _row([(1, 4)])
    pred = _row([(7, 2), (0, 2)])
    stat = pq_image(
        gt, [{"id": 1, "category_id": SKY, "area": 4}], pred, [{"id": 7, "category_id": SKY}], [SKY]
    )
    assert (stat[SKY].tp, stat[SKY].fp, stat[SKY].fn) == (0, 1, 1)


def test_ground_truth_area_comes_from_the_json() -> None:
    """The API trusts ``area`` in the ground truth's segments_info; so do we (pixel count if absent)."""
    gt, pred = _row([(1, 10)]), _row([(7, 6), (0, 4)])
    pred_segments = [{"id": 7, "category_id": SKY}]
    stated = pq_image(gt, [{"id": 1, "category_id": SKY, "area": 8}], pred, pred_segments, [SKY])
    counted = pq_image(gt, [{"id": 1, "category_id": SKY}], pred, pred_segments, [SKY])
    assert stated[SKY].iou == pytest.approx(6 / 8) and counted[SKY].iou == pytest.approx(6 / 10)


def test_only_the_last_crowd_segment_of_a_category_excuses_false_positives() -> None:
    """The API keeps one crowd region per category (the last listed); a pred on an earlier one is an FP."""
    gt = _row([(1, 4), (2, 4)])
    gt_segments = [
        {"id": 1, "category_id": PERSON, "iscrowd": 1, "area": 4},
        {"id": 2, "category_id": PERSON, "iscrowd": 1, "area": 4},
    ]
    pred = _row([(7, 4), (8, 4)])
    pred_segments = [{"id": 7, "category_id": PERSON}, {"id": 8, "category_id": PERSON}]
    stat = pq_image(gt, gt_segments, pred, pred_segments, [PERSON])
    assert (stat[PERSON].tp, stat[PERSON].fp, stat[PERSON].fn) == (0, 1, 0)


def test_prediction_sanity_checks_match_the_api() -> None:
    with pytest.raises(ValueError, match="15 is in the PNG but not in segments_info"):
        pq_image(GT, GT_SEGMENTS, PRED, PRED_SEGMENTS[:4], CATEGORIES)
    with pytest.raises(ValueError, match=r"\[99\] are in segments_info but not in the PNG"):
        pq_image(GT, GT_SEGMENTS, PRED, [*PRED_SEGMENTS, {"id": 99, "category_id": CAR}], CATEGORIES)
    with pytest.raises(ValueError, match="unknown category_id 5"):
        pq_image(GT, GT_SEGMENTS, PRED, [*PRED_SEGMENTS[:4], {"id": 15, "category_id": 5}], CATEGORIES)
    with pytest.raises(ValueError, match="44x1 pixels but the prediction is 40x1"):
        pq_image(GT, GT_SEGMENTS, PRED[:, :40], PRED_SEGMENTS, CATEGORIES)


@pytest.mark.parametrize("side", ["ground-truth", "predicted"])
@pytest.mark.parametrize("bad", [-1, 256**3])
def test_ids_outside_24_bits_are_refused_wherever_they_are(side: str, bad: int) -> None:
    gt, pred = GT.astype(np.int64), PRED.astype(np.int64)
    (gt if side == "ground-truth" else pred)[0, 17] = bad  # one pixel inside a run of others
    with pytest.raises(ValueError, match=rf"^{side} segment ids must lie in 0\.\.16777215"):
        pq_image(gt, GT_SEGMENTS, pred, PRED_SEGMENTS, CATEGORIES)


def test_nothing_counted_gives_zero_not_a_crash() -> None:
    results = pq_results(PQStat(), CATEGORIES)
    assert results["All"] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}


# -- an independent reference: one boolean mask per segment, the protocol's rules spelled out ------


def _reference(gt, gt_segments, pred, pred_segments, categories):  # noqa: ANN001, ANN202
    stats = {c: [0.0, 0, 0, 0] for c in categories}  # iou, tp, fp, fn
    void = gt == 0
    matched_gt, matched_pred = set(), set()
    for g in gt_segments:
        if g["iscrowd"]:
            continue
        for p in pred_segments:
            if p["category_id"] != g["category_id"]:
                continue
            gt_mask, pred_mask = gt == g["id"], pred == p["id"]
            intersection = np.sum(gt_mask & pred_mask)
            union = g["area"] + pred_mask.sum() - intersection - np.sum(pred_mask & void)
            if intersection / union > 0.5:
                stats[g["category_id"]][0] += intersection / union
                stats[g["category_id"]][1] += 1
                matched_gt.add(g["id"])
                matched_pred.add(p["id"])
    crowd = {g["category_id"]: g["id"] for g in gt_segments if g["iscrowd"]}
    for g in gt_segments:
        if not g["iscrowd"] and g["id"] not in matched_gt:
            stats[g["category_id"]][3] += 1
    for p in pred_segments:
        if p["id"] in matched_pred:
            continue
        pred_mask = pred == p["id"]
        ignored = np.sum(pred_mask & void)
        if p["category_id"] in crowd:
            ignored += np.sum(pred_mask & (gt == crowd[p["category_id"]]))
        if ignored / pred_mask.sum() <= 0.5:
            stats[p["category_id"]][2] += 1
    return stats


def _random_image(rng: np.random.Generator, categories: list[int]) -> tuple[np.ndarray, list[dict]]:
    """Blocky random segments (so that real matches happen), some void, some crowd."""
    n = int(rng.integers(1, 8))
    coarse = rng.integers(0, n + 1, size=(4, 5))
    ids = np.repeat(np.repeat(coarse, 4, axis=0), 4, axis=1)
    noise = rng.random(ids.shape) < 0.15
    ids = np.where(noise, rng.integers(0, n + 1, size=ids.shape), ids).astype(np.uint32)
    offset = int(rng.integers(1, 1000))
    ids = np.where(ids > 0, ids * 7919 + offset, 0).astype(np.uint32)
    present = [int(v) for v in np.unique(ids) if v]
    segments = [
        {
            "id": v,
            "category_id": int(rng.choice(categories)),
            "iscrowd": int(rng.random() < 0.15),
            "area": int(np.sum(ids == v)),
        }
        for v in present
    ]
    return ids, segments


@pytest.mark.parametrize("seed", range(40))
def test_matches_the_mask_by_mask_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    categories = [PERSON, CAR, SKY]
    gt, gt_segments = _random_image(rng, categories)
    # the prediction: a perturbed copy of the ground truth, or unrelated
    if rng.random() < 0.7:
        flip = rng.random(gt.shape) < rng.uniform(0.0, 0.4)
        pred = np.where(flip, 0, gt).astype(np.uint32)
        pred_segments = [
            {
                "id": s["id"],
                "category_id": s["category_id"] if rng.random() < 0.8 else int(rng.choice(categories)),
            }
            for s in gt_segments
            if np.any(pred == s["id"])
        ]
    else:
        pred, pred_segments = _random_image(rng, categories)
    stat = pq_image(gt, gt_segments, pred, pred_segments, categories)
    expected = _reference(gt, gt_segments, pred, pred_segments, categories)
    for category in categories:
        s = stat[category]
        assert (s.tp, s.fp, s.fn) == tuple(expected[category][1:]), category
        assert s.iou == pytest.approx(expected[category][0], rel=1e-12, abs=1e-12)
