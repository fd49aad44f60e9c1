"""SLIC superpixels: connected, consecutive, following colour edges; painting them honours the rules."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segstudio.core.box import Box
from segstudio.core.edits import Protect
from segstudio.core.history import History
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.superpixels import Superpixels, compute_superpixels, paint_superpixels


def two_tone(height: int = 120, width: int = 160) -> np.ndarray:
    """Noisy red left of a wavy edge, noisy blue right of it."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    right = x > width / 2 + 10 * np.sin(y / 9)
    rgb = np.where(right[..., None], (40, 60, 200), (210, 50, 40)).astype(np.int16)
    rgb += rng.integers(-12, 13, rgb.shape, dtype=np.int16)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def is_connected(mask: np.ndarray) -> bool:
    count, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    return count == 2


def test_segments_cover_the_image_with_consecutive_connected_ids() -> None:
    superpixels = compute_superpixels(two_tone(), n_segments=60)
    segments = superpixels.segments
    assert segments.dtype == np.int32 and segments.shape == (120, 160)
    assert np.array_equal(np.unique(segments), np.arange(superpixels.count))
    assert 30 <= superpixels.count <= 90
    for segment in range(superpixels.count):
        assert is_connected(segments == segment), segment


def test_segments_follow_a_strong_colour_edge() -> None:
    rgb = two_tone()
    segments = compute_superpixels(rgb, n_segments=60).segments
    right = rgb[..., 2] > 120
    for segment in np.unique(segments):
        inside = segments == segment
        minority = min(np.count_nonzero(inside & right), np.count_nonzero(inside & ~right))
        assert minority <= 0.1 * np.count_nonzero(inside), segment


def test_compactness_trades_colour_for_shape() -> None:
    rgb = two_tone()

    def box_fill(compactness: float) -> float:
        """How much of its bounding box a superpixel fills, on average: 1 for rectangles."""
        sp = compute_superpixels(rgb, 60, compactness)
        return float(np.mean([np.mean(sp.segments[b.slices] == i) for i, b in enumerate(sp.boxes)]))

    assert box_fill(40.0) > box_fill(3.0) + 0.2


def test_a_large_photo_is_clustered_downscaled_and_upsampled_to_full_size() -> None:
    rgb = cv2.resize(two_tone(), (1600, 1200), interpolation=cv2.INTER_NEAREST)
    superpixels = compute_superpixels(rgb, n_segments=200, max_pixels=40_000)
    segments = superpixels.segments
    assert segments.shape == (1200, 1600)
    assert np.array_equal(np.unique(segments), np.arange(superpixels.count))
    for segment, box in enumerate(superpixels.boxes):
        assert np.count_nonzero(segments[box.slices] == segment) == np.count_nonzero(segments == segment)


def test_ids_under_a_brush_are_the_touched_superpixels() -> None:
    segments = np.repeat(np.arange(4, dtype=np.int32), 5).reshape(1, 20).repeat(6, axis=0)
    superpixels = Superpixels.of_map(segments)
    assert superpixels.boxes[1] == Box(0, 5, 6, 10)
    assert superpixels.ids_under([(4.5, 2.5), (5.5, 2.5)], 0.5) == {0, 1}
    assert superpixels.ids_under([(12.5, 2.5)], 2) == {2}
    assert superpixels.ids_under([], 3) == set()


def test_painting_writes_whole_superpixels_honours_the_lock_and_undoes() -> None:
    segments = np.repeat(np.arange(4, dtype=np.int32), 5).reshape(1, 20).repeat(6, axis=0)
    superpixels = Superpixels.of_map(segments)
    labels = LabelMap.empty(6, 20)
    labels.category[:3, 5:10] = 2  # superpixel 1 is half labelled
    labels.provenance[:3, 5:10] = Provenance.HUMAN
    before = labels.copy()
    history = History()
    recorder = history.begin(labels)
    box = paint_superpixels(labels, superpixels, {1, 2}, (7, 0), protect=Protect.LABELLED, recorder=recorder)
    history.end()
    expected = ((segments == 1) | (segments == 2)) & (before.category == VOID)
    assert np.array_equal(labels.category == 7, expected)
    assert box == Box(0, 5, 6, 15)
    history.undo(labels)
    assert np.array_equal(labels.category, before.category)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        compute_superpixels(np.zeros((4, 4), np.uint8))
