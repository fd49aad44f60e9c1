"""Segment ids <-> RGB and label maps <-> (id map, segments_info)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.panoptic import (
    MAX_SEGMENT_ID,
    color_to_id,
    ids_to_rgb,
    labels_to_panoptic,
    labels_to_panoptic_rgb,
    panoptic_to_labels,
    rgb_to_ids,
)

PERSON, CAR, SKY, GRASS = 1, 3, 187, 193
THINGS = {PERSON, CAR}


def test_ids_survive_rgb_above_16_bits() -> None:
    ids = np.array([[0, 1, 255, 256], [65535, 65536, 16757838, MAX_SEGMENT_ID]], np.uint32)
    rgb = ids_to_rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 4, 3)
    assert rgb[1, 2].tolist() == [78, 180, 255]  # 16757838 = R + 256 G + 65536 B
    back = rgb_to_ids(rgb)
    assert back.dtype == np.uint32
    assert np.array_equal(back, ids)
    assert color_to_id((78, 180, 255)) == 16757838


def test_ids_that_do_not_fit_24_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="0..16777215"):
        ids_to_rgb(np.array([[MAX_SEGMENT_ID + 1]], np.uint32))
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_ids(np.zeros((2, 2), np.uint8))


def _scene() -> LabelMap:
    """Sky on top (two instance values that must merge), grass below, two persons, a crowd car."""
    category = np.full((6, 8), VOID, np.uint16)
    instance = np.zeros((6, 8), np.uint32)
    category[0:2, :] = SKY
    instance[0, :4] = 7  # stray instance values on stuff: still one sky segment
    category[2:6, :] = GRASS
    category[3:5, 1:3] = PERSON
    instance[3:5, 1:3] = 4
    category[2:6, 5] = PERSON
    instance[2:6, 5] = 9
    category[5, 6:8] = CAR
    instance[5, 6:8] = 2
    category[5, 0] = VOID
    return LabelMap.from_arrays(category, instance, crowd={(CAR, 2)})


def test_labels_to_panoptic_one_segment_per_stuff_class_and_per_thing() -> None:
    labels = _scene()
    id_map, segments = labels_to_panoptic(labels, THINGS)
    assert id_map.dtype == np.uint32 and id_map.shape == labels.shape
    by_category = {}
    for s in segments:
        by_category.setdefault(s["category_id"], []).append(s)
        assert all(type(v) is int for v in (s["id"], s["category_id"], s["iscrowd"], s["area"], *s["bbox"]))
        mask = id_map == s["id"]
        assert s["area"] == int(mask.sum()) > 0
        rows, cols = np.nonzero(mask)
        assert s["bbox"] == [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
    assert len(by_category[SKY]) == 1 and by_category[SKY][0]["area"] == 16
    assert len(by_category[GRASS]) == 1
    assert sorted(s["area"] for s in by_category[PERSON]) == [4, 4]
    assert by_category[CAR][0]["iscrowd"] == 1 and by_category[PERSON][0]["iscrowd"] == 0
    assert len({s["id"] for s in segments}) == len(segments)
    assert np.array_equal(id_map == 0, labels.category == VOID)
    # things hand their instance id over as segment id
    assert {s["id"] for s in by_category[PERSON]} == {4, 9}


def test_stuff_takes_its_colour_id_and_collisions_get_fresh_ids() -> None:
    labels = _scene()
    sky_color, grass_color = (70, 130, 180), (0, 0, 4)  # grass's colour id is 4 = a person's instance
    id_map, segments = labels_to_panoptic(labels, THINGS, {SKY: sky_color, GRASS: grass_color})
    ids = {s["category_id"]: s["id"] for s in segments}
    assert ids[SKY] == color_to_id(sky_color)
    assert ids[GRASS] not in (4, 9, 2, 0)  # the person keeps 4; grass moves to a free id
    assert len({s["id"] for s in segments}) == len(segments)


def test_thing_without_instance_and_duplicate_instances_get_unique_ids() -> None:
    category = np.array([[PERSON, PERSON, CAR, CAR]], np.uint16)
    instance = np.array([[0, 0, 0, 5]], np.uint32)
    labels = LabelMap.from_arrays(category, instance)
    _, segments = labels_to_panoptic(labels, THINGS)
    assert (
        len(segments) == 3 and len({s["id"] for s in segments}) == 3 and 0 not in {s["id"] for s in segments}
    )
    instance = np.array([[5, 5, 5, 5]], np.uint32)  # same instance value in two categories
    _, segments = labels_to_panoptic(LabelMap.from_arrays(category, instance), THINGS)
    assert len(segments) == 2 and len({s["id"] for s in segments}) == 2


def test_empty_map_gives_void_and_no_segments() -> None:
    id_map, segments = labels_to_panoptic(LabelMap.empty(3, 4), THINGS)
    assert segments == [] and not id_map.any()


def test_panoptic_to_labels_round_trips_ids_exactly() -> None:
    labels = _scene()
    colors = {SKY: (70, 130, 180), GRASS: (0, 128, 0)}
    id_map, segments = labels_to_panoptic(labels, THINGS, colors)
    back = panoptic_to_labels(id_map, segments, THINGS)
    assert np.array_equal(back.category, labels.category)
    assert back.crowd == {(CAR, 2)}
    assert np.array_equal(
        back.provenance[back.labelled()], np.full(int(back.labelled().sum()), Provenance.HUMAN)
    )
    again_map, again_segments = labels_to_panoptic(back, THINGS, colors)
    assert np.array_equal(again_map, id_map) and again_segments == segments


def test_panoptic_to_labels_refuses_inconsistent_segments() -> None:
    id_map = np.array([[0, 5, 5, 6]], np.uint32)
    good = [{"id": 5, "category_id": PERSON}, {"id": 6, "category_id": SKY}]
    with pytest.raises(ValueError, match="6 are in the PNG but not in segments_info"):
        panoptic_to_labels(id_map, good[:1], THINGS)
    with pytest.raises(ValueError, match="7 are in segments_info but have no pixels"):
        panoptic_to_labels(id_map, [*good, {"id": 7, "category_id": CAR}], THINGS)
    with pytest.raises(ValueError, match="twice"):
        panoptic_to_labels(id_map, [*good, good[0]], THINGS)
    with pytest.raises(ValueError, match="void"):
        panoptic_to_labels(id_map, [*good, {"id": 0, "category_id": CAR}], THINGS)


def test_sample_segments_match_segments_info(coco_panoptic_sample: Path) -> None:
    data = json.loads((coco_panoptic_sample / "panoptic_examples.json").read_text())
    things = {c["id"] for c in data["categories"] if c["isthing"]}
    for annotation in data["annotations"]:
        bgr = cv2.imread(str(coco_panoptic_sample / "panoptic_examples" / annotation["file_name"]))
        ids = rgb_to_ids(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        labels = panoptic_to_labels(ids, annotation["segments_info"], things)
        segments = {(s.category, s.instance): s for s in labels.segments()}
        assert len(segments) == len(annotation["segments_info"])
        for info in annotation["segments_info"]:
            instance = info["id"] if info["category_id"] in things else 0
            s = segments[(info["category_id"], instance)]
            assert (s.area, list(s.bbox), int(s.iscrowd)) == (info["area"], info["bbox"], info["iscrowd"])
        # and back: identical segments_info (ids included, COCO gives stuff its colour id)
        colors = {c["id"]: tuple(c["color"]) for c in data["categories"]}
        id_map, segments_info = labels_to_panoptic(labels, things, colors)
        assert np.array_equal(id_map, ids)
        key = lambda s: s["id"]  # noqa: E731
        assert sorted(segments_info, key=key) == sorted(annotation["segments_info"], key=key)


def test_rgb_painting_is_the_id_map_in_rgb() -> None:
    rng = np.random.default_rng(3)
    category = rng.choice(np.array([SKY, GRASS, PERSON, VOID], np.uint16), (37, 53))
    category = np.repeat(np.repeat(category[::4, ::5], 4, axis=0)[:37], 5, axis=1)[:, :53]
    instance = np.where(category == PERSON, rng.integers(1, 4, category.shape), 0).astype(np.uint32)
    instance[category == SKY] = 9  # stuff instances merge into one segment per class
    labels = LabelMap.from_arrays(category, instance)
    labels.crowd = {(PERSON, 2), (SKY, 9)}
    colors = {SKY: (10, 20, 30), GRASS: (0, 0, 0)}
    id_map, segments = labels_to_panoptic(labels, THINGS, colors)
    rgb, rgb_segments = labels_to_panoptic_rgb(labels, THINGS, colors)
    assert rgb_segments == segments
    np.testing.assert_array_equal(rgb, ids_to_rgb(id_map))
    by_category = {s["category_id"]: s for s in segments if s["category_id"] != PERSON}
    assert by_category[SKY]["id"] == 10 + 256 * 20 + 65536 * 30 and by_category[SKY]["iscrowd"] == 1
    assert by_category[GRASS]["id"] not in (0, by_category[SKY]["id"])
