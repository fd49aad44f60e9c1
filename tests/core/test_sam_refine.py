"""Refine with SAM, the numpy half: which objects become box prompts and how their masks land."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.sam_refine import ThingBox, refined, thing_boxes

SKY, CAR, PERSON = 1, 2, 3


def _prediction() -> LabelMap:
    category = np.full((20, 30), SKY, np.uint16)
    instance = np.zeros((20, 30), np.uint32)
    category[2:6, 3:10], instance[2:6, 3:10] = CAR, 7
    category[10:18, 20:25], instance[10:18, 20:25] = PERSON, 9
    return LabelMap.from_arrays(category, instance, Provenance.MODEL)


def test_every_thing_instance_gives_its_box_in_pixels() -> None:
    things = thing_boxes(_prediction(), {CAR, PERSON})
    assert things == [ThingBox(7, CAR, (3, 2, 10, 6)), ThingBox(9, PERSON, (20, 10, 25, 18))]
    assert thing_boxes(_prediction(), {PERSON}) == [ThingBox(9, PERSON, (20, 10, 25, 18))]
    assert thing_boxes(_prediction(), {SKY}) == []  # stuff has no instances


def test_masks_replace_the_objects_and_what_they_leave_is_unlabelled() -> None:
    before = _prediction()
    things = thing_boxes(before, {CAR, PERSON})
    car, person = np.zeros((20, 30), bool), np.zeros((20, 30), bool)
    car[3:8, 4:12] = True  # moved and larger
    person[12:14, 21:23] = True  # smaller, on top of nothing else
    person[4:5, 5:6] = True  # and one pixel over the car: the smaller object stays on top
    after = refined(before, things, [car, person])
    assert np.all(after.category[car & ~person] == CAR) and np.all(after.instance[car & ~person] == 7)
    assert np.all(after.instance[person] == 9) and np.all(after.category[person] == PERSON)
    left = (before.instance > 0) & ~car & ~person
    assert np.all(after.category[left] == VOID) and np.all(after.instance[left] == 0)
    untouched = (before.instance == 0) & ~car & ~person
    assert np.all(after.category[untouched] == SKY)
    assert np.all(after.provenance[after.category != VOID] == Provenance.MODEL)
    with pytest.raises(ValueError, match="2 objects but 1 masks"):
        refined(before, things, [car])
