"""The magic wand's region: connected pixels within a per-channel tolerance of the seed colour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segstudio.core.box import Box
from segstudio.core.colour_fill import similar_colour_region


def _reference(rgb: np.ndarray, row: int, col: int, tolerance: int, connectivity: int) -> np.ndarray:
    """Within tolerance of the seed on every channel, then the connected component holding it."""
    close = (np.abs(rgb.astype(int) - rgb[row, col].astype(int)) <= tolerance).all(axis=2)
    _, components = cv2.connectedComponents(close.astype(np.uint8), connectivity=connectivity)
    return components == components[row, col]


def _whole(rgb: np.ndarray, box: Box, mask: np.ndarray) -> np.ndarray:
    full = np.zeros(rgb.shape[:2], bool)
    full[box.slices] = mask
    return full


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("tolerance", [0, 10, 40])
def test_equals_the_connected_component_of_close_colours(tolerance: int, connectivity: int) -> None:
    rng = np.random.default_rng(tolerance + connectivity)
    rgb = (rng.integers(0, 4, (40, 50, 3)) * 20).astype(np.uint8)  # patchy colours, many near ties
    box, mask = similar_colour_region(rgb, (7.5, 9.5), tolerance, connectivity)
    expected = _reference(rgb, 9, 7, tolerance, connectivity)
    assert box == Box.of_mask(expected)
    assert np.array_equal(_whole(rgb, box, mask), expected)


def test_two_separate_patches_of_one_colour_are_not_joined() -> None:
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[2:8, 2:8] = (200, 50, 50)
    rgb[12:18, 20:28] = (205, 48, 52)
    box, mask = similar_colour_region(rgb, (3, 3), 20)
    assert box == Box(2, 2, 8, 8) and mask.all()


def test_the_bound_is_to_the_seed_colour_so_a_gradient_stops() -> None:
    ramp = np.repeat(np.arange(0, 200, 2, dtype=np.uint8)[None, :, None], 3, axis=2).repeat(5, axis=0)
    box, _ = similar_colour_region(ramp, (0.5, 2.5), 10)
    assert (box.left, box.right) == (0, 6)  # values 0..10 only, however smooth the ramp


def test_off_the_image_is_empty_and_bad_arguments_are_refused() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    box, mask = similar_colour_region(rgb, (4.0, 1.0), 10)
    assert box.is_empty and mask.size == 0
    with pytest.raises(ValueError, match="tolerance"):
        similar_colour_region(rgb, (1, 1), 300)
    with pytest.raises(ValueError, match="connectivity"):
        similar_colour_region(rgb, (1, 1), 3, connectivity=6)  # type: ignore[arg-type]


def test_a_read_only_image_is_read_not_written() -> None:
    rgb = np.full((6, 6, 3), 9, np.uint8)
    rgb.flags.writeable = False
    box, mask = similar_colour_region(rgb, (1, 1), 0)
    assert box == Box(0, 0, 6, 6) and mask.all()
    assert (rgb == 9).all()
