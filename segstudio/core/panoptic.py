"""Panoptic segment ids: RGB encoding and conversion to and from label maps.

A COCO panoptic PNG stores one segment id per pixel as ``id = R + 256*G + 256**2*B`` (0 = void);
``segments_info`` gives each id its category, ``iscrowd``, area and box. Ids stay uint32 all the
way (24 bits needed): never through uint8/uint16.

Round trip (what is exact and what is not):

* Thing segments keep their segment id as the instance id (``panoptic_to_labels``), and
  ``labels_to_panoptic`` hands an instance id back as the segment id, so thing ids survive
  read -> edit -> write with no side table. Ids from a PNG are unique per image and below 2**24,
  which is exactly LabelMap's convention for instance ids (unique across categories). An
  instance that is 0 or beyond 24 bits (or repeats another category's) gets a fresh id.
* Stuff has no instance (0): on export its id is the RGB id of the category colour when colours
  are given and that id is free (COCO's own convention: ``IdGenerator`` gives stuff its colour),
  so COCO ground truth round-trips id for id; otherwise the smallest free id.
* Several segments of one stuff category in a file merge into one (iscrowd if any was crowd):
  the label map has a single (category, 0) region per stuff class.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import cv2
import numpy as np

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.runs import Runs, find_runs, group_runs

MAX_SEGMENT_ID = 256**3 - 1
"""Largest id an RGB PNG can carry."""

Color = tuple[int, int, int]


def rgb_to_ids(rgb: np.ndarray) -> np.ndarray:
    """Segment ids (uint32) of an (H, W, 3) RGB array (in RGB order, not OpenCV's BGR)."""
    # one OpenCV pass to RGBA, read as little-endian uint32 (R + 256 G + 65536 B + alpha << 24)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected 8-bit RGB, got dtype {rgb.dtype}")
    if rgb.size == 0:
        return np.zeros(rgb.shape[:2], np.uint32)
    rgba = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2RGBA)
    ids = rgba.view("<u4")[..., 0].astype(np.uint32, copy=False)
    ids &= np.uint32(MAX_SEGMENT_ID)
    return ids


def ids_to_rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a segment-id map; refuses ids that do not fit 24 bits."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "ui":
        raise ValueError(f"segment ids must be integers, got dtype {ids.dtype}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) > MAX_SEGMENT_ID):
        raise ValueError(f"segment ids must lie in 0..{MAX_SEGMENT_ID}")
    return _rgb_of(ids)


def _rgb_of(ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB bytes of ids that fit 24 bits: the little-endian bytes with the fourth
    dropped by one OpenCV pass (a numpy slice copy of 3-byte pixels is ten times slower)."""
    wide = np.ascontiguousarray(ids, dtype="<u4").reshape(ids.shape[0], -1)
    if wide.size == 0:
        return np.zeros(ids.shape + (3,), np.uint8)
    rgba = wide.view(np.uint8).reshape(wide.shape + (4,))
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB).reshape(ids.shape + (3,))


def color_to_id(color: Iterable[int]) -> int:
    """The segment id whose RGB encoding is ``color``."""
    r, g, b = (int(c) for c in color)
    return r + 256 * g + 256 * 256 * b


def _assign_ids(
    keys: list[tuple[int, int]], thing_ids: Collection[int], colors: Mapping[int, Color] | None
) -> list[int]:
    """Segment ids for (category, instance) keys: things keep instance ids, stuff its colour id."""
    ids: list[int | None] = [None] * len(keys)
    taken: set[int] = set()
    for n, (category, instance) in enumerate(keys):
        if category in thing_ids and 0 < instance <= MAX_SEGMENT_ID and instance not in taken:
            ids[n] = instance
            taken.add(instance)
    for n, (category, _) in enumerate(keys):
        if ids[n] is None and category not in thing_ids and colors and category in colors:
            wanted = color_to_id(colors[category])
            if wanted > 0 and wanted not in taken:
                ids[n] = wanted
                taken.add(wanted)
    fresh = 1
    for n in range(len(keys)):
        if ids[n] is None:
            while fresh in taken:
                fresh += 1
            ids[n] = fresh
            taken.add(fresh)
    if taken and max(taken) > MAX_SEGMENT_ID:
        raise ValueError(f"too many segments for 24-bit ids ({len(keys)})")
    return [int(i) for i in ids if i is not None]


def labels_to_panoptic(
    labels: LabelMap, thing_ids: Collection[int], colors: Mapping[int, Color] | None = None
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """A uint32 segment-id map (0 = void) and COCO ``segments_info`` for one label map.

    Each thing (category, instance) is its own segment; all pixels of a stuff category form one.
    ``colors`` (category -> RGB) lets stuff take its colour's id, as COCO ground truth does.
    Entries are plain ints, sorted by (category, instance); no segment has zero area.
    """
    runs, run_ids, segments_info = _panoptic_runs(labels, thing_ids, colors)
    return np.repeat(run_ids, runs.lengths).reshape(labels.shape), segments_info


def labels_to_panoptic_rgb(
    labels: LabelMap, thing_ids: Collection[int], colors: Mapping[int, Color] | None = None
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``labels_to_panoptic`` with the map as (H, W, 3) uint8 RGB, ready for a PNG (ids are
    24-bit by construction, so unchecked)."""
    id_map, segments_info = labels_to_panoptic(labels, thing_ids, colors)
    return _rgb_of(id_map), segments_info


def _panoptic_runs(
    labels: LabelMap, thing_ids: Collection[int], colors: Mapping[int, Color] | None
) -> tuple[Runs, np.ndarray, list[dict[str, Any]]]:
    """Runs of one segment along the rows, each run's segment id, and ``segments_info``.

    Everything is worked out per run (``core.runs``): stuff runs drop their instance (one
    segment per stuff class), and areas and boxes are sums and extremes over the runs.
    """
    thing_ids = {int(t) for t in thing_ids}
    height, width = labels.shape
    runs = find_runs(labels.category, labels.instance, row_width=width)
    first = runs.starts
    run_category = labels.category.ravel()[first]
    keeps_instance = np.zeros(VOID + 1, bool)
    keeps_instance[[t for t in thing_ids if 0 <= t <= VOID]] = True
    run_instance = np.where(keeps_instance[run_category], labels.instance.ravel()[first], 0)
    run_key = (run_category.astype(np.uint64) << np.uint64(32)) | run_instance.astype(np.uint64)
    keys, group, areas = group_runs(run_key, runs)
    labelled = (keys >> np.uint64(32)) != VOID
    n = len(keys)
    top, bottom = np.full(n, labels.category.size, np.int64), np.full(n, -1, np.int64)
    left, right = np.full(n, width, np.int64), np.full(n, -1, np.int64)
    last = first + runs.lengths - 1
    np.minimum.at(top, group, first)
    np.maximum.at(bottom, group, last)
    np.minimum.at(left, group, first % width)
    np.maximum.at(right, group, last % width)
    pairs = [(k >> 32, k & 0xFFFFFFFF) for k in keys[labelled].tolist()]
    ids = _assign_ids(pairs, thing_ids, colors)
    key_ids = np.zeros(n, np.uint32)
    key_ids[labelled] = ids
    crowd = {(c, i if c in thing_ids else 0) for c, i in labels.crowd}
    boxes = zip(
        (top // width)[labelled].tolist(),
        left[labelled].tolist(),
        (bottom // width)[labelled].tolist(),
        right[labelled].tolist(),
        areas[labelled].tolist(),
        strict=True,
    )
    segments_info = [
        {
            "id": segment_id,
            "category_id": category,
            "iscrowd": int((category, instance) in crowd),
            "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
            "area": area,
        }
        for segment_id, (category, instance), (y0, x0, y1, x1, area) in zip(ids, pairs, boxes, strict=True)
    ]
    return runs, key_ids[group], segments_info


def panoptic_to_labels(
    id_map: np.ndarray, segments_info: Iterable[Mapping[str, Any]], thing_ids: Collection[int]
) -> LabelMap:
    """The label map of a segment-id map: things get their segment id as instance, stuff 0.

    Every non-zero id in the map must have an entry and every entry must have pixels; raises
    ValueError naming the offending ids otherwise. Pixels are HUMAN-written (it is a dataset).
    """
    id_map = np.asarray(id_map)
    if id_map.ndim != 2 or id_map.dtype.kind not in "ui":
        raise ValueError(f"segment-id map must be a 2-D integer array, got {id_map.dtype} {id_map.shape}")
    thing_ids = {int(t) for t in thing_ids}
    info: dict[int, tuple[int, bool]] = {}
    for entry in segments_info:
        segment_id, category = int(entry["id"]), int(entry["category_id"])
        if segment_id in info:
            raise ValueError(f"segment id {segment_id} is listed twice in segments_info")
        if not 0 < segment_id <= MAX_SEGMENT_ID:
            raise ValueError(f"segment id {segment_id} must lie in 1..{MAX_SEGMENT_ID} (0 is void)")
        if not 0 <= category < VOID:
            raise ValueError(f"segment {segment_id}: category_id {category} out of range 0..{VOID - 1}")
        info[segment_id] = (category, bool(entry.get("iscrowd", 0)))

    runs = find_runs(id_map)
    present, group, _ = group_runs(id_map.ravel()[runs.starts], runs)
    present_ids = [int(v) for v in present if v != 0]
    unknown = sorted(set(present_ids) - info.keys())
    if unknown:
        raise ValueError(f"segment ids {_few(unknown)} are in the PNG but not in segments_info")
    absent = sorted(info.keys() - set(present_ids))
    if absent:
        raise ValueError(f"segment ids {_few(absent)} are in segments_info but have no pixels")

    category_lut = np.full(len(present), VOID, np.uint16)
    instance_lut = np.zeros(len(present), np.uint32)
    provenance_lut = np.zeros(len(present), np.uint8)
    crowd: set[tuple[int, int]] = set()
    for n, value in enumerate(present.tolist()):
        if value == 0:
            continue
        category, iscrowd = info[value]
        instance = value if category in thing_ids else 0
        category_lut[n], instance_lut[n], provenance_lut[n] = category, instance, Provenance.HUMAN
        if iscrowd:
            crowd.add((category, instance))

    def paint(lut: np.ndarray) -> np.ndarray:
        return np.repeat(lut[group], runs.lengths).reshape(id_map.shape)

    return LabelMap(paint(category_lut), paint(instance_lut), paint(provenance_lut), crowd)


def _few(values: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" (and {len(values) - limit} more)" if len(values) > limit else "")
