"""Instances from a semantic map: one per connected blob of a thing class, unique in the image."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core.instances import split_things
from segstudio.core.labels import INSTANCE_DTYPE, VOID

CAR, PERSON, ROAD = 3, 7, 1


def test_two_blobs_of_a_thing_class_are_two_objects_and_stuff_stays_zero() -> None:
    category = np.full((20, 30), ROAD, np.uint16)
    category[2:6, 2:8] = CAR
    category[10:15, 20:28] = CAR
    category[18:, :] = VOID
    instance = split_things(category, {CAR, PERSON})
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
    instance = split_things(category, [PERSON, CAR])
    ids = {int(instance[r, c]) for r, c in ((2, 2), (7, 2), (2, 11), (7, 11))}
    assert ids == {1, 2, 3, 4}  # four objects, four ids: not 1, 2 per class
    assert {int(instance[2, 2]), int(instance[7, 2])} == {1, 2}  # ascending class id: cars first


def test_blobs_touching_at_a_corner_are_one_object_with_8_connectivity() -> None:
    category = np.zeros((6, 6), np.uint16)
    category[1:3, 1:3] = CAR
    category[3:5, 3:5] = CAR  # meets the first square at one corner only
    assert np.unique(split_things(category, {CAR})[category == CAR]).tolist() == [1]
    four = split_things(category, {CAR}, connectivity=4)
    assert {int(four[1, 1]), int(four[4, 4])} == {1, 2}


def test_no_things_gives_all_zeros_and_bad_input_is_refused() -> None:
    category = np.full((4, 5), ROAD, np.uint16)
    assert not split_things(category, {CAR}).any()
    assert not split_things(np.full((4, 5), CAR, np.uint16), ()).any()
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        split_things(np.zeros((2, 3, 3), np.uint16), {CAR})
    with pytest.raises(ValueError, match="connectivity"):
        split_things(category, {CAR}, connectivity=6)  # type: ignore[arg-type]
