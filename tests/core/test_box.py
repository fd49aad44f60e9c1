"""Boxes: the unit every edit, repaint, undo and metric update works on."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from segstudio.core.box import Box


def test_geometry_and_slices() -> None:
    box = Box.from_xywh(x=3, y=2, w=4, h=5)
    assert (box.top, box.left, box.bottom, box.right) == (2, 3, 7, 7)
    assert box.xywh() == (3, 2, 4, 5) and box.area == 20
    grid = np.zeros((10, 10), int)
    grid[box.slices] = 1
    assert grid.sum() == 20 and grid[2, 3] == 1 and grid[7, 3] == 0


def test_union_intersection_clip_and_empties() -> None:
    a, b = Box(0, 0, 4, 4), Box(2, 3, 6, 8)
    assert a.union(b) == Box(0, 0, 6, 8)
    assert a.intersect(b) == Box(2, 3, 4, 4)
    assert a.intersect(Box(5, 5, 6, 6)).is_empty
    assert Box.empty().union(b) == b and b.union(Box.empty()) == b
    assert Box(-3, -2, 5, 50).clip((4, 10)) == Box(0, 0, 4, 10)
    assert Box(20, 20, 30, 30).clip((4, 10)).is_empty


@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_of_mask_is_the_tight_box(height: int, width: int, seed: int) -> None:
    mask = np.random.default_rng(seed).random((height, width)) < 0.1
    box = Box.of_mask(mask)
    if not mask.any():
        assert box.is_empty
        return
    ys, xs = np.nonzero(mask)
    assert box == Box(ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)
    assert mask[box.slices].sum() == mask.sum()


def test_shift_and_pad() -> None:
    assert Box(1, 2, 3, 4).shift(10, 20) == Box(11, 22, 13, 24)
    assert Box(5, 5, 6, 6).pad(2) == Box(3, 3, 8, 8)
