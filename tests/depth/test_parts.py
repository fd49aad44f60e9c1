"""The 31 body parts: the paper's list, a usable palette and a correct left/right mirror."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segstudio.core.labels import VOID
from segstudio.depth.parts import (
    BACKGROUND,
    LEFT_RIGHT_SWAP,
    N_PARTS,
    PART_NAMES,
    PARTS_PALETTE,
    Part,
    swap_left_right,
    to_category_map,
)

# Shotton et al. 2011, figure 2 / section 2.
PAPER_PARTS = [
    "LU_HEAD", "RU_HEAD", "LW_HEAD", "RW_HEAD", "NECK", "L_SHOULDER", "R_SHOULDER",
    "LU_ARM", "RU_ARM", "LW_ARM", "RW_ARM", "L_ELBOW", "R_ELBOW", "L_WRIST", "R_WRIST",
    "L_HAND", "R_HAND", "LU_TORSO", "RU_TORSO", "LW_TORSO", "RW_TORSO", "LU_LEG", "RU_LEG",
    "LW_LEG", "RW_LEG", "L_KNEE", "R_KNEE", "L_ANKLE", "R_ANKLE", "L_FOOT", "R_FOOT",
]  # fmt: skip


def test_the_papers_31_parts_with_ids_0_to_30() -> None:
    assert N_PARTS == 31 == len(PAPER_PARTS)
    assert list(PART_NAMES) == PAPER_PARTS
    assert [int(p) for p in Part] == list(range(31))


def test_background_is_outside_the_part_ids() -> None:
    assert BACKGROUND == 255
    assert BACKGROUND not in PARTS_PALETTE
    assert BACKGROUND >= N_PARTS


def test_palette_has_31_distinct_visible_stuff_colours() -> None:
    assert len(PARTS_PALETTE) == N_PARTS
    assert PARTS_PALETTE.ids == list(range(N_PARTS))
    assert PARTS_PALETTE.thing_ids == set()
    assert [c.name for c in PARTS_PALETTE] == PAPER_PARTS
    colors = np.array([c.color for c in PARTS_PALETTE], float)
    closest = min(np.linalg.norm(a - b) for a, b in itertools.combinations(colors, 2))
    assert closest > 40, "two parts would be hard to tell apart"
    assert (colors.sum(axis=1) > 90).all(), "a part colour is too close to black (background)"


def test_swap_maps_each_part_to_its_mirror_name() -> None:
    assert LEFT_RIGHT_SWAP.shape == (N_PARTS,)
    for part in Part:
        mirror = Part(int(LEFT_RIGHT_SWAP[part]))
        if part is Part.NECK:
            assert mirror is Part.NECK
        else:
            assert mirror is not part
            assert {part.name[0], mirror.name[0]} == {"L", "R"}
            assert part.name[1:] == mirror.name[1:]
    np.testing.assert_array_equal(LEFT_RIGHT_SWAP[LEFT_RIGHT_SWAP], np.arange(N_PARTS))


def test_swap_is_read_only() -> None:
    with pytest.raises(ValueError):
        LEFT_RIGHT_SWAP[0] = 0


part_maps = arrays(
    np.uint8, st.tuples(st.integers(1, 8), st.integers(1, 8)), elements=st.sampled_from([*range(31), 255])
)


@given(part_maps)
def test_swap_left_right_is_an_involution_that_keeps_background(parts: np.ndarray) -> None:
    swapped = swap_left_right(parts)
    np.testing.assert_array_equal(swap_left_right(swapped), parts)
    np.testing.assert_array_equal(swapped == BACKGROUND, parts == BACKGROUND)
    body = parts != BACKGROUND
    np.testing.assert_array_equal(swapped[body], LEFT_RIGHT_SWAP[parts[body]])


def test_category_map_turns_background_into_void() -> None:
    parts = np.array([[0, 30, BACKGROUND]], np.uint8)
    category = to_category_map(parts)
    assert category.dtype == np.uint16
    np.testing.assert_array_equal(category, [[0, 30, VOID]])
    with pytest.raises(ValueError, match="outside"):
        to_category_map(np.array([[31]], np.uint8))
