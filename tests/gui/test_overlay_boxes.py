"""Overlays of large boxes of one value (an undo back to unlabelled, a fill and its redo) take a
short cut (``overlay.uniform_value``): the pixels must equal the general whole-image pass."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import PALETTE

from segstudio.core.box import Box
from segstudio.core.labels import VOID
from segstudio.gui.canvas.overlay import (
    UNIFORM_MIN,
    _outline_numpy,
    disagreement_mask,
    display_lut,
    outline_mask,
    reindex,
    uniform_value,
)

HEIGHT, WIDTH = 700, 600


def _blocks(rng: np.random.Generator, values: np.ndarray, dtype: type) -> np.ndarray:
    coarse = rng.choice(values, (HEIGHT // 50 + 1, WIDTH // 50 + 1))
    return np.ascontiguousarray(coarse.repeat(50, 0).repeat(50, 1)[:HEIGHT, :WIDTH].astype(dtype))


@pytest.mark.parametrize("seed", range(12))
def test_a_box_of_one_id_gives_the_overlays_of_a_whole_image_pass(seed: int) -> None:
    rng = np.random.default_rng(seed)
    instance = _blocks(rng, np.arange(4), np.uint32)
    category = _blocks(rng, np.array([0, 1, 2, VOID]), np.uint16)
    predicted = rng.choice(np.array([0, 1, 2], np.uint16), (HEIGHT, WIDTH))
    top, left = int(rng.integers(0, HEIGHT - 300)), int(rng.integers(0, WIDTH - 300))
    written = Box(top, left, top + int(rng.integers(262, 300)), left + int(rng.integers(262, 300)))
    instance[written.slices] = (0, 7, 2**31 + 5)[seed % 3]  # ids past int32 too
    category[written.slices] = (VOID, 1, 2)[seed % 3]
    assert uniform_value(instance[written.pad(-1).slices]) is not None  # the short cut is taken
    outlines = _outline_numpy(instance)
    lut = display_lut(PALETTE)
    for box in (written, written.pad(1), written.pad(-1), written.pad(4), Box.full(instance.shape)):
        box = box.clip(instance.shape)
        assert np.array_equal(outline_mask(instance, box), outlines[box.slices])
        truth, predicted_box = category[box.slices], predicted[box.slices]
        expected = (truth != predicted_box) & (truth != VOID)
        assert np.array_equal(disagreement_mask(category, predicted, box), expected)
        index = np.zeros(category.shape, np.uint8)
        reindex(category, lut, index, box)
        assert np.array_equal(index[box.slices], lut[category[box.slices]])


def test_only_large_arrays_of_one_value_count_as_uniform() -> None:
    side = int(np.ceil(np.sqrt(UNIFORM_MIN)))
    array = np.full((side, side), 9, np.uint16)
    assert uniform_value(array) == 9
    array[side // 3, side // 5] = 8  # one pixel no probe looks at
    assert uniform_value(array) is None
    assert uniform_value(np.full((8, 8), 9, np.uint16)) is None  # small: not worth a check
    assert uniform_value(np.full((side, side), 2**32 - 1, np.uint32)) == 2**32 - 1
