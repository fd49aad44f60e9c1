"""Panoptic quality (PQ = SQ x RQ), computed exactly as the COCO panoptic API does.

Follows cocodataset/panopticapi ``evaluation.py`` (``pq_compute_single_core`` and
``PQStat.pq_average``) step for step, so numbers match the official tool:

* pixel overlaps are the counts of every ``gt_id * 256**3 + pred_id`` (as the API's ``np.unique``,
  found here by runs, ``core.runs``);
* a pair matches when categories agree, the ground truth is not crowd and IoU > 0.5, where the
  union leaves out the prediction's pixels on ground-truth void (id 0);
* ground-truth areas come from ``segments_info`` (as the API reads them), predicted areas from
  the pixels;
* an unmatched prediction is not a false positive when more than half of it lies on void plus
  the crowd region of its category (the last crowd segment of that category in
  ``segments_info``, as the API's dict keeps it);
* a category enters the averages only when it has any TP, FP or FN.

Checked bit for bit against the API on 100 degraded predictions of the COCO sample. Sums are
kept per image and then added (``PQStat +=``), as the API's process pool does when it has a core
per image; with fewer cores it groups the float sums differently, which can move the last digit.

Differences, on malformed input only: no category counted at all gives 0.0 with ``n = 0`` (the
API divides by zero); a ground-truth segment without ``area`` uses its pixel count (the API
fails); duplicate ids and id 0 in ``segments_info`` are refused (the API keeps the last entry).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from segstudio import _native
from segstudio.core.runs import compiled_pair_answer, pack_pairs, pair_runs, unpack_pair_counts

OFFSET = 256 * 256 * 256
VOID_ID = 0


@dataclass
class PQStatCat:
    """Sums for one category: matched IoU total and TP/FP/FN counts."""

    iou: float = 0.0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: PQStatCat) -> PQStatCat:
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self


class PQStat:
    """Per-category sums over any number of images; add images' stats with ``+=``."""

    def __init__(self) -> None:
        self.per_category: defaultdict[int, PQStatCat] = defaultdict(PQStatCat)

    def __getitem__(self, category: int) -> PQStatCat:
        return self.per_category[category]

    def __iadd__(self, other: PQStat) -> PQStat:
        for category, stat in other.per_category.items():
            self.per_category[category] += stat
        return self

    def average(self, categories: Mapping[int, bool], isthing: bool | None) -> tuple[dict, dict]:
        """(``{pq, sq, rq, n}``, per-category ``{pq, sq, rq, tp, fp, fn}``) over ``categories``.

        ``categories`` maps category id -> isthing, in the ground truth's order; ``isthing``
        None means all categories, True things only, False stuff only.
        """
        pq = sq = rq = 0.0
        n = 0
        per_class: dict[int, dict[str, Any]] = {}
        for category, category_isthing in categories.items():
            if isthing is not None and isthing != bool(category_isthing):
                continue
            stat = self.per_category.get(category, PQStatCat())
            counts = {"tp": stat.tp, "fp": stat.fp, "fn": stat.fn}
            if stat.tp + stat.fp + stat.fn == 0:
                per_class[category] = {"pq": 0.0, "sq": 0.0, "rq": 0.0, **counts}
                continue
            n += 1
            denominator = stat.tp + 0.5 * stat.fp + 0.5 * stat.fn
            pq_class = stat.iou / denominator
            sq_class = stat.iou / stat.tp if stat.tp != 0 else 0.0
            rq_class = stat.tp / denominator
            per_class[category] = {"pq": pq_class, "sq": sq_class, "rq": rq_class, **counts}
            pq += pq_class
            sq += sq_class
            rq += rq_class
        if n == 0:
            return {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}, per_class
        return {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": n}, per_class


def pq_results(stat: PQStat, categories: Mapping[int, bool]) -> dict[str, Any]:
    """``{"All", "Things", "Stuff"}`` summaries plus ``"per_class"`` keyed by category id string.

    ``per_class`` lists the categories that occur (any TP, FP or FN), the ones counted in ``n``;
    panopticapi also lists absent ones with zeros, which reads as a failure on a small dataset.
    """
    results: dict[str, Any] = {}
    for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
        results[name], per_class = stat.average(categories, isthing)
        if isthing is None:
            results["per_class"] = {
                str(category): values
                for category, values in per_class.items()
                if values["tp"] + values["fp"] + values["fn"] > 0
            }
    return results


def _segment_table(segments_info: Iterable[Mapping[str, Any]], side: str) -> dict[int, Mapping[str, Any]]:
    table: dict[int, Mapping[str, Any]] = {}
    for entry in segments_info:
        segment_id = int(entry["id"])
        if segment_id == VOID_ID:
            raise ValueError(f"{side} segments_info lists id 0, which is void")
        if segment_id in table:
            raise ValueError(f"{side} segments_info lists segment id {segment_id} twice")
        table[segment_id] = entry
    return table


def pq_image(
    gt_ids: np.ndarray,
    gt_segments: Iterable[Mapping[str, Any]],
    pred_ids: np.ndarray,
    pred_segments: Iterable[Mapping[str, Any]],
    categories: Collection[int],
    warnings: list[str] | None = None,
) -> PQStat:
    """PQ sums of one image from its ground-truth and predicted segment-id maps and segments_info.

    Raises ValueError, as the API does, when a predicted id is in the PNG but not the JSON (or the
    reverse) or has a category outside ``categories``. A ground-truth ``area`` that differs from
    the segment's pixel count is used, as the API uses it, and reported in ``warnings``.
    """
    gt_ids = np.asarray(gt_ids)
    pred_ids = np.asarray(pred_ids)
    if gt_ids.shape != pred_ids.shape:
        raise ValueError(
            f"ground truth is {gt_ids.shape[1]}x{gt_ids.shape[0]} pixels but the prediction is "
            f"{pred_ids.shape[1]}x{pred_ids.shape[0]}"
        )
    # Overlap of every (gt id, pred id) pair present in the image: counted in one compiled pass
    # where the extension is built (and matched there, ``pq_of_pair_counts``), else by runs
    # (``core.runs``), sorted by (gt, pred) as the packed keys are (pred < OFFSET once the range
    # is checked).
    answer = compiled_pair_answer(gt_ids, pred_ids)
    if answer is not None:
        return pq_of_pair_counts(*answer, gt_segments, pred_segments, categories, warnings)
    runs, gt_values, pred_values = pair_runs(gt_ids, pred_ids)
    _check_id_range(gt_values, pred_values)  # before packing: out-of-range ids would collide
    pairs, intersections = pack_pairs(runs, gt_values, pred_values, OFFSET)
    return pq_of_overlaps(
        pairs // np.uint64(OFFSET), pairs % np.uint64(OFFSET), intersections,
        gt_segments, pred_segments, categories, warnings,
    )  # fmt: skip


def _check_id_range(gt_values: np.ndarray, pred_values: np.ndarray) -> None:
    for side, values in (("ground-truth", gt_values), ("predicted", pred_values)):
        if values.size and (int(values.min()) < 0 or int(values.max()) >= OFFSET):
            raise ValueError(f"{side} segment ids must lie in 0..{OFFSET - 1} (24-bit RGB ids)")


def pq_of_overlaps(
    gt_of_pair: np.ndarray,
    pred_of_pair: np.ndarray,
    intersections: np.ndarray,
    gt_segments: Iterable[Mapping[str, Any]],
    pred_segments: Iterable[Mapping[str, Any]],
    categories: Collection[int],
    warnings: list[str] | None = None,
) -> PQStat:
    """:func:`pq_image` from the image's overlaps: the (gt id, pred id) pairs present, sorted,
    with their pixel counts (``runs.compiled_pair_counts``' answer, or ``io.png_native``'s from
    the PNGs' rows); every id of the maps is some pair's, so those are the ids range-checked."""
    _check_id_range(gt_of_pair, pred_of_pair)
    gt_segms = _segment_table(gt_segments, "ground-truth")
    pred_segms = _segment_table(pred_segments, "predicted")
    overlap: dict[tuple[int, int], int] = dict(
        zip(zip(gt_of_pair.tolist(), pred_of_pair.tolist(), strict=True), intersections.tolist(), strict=True)
    )

    # Pixels of each id: the sums of its pairs (plain ints: a few dozen pairs per image).
    gt_pixels: defaultdict[int, int] = defaultdict(int)
    pred_pixels: defaultdict[int, int] = defaultdict(int)
    for (gt_label, pred_label), count in overlap.items():
        gt_pixels[gt_label] += count
        pred_pixels[pred_label] += count

    # Predicted areas from the pixels, with the API's sanity checks (in id order).
    pred_area: dict[int, int] = {}
    for label in sorted(pred_pixels):
        if label not in pred_segms:
            if label == VOID_ID:
                continue
            raise ValueError(f"predicted segment id {label} is in the PNG but not in segments_info")
        pred_area[label] = pred_pixels[label]
        if int(pred_segms[label]["category_id"]) not in categories:
            category = pred_segms[label]["category_id"]
            raise ValueError(f"predicted segment id {label} has unknown category_id {category}")
    missing = sorted(pred_segms.keys() - pred_area.keys())
    if missing:
        raise ValueError(f"predicted segment ids {missing} are in segments_info but not in the PNG")

    # The API reads ground-truth areas from the JSON; count pixels only where ``area`` is missing.
    gt_area = {label: int(info.get("area", gt_pixels[label])) for label, info in gt_segms.items()}
    if warnings is not None:
        for label, area in gt_area.items():
            if area != gt_pixels[label]:
                warnings.append(
                    f"ground-truth segment {label} has area {area} in the JSON but {gt_pixels[label]} "
                    "pixels in the PNG (PQ uses the JSON's area, as the COCO panoptic API does)"
                )

    return match_segments(overlap, gt_segms, pred_segms, gt_area, pred_area)


def pq_of_pair_counts(
    keys: bytes,
    counts: bytes,
    gt_segments: Iterable[Mapping[str, Any]],
    pred_segments: Iterable[Mapping[str, Any]],
    categories: Collection[int],
    warnings: list[str] | None = None,
) -> PQStat:
    """:func:`pq_of_overlaps` from the extension's pair counting answer (``keys``: native uint64
    ``gt << 32 | pred`` in increasing order, ``counts``: their int64 pixels, as bytes).

    Where ``segstudio._native`` is built, the matching runs there (``pixels.pq_match``: the same
    steps in C, ~0.01 ms instead of ~0.2 ms of Python per image, which ``eval panoptic``'s threads
    would otherwise take turns on); it declines anything but plain input (exact int fields, every
    id in both the PNG and the JSON, known categories, ground-truth areas equal to their pixels),
    and :func:`pq_of_overlaps` then scores the image, warns or names the problem, as before.
    """
    if _native.pixels is not None:
        sums = _native.pixels.pq_match(keys, counts, gt_segments, pred_segments, categories)
        if sums is not None:
            stat = PQStat()
            for category, iou, tp, fp, fn in sums:
                stat.per_category[category] = PQStatCat(iou, tp, fp, fn)
            return stat
    return pq_of_overlaps(*unpack_pair_counts(keys, counts), gt_segments, pred_segments, categories, warnings)


def match_segments(
    overlap: Mapping[tuple[int, int], int],
    gt_segms: Mapping[int, Mapping[str, Any]],
    pred_segms: Mapping[int, Mapping[str, Any]],
    gt_area: Mapping[int, int],
    pred_area: Mapping[int, int],
) -> PQStat:
    """The API's matching of one image: TP pairs (same category, IoU > 0.5), then FN and FP.

    ``overlap`` counts the pixels of every (gt id, pred id) pair present, void (0) included on
    either side; segment tables map id -> ``category_id`` (and ``iscrowd`` for the ground truth).
    Shared by :func:`pq_image` (ids from PNGs) and ``core.label_pq`` (ids from label maps).
    """
    stat = PQStat()
    gt_matched: set[int] = set()
    pred_matched: set[int] = set()
    for (gt_label, pred_label), intersection in overlap.items():
        if gt_label not in gt_segms or pred_label not in pred_segms:
            continue
        gt_info, pred_info = gt_segms[gt_label], pred_segms[pred_label]
        if int(gt_info.get("iscrowd", 0)) == 1:
            continue
        if int(gt_info["category_id"]) != int(pred_info["category_id"]):
            continue
        union = (
            pred_area[pred_label] + gt_area[gt_label] - intersection - overlap.get((VOID_ID, pred_label), 0)
        )
        iou = intersection / union
        if iou > 0.5:
            category_stat = stat[int(gt_info["category_id"])]
            category_stat.tp += 1
            category_stat.iou += iou
            gt_matched.add(gt_label)
            pred_matched.add(pred_label)

    crowd_by_category: dict[int, int] = {}
    for gt_label, gt_info in gt_segms.items():
        if gt_label in gt_matched:
            continue
        if int(gt_info.get("iscrowd", 0)) == 1:
            crowd_by_category[int(gt_info["category_id"])] = gt_label
            continue
        stat[int(gt_info["category_id"])].fn += 1

    for pred_label, pred_info in pred_segms.items():
        if pred_label in pred_matched:
            continue
        category = int(pred_info["category_id"])
        ignored = overlap.get((VOID_ID, pred_label), 0)
        if category in crowd_by_category:
            ignored += overlap.get((crowd_by_category[category], pred_label), 0)
        if ignored / pred_area[pred_label] > 0.5:
            continue
        stat[category].fp += 1
    return stat
