"""PQ of label maps (the live path) agrees with the COCO-exact ``pq_image`` on the same segments."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segstudio.core.label_pq import STUFF_KEY, label_map_pq, segment_keys
from segstudio.core.labels import VOID, LabelMap
from segstudio.core.panoptic import labels_to_panoptic
from segstudio.core.pq import pq_image, pq_results
from segstudio.io.coco_panoptic import read_coco_panoptic

SKY, GRASS, PERSON, CAR = 0, 1, 2, 3
ISTHING = {SKY: False, GRASS: False, PERSON: True, CAR: True}


def _reference(gt: LabelMap, pred: LabelMap, isthing: dict[int, bool]) -> dict:
    """The dataset evaluation's numbers: both maps as COCO segment ids, then ``pq_image``."""
    things = [c for c, t in isthing.items() if t]
    gt_ids, gt_segments = labels_to_panoptic(gt, things)
    pred_ids, pred_segments = labels_to_panoptic(pred, things)
    return pq_results(pq_image(gt_ids, gt_segments, pred_ids, pred_segments, isthing), isthing)


def _same(live, reference: dict) -> None:
    for name, quality in (("All", live.all), ("Things", live.things), ("Stuff", live.stuff)):
        expected = reference[name]
        assert quality.n == expected["n"], name
        assert (quality.pq, quality.sq, quality.rq) == pytest.approx(
            (expected["pq"], expected["sq"], expected["rq"]), abs=1e-12
        ), name
    assert {str(k) for k in live.per_class} == set(reference["per_class"])
    for category, values in live.per_class.items():
        expected = reference["per_class"][str(category)]
        assert (values.tp, values.fp, values.fn) == (expected["tp"], expected["fp"], expected["fn"])
        assert values.pq == pytest.approx(expected["pq"], abs=1e-12)


def _pq(gt: LabelMap, pred: LabelMap, isthing: dict[int, bool]):
    return label_map_pq(gt.category, gt.instance, pred.category, pred.instance, isthing, gt.crowd)


def _scene(rng: np.random.Generator, height: int = 96, width: int = 128) -> LabelMap:
    """Sky over grass, a few people and cars as discs and boxes, a void border strip."""
    labels = LabelMap.empty(height, width)
    labels.category[:] = SKY
    labels.category[height // 2 :] = GRASS
    for instance in range(1, 9):
        category = PERSON if instance % 2 else CAR
        y, x = int(rng.integers(10, height - 10)), int(rng.integers(10, width - 10))
        mask = np.zeros((height, width), np.uint8)
        cv2.circle(mask, (x, y), int(rng.integers(4, 12)), 1, -1)
        labels.category[mask > 0] = category
        labels.instance[mask > 0] = instance
    labels.category[:, :3] = VOID
    labels.instance[:, :3] = 0
    return labels


def _degrade(labels: LabelMap, rng: np.random.Generator) -> LabelMap:
    """A plausible prediction: shifted, one object relabelled, one dropped, a false object, noise."""
    pred = LabelMap.empty(*labels.shape)
    shift = rng.integers(-3, 4, 2)
    pred.category[:] = np.roll(labels.category, shift, axis=(0, 1))
    pred.instance[:] = np.roll(labels.instance, shift, axis=(0, 1)) + 100 * (labels.instance.max() > 0)
    pred.instance[pred.category == VOID] = 0
    pred.instance[np.isin(pred.category, [SKY, GRASS])] = 0
    swap = pred.instance == 101
    pred.category[swap] = CAR if (pred.category[swap] == PERSON).all() else PERSON
    drop = pred.instance == 102
    pred.category[drop], pred.instance[drop] = GRASS, 0
    pred.category[5:15, 100:115], pred.instance[5:15, 100:115] = PERSON, 777
    noise = rng.random(labels.shape) < 0.02
    pred.category[noise], pred.instance[noise] = VOID, 0
    return pred


@pytest.mark.parametrize("seed", range(6))
def test_live_pq_equals_the_dataset_evaluation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = _scene(rng)
    if seed % 2:
        present = [s for s in gt.segments() if s.instance]
        gt.crowd.add((present[0].category, present[0].instance))  # a crowd region in the ground truth
    pred = _degrade(gt, rng)
    live = _pq(gt, pred, ISTHING)
    _same(live, _reference(gt, pred, ISTHING))
    assert 0 < live.all.pq < 1 and live.things.n == 2 and live.stuff.n == 2


def test_a_perfect_prediction_scores_one_and_an_empty_one_zero() -> None:
    gt = _scene(np.random.default_rng(7))
    perfect = _pq(gt, gt.copy(), ISTHING)
    assert perfect.all.pq == 1.0 and perfect.all.n == 4
    assert all(v.fp == 0 and v.fn == 0 for v in perfect.per_class.values())
    empty = _pq(gt, LabelMap.empty(*gt.shape), ISTHING)
    assert empty.all.pq == 0.0 and sum(v.fn for v in empty.per_class.values()) == len(gt.segments())


def test_coco_sample_against_its_own_degradation(coco_panoptic_sample) -> None:
    """The real COCO val2017 ground truth (crowd regions included), shifted by two pixels."""
    dataset = read_coco_panoptic(coco_panoptic_sample / "panoptic_examples.json")
    isthing = {c.id: c.isthing for c in dataset.palette}
    for record in dataset.records:
        gt = record.labels
        pred = LabelMap.empty(*gt.shape)
        pred.category[:] = np.roll(gt.category, (2, -2), axis=(0, 1))
        pred.instance[:] = np.roll(gt.instance, (2, -2), axis=(0, 1))
        live = _pq(gt, pred, isthing)
        _same(live, _reference(gt, pred, isthing))
        assert 0.3 < live.all.pq < 1


def test_segment_keys_tell_things_stuff_and_void() -> None:
    category = np.array([[SKY, PERSON, PERSON, VOID, CAR]], np.uint16)
    instance = np.array([[0, 5, 5, 0, 9]], np.uint32)
    keys, thing_category = segment_keys(category, instance)
    assert keys.tolist() == [STUFF_KEY + SKY, 5, 5, 0, 9]
    assert thing_category[5] == PERSON and thing_category[9] == CAR
    with pytest.raises(ValueError, match="too large"):
        segment_keys(category, instance.astype(np.uint64) + STUFF_KEY)
