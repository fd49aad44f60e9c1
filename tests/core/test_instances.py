"""Instances from a semantic map: one per connected blob of a thing class, unique in the image."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core.instances import speck_area, split_things
from segstudio.core.labels import INSTANCE_DTYPE, VOID

CAR, PERSON, ROAD = 3, 7, 1


def test_two_blobs_of_a_thing_class_are_two_objects_and_stuff_stays_zero() -> None:
    category = np.full((20, 30), ROAD, np.uint16)
    category[2:6, 2:8] = CAR
    category[10:15, 20:28] = CAR
    category[18:, :] = VOID
    instance = split_things(category, {CAR, PERSON}, min_area=0)
    assert instance.dtype == INSTANCE_DTYPE and instance.shape == category.shape
    first, second = instance[3, 3], instance[12, 22]
    assert first > 0 and second > 0 and first != second
    assert (instance[2:6, 2:8] == first).all() and (instance[10:15, 20:28] == second).all()
    assert (instance[category != CAR] == 0).all()  # road (stuff) and VOID keep instance 0
    assert sorted(np.unique(instance).tolist()) == [0, 1, 2]


def test_ids_are_unique_across_thing_classes() -> None:
    category = np.zeros((10, 30), np.uint16)
    category[1:4, 1:4] = CAR
    category[6:9, 1:4] = CAR
    category[1:4, 10:13] = PERSON
    category[6:9, 10:13] = PERSON
    instance = split_things(category, [PERSON, CAR], min_area=0)
    ids = {int(instance[r, c]) for r, c in ((2, 2), (7, 2), (2, 11), (7, 11))}
    assert ids == {1, 2, 3, 4}  # four objects, four ids: not 1, 2 per class
    assert {int(instance[2, 2]), int(instance[7, 2])} == {1, 2}  # ascending class id: cars first


def test_blobs_touching_at_a_corner_are_one_object_with_8_connectivity() -> None:
    category = np.zeros((6, 6), np.uint16)
    category[1:3, 1:3] = CAR
    category[3:5, 3:5] = CAR  # meets the first square at one corner only
    assert np.unique(split_things(category, {CAR}, min_area=0)[category == CAR]).tolist() == [1]
    four = split_things(category, {CAR}, connectivity=4, min_area=0)
    assert {int(four[1, 1]), int(four[4, 4])} == {1, 2}


def test_no_things_gives_all_zeros_and_bad_input_is_refused() -> None:
    category = np.full((4, 5), ROAD, np.uint16)
    assert not split_things(category, {CAR}).any()
    assert not split_things(np.full((4, 5), CAR, np.uint16), ()).any()
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        split_things(np.zeros((2, 3, 3), np.uint16), {CAR})
    with pytest.raises(ValueError, match="connectivity"):
        split_things(category, {CAR}, connectivity=6)  # type: ignore[arg-type]


def test_specks_join_the_largest_blob_of_their_class() -> None:
    category = np.full((100, 100), ROAD, np.uint16)
    category[10:40, 10:40] = CAR  # 900 px
    category[60:90, 60:80] = CAR  # 600 px: a second car
    category[50:53, 5:8] = CAR  # 9 px specks
    category[95:97, 95:98] = CAR
    category[70:74, 5:9] = PERSON  # a class of specks only: one object
    category[5:7, 90:92] = PERSON
    assert speck_area(100, 100) == 64
    instance = split_things(category, {CAR, PERSON})
    big, second = int(instance[20, 20]), int(instance[70, 70])
    assert big != second and instance[51, 6] == big and instance[96, 96] == big
    person = np.unique(instance[category == PERSON]).tolist()
    assert len(person) == 1 and person[0] not in (0, big, second)
    assert sorted(np.unique(instance).tolist()) == [0, 1, 2, 3]  # consecutive ids, no gaps
    assert (instance[category == ROAD] == 0).all()
    every = split_things(category, {CAR, PERSON}, min_area=0)
    assert len(np.unique(every)) - 1 == 6  # without the rule: every blob an object
