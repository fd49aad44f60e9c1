"""Label maps: the data model every other part shares."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core.box import Box
from segstudio.core.labels import VOID, LabelMap, Provenance


def test_empty_map_is_void_everywhere() -> None:
    labels = LabelMap.empty(3, 4)
    assert labels.shape == (3, 4)
    assert (labels.category == VOID).all() and (labels.instance == 0).all()
    assert labels.category.dtype == np.uint16 and labels.instance.dtype == np.uint32
    assert not labels.labelled().any() and labels.segments() == []


def test_segments_list_pairs_with_area_box_crowd_and_provenance() -> None:
    labels = LabelMap.empty(6, 8)
    labels.category[0:2, 0:8] = 0  # stuff: class 0 is a real class, not void
    labels.category[3:5, 1:3] = 7
    labels.instance[3:5, 1:3] = 1
    labels.category[2:6, 5:8] = 7
    labels.instance[2:6, 5:8] = 70000  # instance ids beyond uint16 survive
    labels.provenance[labels.category != VOID] = Provenance.MODEL
    labels.provenance[5, 7] = Provenance.HUMAN
    labels.crowd.add((7, 70000))
    segments = {(s.category, s.instance): s for s in labels.segments()}
    assert set(segments) == {(0, 0), (7, 1), (7, 70000)}
    assert segments[(0, 0)].area == 16 and segments[(0, 0)].bbox == (0, 0, 8, 2)
    assert segments[(7, 1)].box == Box(3, 1, 5, 3) and not segments[(7, 1)].iscrowd
    assert segments[(7, 70000)].area == 12 and segments[(7, 70000)].iscrowd
    assert segments[(7, 70000)].provenance is Provenance.HUMAN
    assert segments[(7, 1)].provenance is Provenance.MODEL


def test_from_arrays_checks_ranges_and_clears_provenance_on_void() -> None:
    category = np.array([[1, VOID], [2, 3]])
    labels = LabelMap.from_arrays(category)
    assert labels.provenance.tolist() == [[2, 0], [2, 2]]
    with pytest.raises(ValueError, match="category"):
        LabelMap.from_arrays(np.array([[70000]]))
    with pytest.raises(ValueError, match="instance"):
        LabelMap.from_arrays(np.array([[1]]), instance=np.array([[-1]]))


def test_constructor_refuses_wrong_dtypes_and_shapes() -> None:
    good = LabelMap.empty(2, 2)
    with pytest.raises(ValueError, match="dtype"):
        LabelMap(good.category.astype(np.int32), good.instance, good.provenance)
    with pytest.raises(ValueError, match="shape"):
        LabelMap(good.category, np.zeros((3, 2), np.uint32), good.provenance)


def test_next_instance_and_prune_crowd() -> None:
    labels = LabelMap.empty(2, 2)
    assert labels.next_instance() == 1
    labels.category[0, 0], labels.instance[0, 0] = 5, 9
    labels.crowd |= {(5, 9), (5, 3)}
    assert labels.next_instance() == 10
    labels.prune_crowd()
    assert labels.crowd == {(5, 9)}
