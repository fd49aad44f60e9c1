"""Edits change exactly the pixels they should, report a tight box, honour protection and provenance."""

from __future__ import annotations

from collections import deque
from fractions import Fraction

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segstudio.core.box import Box
from segstudio.core.edits import (
    ERASED,
    Protect,
    apply_mask,
    brush_dab,
    brush_stroke,
    erase_object,
    erase_stroke,
    fill_polygon,
    flood_fill,
    grabcut_box,
    set_from_mask,
)
from segstudio.core.history import History
from segstudio.core.labels import VOID, LabelMap, Provenance

PAINT = (7, 3)


def changed_pixels(before: LabelMap, after: LabelMap) -> np.ndarray:
    return (
        (before.category != after.category)
        | (before.instance != after.instance)
        | (before.provenance != after.provenance)
    )


def bounding_box(mask: np.ndarray) -> Box:
    """Tight box by np.nonzero, independent of the code under test."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return Box.empty()
    return Box(int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)


def painted(labels: LabelMap, value=PAINT, provenance=Provenance.HUMAN) -> np.ndarray:
    return (labels.category == value[0]) & (labels.instance == value[1]) & (labels.provenance == provenance)


def capsule_reference(shape, points, radius) -> np.ndarray:
    """Pixels whose centre lies within max(radius, 1/2) of the sampled polyline, in exact rationals."""
    centres = [(int(np.floor(y)), int(np.floor(x))) for x, y in points]
    segments = list(zip(centres, centres[1:], strict=False)) or [(centres[0], centres[0])]
    r2 = max(Fraction(radius), Fraction(1, 2)) ** 2
    out = np.zeros(shape, bool)
    for row in range(shape[0]):
        for col in range(shape[1]):
            for (ay, ax), (by, bx) in segments:
                vy, vx, wy, wx = by - ay, bx - ax, row - ay, col - ax
                length2 = vy * vy + vx * vx
                t = Fraction(0) if length2 == 0 else min(max(Fraction(wy * vy + wx * vx, length2), 0), 1)
                if (wy - t * vy) ** 2 + (wx - t * vx) ** 2 <= r2:
                    out[row, col] = True
                    break
    return out


class SpyRecorder:
    """Checks that every write is announced before it happens, and keeps the announced boxes."""

    def __init__(self, labels: LabelMap) -> None:
        self.labels = labels
        self.snapshot = labels.copy()
        self.boxes: list[Box] = []

    def record(self, labels: LabelMap, box: Box, mask: np.ndarray) -> None:
        assert labels is self.labels
        assert mask.shape == (box.height, box.width) and mask.dtype == bool
        # Not written yet: the pixels still hold their old values.
        for name in ("category", "instance", "provenance"):
            assert np.array_equal(getattr(labels, name), getattr(self.snapshot, name))
        self.boxes.append(box)


def zones() -> LabelMap:
    """A 12x12 map: left third VOID, middle third MODEL class 1, right third HUMAN class 2."""
    labels = LabelMap.empty(12, 12)
    labels.category[:, 4:8], labels.provenance[:, 4:8] = 1, Provenance.MODEL
    labels.category[:, 8:], labels.provenance[:, 8:] = 2, Provenance.HUMAN
    return labels


# --- brush -------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0, 0.5, 1, 2, 3.5, 5, 20])
def test_dab_paints_the_disc_around_the_pixel_under_the_cursor(radius):
    labels = LabelMap.empty(60, 70)
    before = labels.copy()
    box = brush_dab(labels, (30.8, 25.2), radius, PAINT)
    rows, cols = np.indices(labels.shape)
    expected = (rows - 25) ** 2 + (cols - 30) ** 2 <= max(radius, 0.5) ** 2
    assert np.array_equal(changed_pixels(before, labels), expected)
    assert np.array_equal(painted(labels), expected)
    assert box == bounding_box(expected)


def test_small_radii_have_documented_sizes():
    for radius, area in [(0, 1), (0.9, 1), (1, 5), (2, 13)]:
        labels = LabelMap.empty(9, 9)
        brush_dab(labels, (4, 4), radius, PAINT)
        assert painted(labels).sum() == area, radius


@settings(max_examples=40, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.floats(-6, 30, allow_nan=False), st.floats(-6, 26, allow_nan=False)),
        min_size=1,
        max_size=4,
    ),
    radius=st.sampled_from([0, 0.5, 1, 1.5, 2, 3, 4.2]),
)
def test_stroke_matches_exact_capsules_even_off_the_edge(points, radius):
    labels = LabelMap.empty(20, 24)
    before = labels.copy()
    box = brush_stroke(labels, points, radius, PAINT)
    expected = capsule_reference(labels.shape, points, radius)
    assert np.array_equal(changed_pixels(before, labels), expected)
    assert box == bounding_box(expected)


@pytest.mark.parametrize(("radius", "connectivity"), [(0, 8), (1, 4), (6, 4)])
def test_far_apart_samples_leave_no_gap(radius, connectivity):
    samples = [(3.5, 4.5), (180.2, 61.7), (20.0, 110.0)]
    labels = LabelMap.empty(120, 200)
    brush_stroke(labels, samples, radius, PAINT)
    count, _ = cv2.connectedComponents(painted(labels).view(np.uint8), connectivity=connectivity)
    assert count == 2  # background + one stroke
    dabs_only = LabelMap.empty(120, 200)
    for sample in samples:
        brush_dab(dabs_only, sample, radius, PAINT)
    count, _ = cv2.connectedComponents(painted(dabs_only).view(np.uint8), connectivity=connectivity)
    assert count == 4  # the same samples as separate dabs are three islands


def test_box_is_tight_around_pixels_that_actually_changed():
    labels = LabelMap.empty(40, 40)
    labels.category[:, :20], labels.instance[:, :20], labels.provenance[:, :20] = 7, 3, Provenance.HUMAN
    before = labels.copy()
    box = brush_dab(labels, (20, 20), 6, PAINT)
    assert box == Box(14, 20, 27, 27) == bounding_box(changed_pixels(before, labels))
    assert brush_dab(labels, (20, 20), 6, PAINT) == Box.empty()  # painting again changes nothing


def test_provenance_is_written_and_a_provenance_change_alone_counts():
    labels = LabelMap.empty(10, 10)
    brush_dab(labels, (5, 5), 2, PAINT, provenance=Provenance.MODEL)
    assert painted(labels, provenance=Provenance.MODEL).sum() == 13
    box = brush_dab(labels, (5, 5), 2, PAINT)
    assert painted(labels, provenance=Provenance.HUMAN).sum() == 13
    assert box == Box(3, 3, 8, 8)


def test_eraser_writes_void_as_human_and_human_protection_then_keeps_it():
    labels = zones()
    assert erase_stroke(labels, [(0.5, 6.5), (11.5, 6.5)], 0) == Box(6, 0, 7, 12)
    assert (labels.category[6] == VOID).all() and (labels.instance[6] == 0).all()
    assert (labels.provenance[6] == Provenance.HUMAN).all()  # even where it was already VOID
    before = labels.copy()
    box = brush_stroke(labels, [(0, 6), (11, 6)], 1, PAINT, protect=Protect.HUMAN)
    expected = np.zeros(labels.shape, bool)
    expected[[5, 7], :8] = True  # the erased row and the human zone stay as they were
    assert np.array_equal(changed_pixels(before, labels), expected)
    assert box == Box(5, 0, 8, 8)


# --- protection and the shared path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("protect", "writable_columns"),
    [(Protect.NONE, range(12)), (Protect.HUMAN, range(8)), (Protect.LABELLED, range(4))],
)
def test_apply_mask_honours_protection(protect, writable_columns):
    labels = zones()
    before = labels.copy()
    box = apply_mask(labels, Box(2, -3, 10, 15), np.ones((8, 18), bool), PAINT, protect=protect)
    expected = np.zeros(labels.shape, bool)
    expected[2:10, list(writable_columns)] = True
    assert np.array_equal(changed_pixels(before, labels), expected)
    assert box == bounding_box(expected)


def every_edit():
    """Each edit as a call covering the whole 12x12 zones map (image for GrabCut included)."""
    image = np.zeros((12, 12, 3), np.uint8)
    return {
        "dab": lambda lm, **kw: brush_dab(lm, (6, 6), 20, PAINT, **kw),
        "stroke": lambda lm, **kw: brush_stroke(lm, [(0, 0), (11, 11)], 20, PAINT, **kw),
        "polygon": lambda lm, **kw: fill_polygon(lm, [(0, 0), (11, 0), (11, 11), (0, 11)], PAINT, **kw),
        "flood": lambda lm, **kw: flood_fill(lm, (9, 9), PAINT, **kw),
        "mask": lambda lm, **kw: set_from_mask(lm, np.ones((12, 12), bool), PAINT, **kw),
        "grabcut": lambda lm, **kw: grabcut_box(image, lm, Box(2, 2, 10, 10), PAINT, margin=2, **kw),
    }


@pytest.mark.parametrize("edit", list(every_edit()))
def test_every_edit_goes_through_protection_provenance_and_recording(edit):
    call = every_edit()[edit]
    labels = zones()
    labels.category[:] = 2  # all labelled, right third by a human
    before = labels.copy()
    assert call(labels, protect=Protect.LABELLED) == Box.empty()
    assert np.array_equal(labels.category, before.category)
    if edit == "grabcut":  # a blank image yields no foreground: protection is not what is tested
        return
    spy = SpyRecorder(labels)
    box = call(labels, protect=Protect.HUMAN, provenance=Provenance.MODEL, recorder=spy)
    changed = changed_pixels(before, labels)
    assert spy.boxes == [box] and box == bounding_box(changed)
    assert not changed[:, 8:].any()
    assert painted(labels, provenance=Provenance.MODEL)[changed].all()


def test_invalid_values_are_refused():
    labels = LabelMap.empty(5, 5)
    for value in [(VOID + 1, 0), (-1, 0), (3, 2**32), (VOID, 4)]:
        with pytest.raises(ValueError):
            brush_dab(labels, (2, 2), 1, value)
    with pytest.raises(ValueError):
        apply_mask(labels, Box(0, 0, 2, 2), np.ones((3, 3), bool), PAINT)


# --- polygon -----------------------------------------------------------------------------------


def test_polygon_corners_are_the_pixels_under_the_vertices():
    labels = LabelMap.empty(12, 12)
    box = fill_polygon(labels, [(2.9, 3.1), (8.2, 3.9), (8.0, 7.5), (2.0, 7.99)], PAINT)
    expected = np.zeros(labels.shape, bool)
    expected[3:8, 2:9] = True  # rows 3..7, columns 2..8, corner pixels included
    assert np.array_equal(painted(labels), expected)
    assert box == Box(3, 2, 8, 9)


def polygon_reference(shape, vertices) -> np.ndarray:
    """Centre inside (PNPOLY ray casting in exact rationals) or exactly on an edge."""
    corners = [(int(np.floor(x)), int(np.floor(y))) for x, y in vertices]
    edges = list(zip(corners, corners[1:] + corners[:1], strict=True))
    out = np.zeros(shape, bool)
    for y in range(shape[0]):
        for x in range(shape[1]):
            inside = False
            for (xi, yi), (xj, yj) in edges:
                on_line = (x - xi) * (yj - yi) == (y - yi) * (xj - xi)
                if on_line and min(xi, xj) <= x <= max(xi, xj) and min(yi, yj) <= y <= max(yi, yj):
                    inside = True
                    break
                if (yi > y) != (yj > y) and x < xi + Fraction((xj - xi) * (y - yi), yj - yi):
                    inside = not inside
            out[y, x] = inside
    return out


@settings(max_examples=60, deadline=None)
@given(
    vertices=st.lists(
        st.tuples(st.floats(-5, 28, allow_nan=False), st.floats(-5, 24, allow_nan=False)),
        min_size=3,
        max_size=6,
    )
)
def test_polygon_fills_centres_inside_or_on_it_exactly(vertices):
    labels = LabelMap.empty(20, 24)
    box = fill_polygon(labels, vertices, PAINT)
    expected = polygon_reference(labels.shape, vertices)
    assert np.array_equal(painted(labels), expected)
    assert box == bounding_box(expected)


def test_polygon_off_the_edge_matches_the_same_polygon_on_a_bigger_map():
    vertices = [(-7.5, 4.2), (18.3, -5.0), (25.1, 22.2), (3.3, 12.6)]
    small, big = LabelMap.empty(16, 20), LabelMap.empty(40, 40)
    box = fill_polygon(small, vertices, PAINT)
    fill_polygon(big, [(x + 10, y + 10) for x, y in vertices], PAINT)
    assert np.array_equal(painted(small), painted(big)[10:26, 10:30])
    assert box == bounding_box(painted(small))
    with pytest.raises(ValueError):
        fill_polygon(small, [(0, 0), (5, 5)], PAINT)


# --- flood fill --------------------------------------------------------------------------------


def reference_region(labels: LabelMap, row: int, col: int, connectivity: int) -> np.ndarray:
    """Breadth-first search over equal (category, instance) neighbours."""
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    if connectivity == 8:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    key = (labels.category[row, col], labels.instance[row, col])
    region = np.zeros(labels.shape, bool)
    region[row, col] = True
    queue = deque([(row, col)])
    while queue:
        r, c = queue.popleft()
        for dr, dc in steps:
            nr, nc = r + dr, c + dc
            if not (0 <= nr < labels.shape[0] and 0 <= nc < labels.shape[1]) or region[nr, nc]:
                continue
            if (labels.category[nr, nc], labels.instance[nr, nc]) == key:
                region[nr, nc] = True
                queue.append((nr, nc))
    return region


def test_flood_fill_connectivity_4_vs_8():
    labels = LabelMap.from_arrays(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]]))
    four, eight = labels.copy(), labels.copy()
    assert flood_fill(four, (0.5, 0.5), PAINT, connectivity=4) == Box(0, 0, 1, 1)
    assert flood_fill(eight, (0.5, 0.5), PAINT, connectivity=8) == Box(0, 0, 3, 3)
    assert painted(four).sum() == 1 and np.array_equal(painted(eight), np.eye(3, dtype=bool))
    with pytest.raises(ValueError):
        flood_fill(labels, (0, 0), PAINT, connectivity=6)
    assert flood_fill(labels, (3.0, 0.0), PAINT) == Box.empty()  # seed off the map


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    row=st.integers(0, 13),
    col=st.integers(0, 16),
    connectivity=st.sampled_from([4, 8]),
)
def test_flood_fill_matches_a_breadth_first_search(seed, row, col, connectivity):
    rng = np.random.default_rng(seed)
    category = rng.choice([1, 2, VOID], size=(14, 17), p=[0.5, 0.25, 0.25])
    instance = np.where(category == VOID, 0, rng.integers(0, 2, size=(14, 17)))
    labels = LabelMap.from_arrays(category, instance)
    before = labels.copy()
    box = flood_fill(labels, (col, row), PAINT, connectivity=connectivity)
    expected = reference_region(before, row, col, connectivity)
    assert np.array_equal(changed_pixels(before, labels), expected)
    assert box == bounding_box(expected)


# --- set from mask -----------------------------------------------------------------------------


def test_set_from_full_mask_and_from_an_offset_box():
    labels = LabelMap.empty(10, 10)
    full = np.zeros((10, 10), bool)
    full[2:4, 5:9] = True
    assert set_from_mask(labels, full, PAINT) == Box(2, 5, 4, 9)
    assert np.array_equal(painted(labels), full)

    patch = np.array([[1, 0, 1], [0, 1, 0]], bool)
    box = set_from_mask(labels, patch, (4, 0), box=Box(8, 8, 10, 11))  # sticks out on the right
    assert box == Box(8, 8, 10, 10)
    assert labels.category[8, 8] == 4 and labels.category[9, 9] == 4
    assert labels.category[8, 9] == VOID and labels.category[9, 8] == VOID
    with pytest.raises(ValueError):
        set_from_mask(labels, np.ones((9, 10), bool), PAINT)


def test_erased_constant_is_void_without_instance():
    assert ERASED == (VOID, 0)


# --- GrabCut -----------------------------------------------------------------------------------


def disc_scene() -> tuple[np.ndarray, np.ndarray]:
    """A noisy orange disc on a striped, noisy green-grey background."""
    rng = np.random.default_rng(7)
    height, width = 180, 220
    rows, cols = np.indices((height, width))
    disc = (rows - 95) ** 2 + (cols - 120) ** 2 <= 45**2
    stripes = ((cols // 9 + rows // 13) % 2).astype(np.float64)
    background = np.stack([60 + 40 * stripes, 110 + 30 * stripes, 70 + 50 * stripes], axis=-1)
    image = np.where(disc[..., None], np.array([225.0, 120.0, 40.0]), background)
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), disc


def test_grabcut_recovers_a_disc_from_its_box():
    image, disc = disc_scene()
    labels = LabelMap.empty(*disc.shape)
    rect = Box(40, 65, 151, 176)  # the disc's box (50..140 x 75..165) plus slack
    box = grabcut_box(image, labels, rect, PAINT)
    found = painted(labels)
    iou = (found & disc).sum() / (found | disc).sum()
    assert iou > 0.9
    assert box == bounding_box(found)
    assert rect.union(box) == rect  # nothing outside the rect is written


def test_grabcut_refuses_what_it_cannot_use_and_ignores_a_rect_off_the_map():
    labels = LabelMap.empty(20, 20)
    assert grabcut_box(np.zeros((20, 20), np.uint8), labels, Box(30, 30, 40, 40), PAINT) == Box.empty()
    with pytest.raises(ValueError):
        grabcut_box(np.zeros((20, 21, 3), np.uint8), labels, Box(2, 2, 10, 10), PAINT)
    with pytest.raises(ValueError):
        grabcut_box(np.zeros((20, 20, 3), np.uint8), labels, Box(0, 0, 20, 20), PAINT)


def test_erase_object_takes_a_whole_instance_or_a_connected_region():
    labels = LabelMap.empty(20, 30)
    labels.category[:] = 0  # background, stuff
    labels.category[2:6, 2:8] = 5
    labels.instance[2:6, 2:8] = 7
    labels.category[10:14, 20:26] = 5  # a second part of instance 7, not touching the first
    labels.instance[10:14, 20:26] = 7
    labels.category[15:18, 2:5] = 5  # another object of the class
    labels.instance[15:18, 2:5] = 8
    history = History()
    with history.stroke(labels) as recorder:
        box = erase_object(labels, (3.0, 3.0), recorder=recorder)
    assert box == Box(2, 2, 14, 26)  # both parts of instance 7
    assert not (labels.instance == 7).any() and (labels.instance == 8).sum() == 9
    assert (labels.category[2:6, 2:8] == VOID).all()
    assert (labels.provenance[2:6, 2:8] == Provenance.HUMAN).all()  # a person decided "no class"
    history.undo(labels)
    assert (labels.instance == 7).sum() == 48  # one undo step brings the object back
    labels.category[:, 15] = 3  # a stuff wall: the background is now two regions
    erase_object(labels, (0.0, 19.0))
    assert (labels.category[:, :15][labels.instance[:, :15] == 0] == VOID).all()
    assert (labels.category[:, 16:][labels.instance[:, 16:] == 0] == 0).all()  # the other region stays
    assert erase_object(labels, (0.0, 19.0)).is_empty  # nothing labelled there any more
