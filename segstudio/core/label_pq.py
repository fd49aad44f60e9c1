"""Panoptic quality between two label maps (ground truth and a prediction), fast enough to follow edits.

The numbers are the COCO panoptic API's (the matching is :func:`core.pq.match_segments`, the
same code the dataset evaluation runs); only the way segments are found differs. Instead of
encoding both maps as RGB ids and sorting every pixel three times, each pixel gets a 32-bit
segment key (its instance id for a thing, ``STUFF_KEY + category`` for stuff, 0 for void) and
one count of the (gt key, predicted key) pairs (by runs, ``core.runs``) gives every overlap and area. This
leans on the data model's rule that instance ids are unique within an image (across categories),
which the editor, the importers and the models all keep. A thing-class region with instance 0
(e.g. from a semantic PNG) is one segment of its class, as the exporters treat it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from segstudio.core.labels import VOID
from segstudio.core.pq import PQStat, match_segments, pq_results
from segstudio.core.runs import pair_counts

STUFF_KEY = 1 << 31
"""Segment keys from here on are stuff (``STUFF_KEY + category``); below it, instance ids."""


@dataclass(frozen=True)
class Quality:
    """PQ, SQ and RQ averaged over ``n`` categories (0.0 with ``n == 0``: nothing to compare)."""

    pq: float
    sq: float
    rq: float
    n: int


@dataclass(frozen=True)
class ClassQuality:
    """One category's PQ/SQ/RQ and its matched (tp), unmatched predicted (fp) and missed (fn) segments."""

    pq: float
    sq: float
    rq: float
    tp: int
    fp: int
    fn: int


@dataclass(frozen=True)
class PanopticQuality:
    """PQ over all categories, things and stuff, and per category that occurs in either map."""

    all: Quality
    things: Quality
    stuff: Quality
    per_class: dict[int, ClassQuality]


def segment_keys(category: np.ndarray, instance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint32 segment keys of a label map and the category of each thing key (a lookup table
    indexed by instance id)."""
    category = np.asarray(category).ravel()
    instance = np.asarray(instance).ravel()
    top = int(instance.max(initial=0))
    if top >= STUFF_KEY:
        raise ValueError(f"instance id {top} is too large (instance ids must be below {STUFF_KEY})")
    keys = np.where(instance > 0, instance, category.astype(np.uint32) + np.uint32(STUFF_KEY))
    keys = keys.astype(np.uint32, copy=False)
    void = category == VOID
    keys[void] = 0
    things = ~void & (instance > 0)
    thing_category = np.full(top + 1, VOID, np.uint16)
    thing_category[instance[things]] = category[things]
    return keys, thing_category


def _category(key: int, thing_category: np.ndarray) -> int:
    return key - STUFF_KEY if key >= STUFF_KEY else int(thing_category[key])


def label_map_pq(
    gt_category: np.ndarray,
    gt_instance: np.ndarray,
    pred_category: np.ndarray,
    pred_instance: np.ndarray,
    isthing: Mapping[int, bool],
    gt_crowd: Collection[tuple[int, int]] = (),
    check: Callable[[], None] | None = None,
) -> PanopticQuality:
    """PQ of the prediction against the ground truth; ``isthing`` (category id -> thing?) is the
    palette's and decides which categories are averaged; ``gt_crowd`` holds the ground truth's
    (category, instance) pairs marked crowd (never matched; predictions on them are not errors).
    ``check`` is called between the passes over the pixels (a job's check point)."""
    stat = label_map_pq_stat(gt_category, gt_instance, pred_category, pred_instance, gt_crowd, check)
    return panoptic_quality(stat, isthing)


def label_map_pq_stat(
    gt_category: np.ndarray,
    gt_instance: np.ndarray,
    pred_category: np.ndarray,
    pred_instance: np.ndarray,
    gt_crowd: Collection[tuple[int, int]] = (),
    check: Callable[[], None] | None = None,
) -> PQStat:
    """One image's PQ sums (add several images' with ``+=``, as the COCO evaluation does);
    ``check`` as in :func:`label_map_pq`."""
    check = check or (lambda: None)
    if np.shape(gt_category) != np.shape(pred_category):
        shapes = f"ground truth is {np.shape(gt_category)} but the prediction is {np.shape(pred_category)}"
        raise ValueError(shapes)
    gt_keys, gt_things = segment_keys(gt_category, gt_instance)
    check()
    pred_keys, pred_things = segment_keys(pred_category, pred_instance)
    check()
    pairs, counts = pair_counts(gt_keys, pred_keys, 1 << 32)
    check()
    gt_of_pair = (pairs >> np.uint64(32)).tolist()
    pred_of_pair = (pairs & np.uint64(0xFFFFFFFF)).tolist()
    overlap = dict(zip(zip(gt_of_pair, pred_of_pair, strict=True), counts.tolist(), strict=True))
    gt_area: defaultdict[int, int] = defaultdict(int)
    pred_area: defaultdict[int, int] = defaultdict(int)
    for (gt_key, pred_key), count in overlap.items():
        gt_area[gt_key] += count
        pred_area[pred_key] += count
    crowd = set(gt_crowd)
    gt_segments: dict[int, dict[str, Any]] = {}
    for key in gt_area:
        if key:
            category = _category(key, gt_things)
            instance = 0 if key >= STUFF_KEY else key
            gt_segments[key] = {"category_id": category, "iscrowd": int((category, instance) in crowd)}
    pred_segments = {key: {"category_id": _category(key, pred_things)} for key in pred_area if key}
    return match_segments(overlap, gt_segments, pred_segments, gt_area, pred_area)


def panoptic_quality(stat: PQStat, isthing: Mapping[int, bool]) -> PanopticQuality:
    """The averages of summed PQ statistics over the palette's categories (``isthing``)."""
    results = pq_results(stat, isthing)
    return PanopticQuality(
        all=_quality(results["All"]),
        things=_quality(results["Things"]),
        stuff=_quality(results["Stuff"]),
        per_class={int(k): ClassQuality(**v) for k, v in results["per_class"].items()},
    )


def _quality(summary: Mapping[str, Any]) -> Quality:
    return Quality(float(summary["pq"]), float(summary["sq"]), float(summary["rq"]), int(summary["n"]))
