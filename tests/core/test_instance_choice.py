"""Which object a stroke joins: the pixels it covers or borders, counted; never merging two."""

from __future__ import annotations

import numpy as np

from segstudio.core.box import Box
from segstudio.core.instance_choice import joined_instance, touching_instances
from segstudio.core.labels import LabelMap

PERSON, CAR = 15, 7


def _labels() -> LabelMap:
    category = np.full((10, 12), 0, np.uint16)
    instance = np.zeros((10, 12), np.uint32)
    category[1:3, 1:4], instance[1:3, 1:4] = PERSON, 4  # 6 pixels
    category[5:9, 1:4], instance[5:9, 1:4] = PERSON, 9  # 12 pixels
    category[1:3, 8:11], instance[1:3, 8:11] = CAR, 2
    return LabelMap.from_arrays(category, instance)


def test_covered_and_4_bordering_pixels_of_the_class_count() -> None:
    labels = _labels()
    box = Box(3, 0, 5, 5)  # rows 3-4: borders both people, covers neither
    mask = np.ones((box.height, box.width), bool)
    assert touching_instances(labels, box, mask, PERSON) == {4: 3, 9: 3}
    assert touching_instances(labels, box, mask, CAR) == {}
    corner = Box(3, 4, 4, 5)  # touches person 4 at a corner only: 4-neighbours do not count
    assert touching_instances(labels, corner, np.ones((1, 1), bool), PERSON) == {}
    cover = Box(5, 1, 7, 4)  # on the second person: its own pixels count
    assert touching_instances(labels, cover, np.ones((2, 3), bool), PERSON, exclude=9) == {}
    assert touching_instances(labels, cover, np.ones((2, 3), bool), PERSON) == {9: 9}


def test_a_stroke_joins_the_object_it_began_on_else_the_one_touched_most() -> None:
    assert joined_instance({}) == 0
    assert joined_instance({4: 3, 9: 7}) == 9
    assert joined_instance({4: 3, 9: 7}, start=4) == 4
    assert joined_instance({4: 5, 9: 5}) == 4  # a tie: the lower id, deterministically
    assert joined_instance({4: 5}, start=11) == 4  # began on an object it no longer touches
