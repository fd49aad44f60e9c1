"""Undo/redo restores label maps exactly, groups strokes, and keeps within its memory bound."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segstudio.core.box import Box
from segstudio.core.edits import (
    Protect,
    apply_mask,
    brush_dab,
    brush_stroke,
    erase_stroke,
    fill_polygon,
    flood_fill,
    set_from_mask,
)
from segstudio.core.history import History
from segstudio.core.labels import VOID, LabelMap, Provenance


def assert_same(a: LabelMap, b: LabelMap) -> None:
    assert np.array_equal(a.category, b.category)
    assert np.array_equal(a.instance, b.instance)
    assert np.array_equal(a.provenance, b.provenance)
    assert a.crowd == b.crowd


def model_labelled(height: int, width: int, seed: int = 0) -> LabelMap:
    """A pre-labelled map: blocks of model classes and instances, some VOID."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 12, size=(-(-height // 50), -(-width // 50)))
    category = np.kron(blocks, np.ones((50, 50), np.int64))[:height, :width]
    category[category == 11] = VOID
    instance = np.where((category > 5) & (category != VOID), category * 7, 0)
    return LabelMap.from_arrays(category, instance, Provenance.MODEL)


def test_undo_and_redo_restore_exactly_and_report_the_box():
    labels = model_labelled(60, 80)
    original = labels.copy()
    history = History()
    with history.stroke(labels) as recorder:
        first = brush_stroke(labels, [(10, 10), (40, 30)], 4, (3, 0), recorder=recorder)
        second = brush_dab(labels, (70, 50), 6, (4, 9), recorder=recorder)
    painted = labels.copy()
    assert len(history) == 1 and history.can_undo and not history.can_redo
    assert history.undo(labels) == first.union(second)
    assert_same(labels, original)
    assert not history.can_undo and history.can_redo
    assert history.redo(labels) == first.union(second)
    assert_same(labels, painted)
    assert history.redo(labels) == Box.empty()  # nothing left to redo
    history.undo(labels)
    assert history.undo(labels) == Box.empty()  # nothing left to undo
    assert_same(labels, original)


def test_a_stroke_stores_only_pixels_whose_final_value_differs():
    labels = LabelMap.empty(1000, 1000)
    history = History()
    with history.stroke(labels) as recorder:
        brush_stroke(labels, [(0, 0), (999, 999)], 0, (5, 0), recorder=recorder)
    assert history.nbytes < 8_000  # 1,000 pixels of a 1,000,000-pixel box, compressed
    with history.stroke(labels) as recorder:
        brush_dab(labels, (500, 200), 30, (6, 0), recorder=recorder)
        erase_stroke(labels, [(500, 200)], 30, recorder=recorder)
        apply_mask(
            labels,
            Box(170, 470, 231, 531),
            np.ones((61, 61), bool),
            (VOID, 0),
            Provenance.NONE,
            recorder=recorder,
        )
    assert len(history) == 1  # painted then restored: an empty stroke is not recorded


def test_a_new_stroke_clears_redo_but_an_empty_one_does_not():
    labels = LabelMap.empty(30, 30)
    history = History()
    for x in (5, 15):
        with history.stroke(labels) as recorder:
            brush_dab(labels, (x, 10), 3, (1, 0), recorder=recorder)
    history.undo(labels)
    with history.stroke(labels) as recorder:
        brush_dab(labels, (5, 10), 3, (1, 0), recorder=recorder)  # already so: changes nothing
    assert history.can_redo and len(history) == 1
    with history.stroke(labels) as recorder:
        brush_dab(labels, (25, 25), 2, (2, 0), recorder=recorder)
    assert not history.can_redo and len(history) == 2


def test_crowd_flags_changed_in_a_stroke_are_undone_with_it():
    labels = LabelMap.empty(20, 20)
    labels.crowd.add((9, 9))
    history = History()
    with history.stroke(labels) as recorder:
        brush_dab(labels, (5, 5), 2, (3, 1), recorder=recorder)
        labels.crowd.add((3, 1))
        labels.crowd.discard((9, 9))
    with history.stroke(labels):
        labels.crowd.add((4, 4))  # a crowd toggle alone is a step too
    assert len(history) == 2
    assert history.undo(labels) == Box.empty()
    assert labels.crowd == {(3, 1)}
    history.undo(labels)
    assert labels.crowd == {(9, 9)} and (labels.category == VOID).all()
    history.redo(labels)
    history.redo(labels)
    assert labels.crowd == {(3, 1), (4, 4)}


def test_misuse_is_refused():
    labels, other = LabelMap.empty(10, 10), LabelMap.empty(12, 12)
    history = History()
    with pytest.raises(RuntimeError):
        history.end()
    recorder = history.begin(labels)
    with pytest.raises(RuntimeError):
        history.begin(labels)
    with pytest.raises(RuntimeError):
        history.undo(labels)
    with pytest.raises(ValueError):
        brush_dab(other, (3, 3), 1, (1, 0), recorder=recorder)
    brush_dab(labels, (3, 3), 1, (1, 0), recorder=recorder)
    history.end()
    with pytest.raises(RuntimeError):
        brush_dab(labels, (6, 6), 1, (1, 0), recorder=recorder)
    with pytest.raises(ValueError):
        history.undo(other)


def test_a_small_bound_drops_the_oldest_steps():
    labels = LabelMap.empty(200, 200)
    rng = np.random.default_rng(1)
    history = History(max_bytes=40_000)
    states = [labels.copy()]
    for i in range(60):
        noise = rng.random((40, 40)) < 0.5  # incompressible positions
        with history.stroke(labels) as recorder:
            set_from_mask(
                labels, noise, (i % 7, i), box=Box(i * 2, i * 2, i * 2 + 40, i * 2 + 40), recorder=recorder
            )
        states.append(labels.copy())
        assert history.nbytes <= history.max_bytes
    kept = len(history)
    assert 5 < kept < 60
    for expected in reversed(states[-kept - 1 : -1]):
        history.undo(labels)
        assert_same(labels, expected)
    assert not history.can_undo
    huge = History(max_bytes=1_000)  # one step bigger than the whole bound is not kept
    with huge.stroke(labels) as recorder:
        set_from_mask(labels, rng.random((200, 200)) < 0.5, (3, 3), recorder=recorder)
    assert not huge.can_undo and huge.nbytes == 0


# --- property: any sequence of strokes, undos and redos matches a list of snapshots ---------------

values = st.sampled_from([(0, 0), (1, 0), (1, 2), (2, 5), (VOID, 0)])
points = st.tuples(st.floats(-2, 11, allow_nan=False), st.floats(-2, 9, allow_nan=False))
edit = st.one_of(
    st.tuples(
        st.just("stroke"), st.lists(points, min_size=1, max_size=3), st.sampled_from([0, 1, 2.5]), values
    ),
    st.tuples(st.just("polygon"), st.lists(points, min_size=3, max_size=5), values),
    st.tuples(st.just("flood"), points, values, st.sampled_from([4, 8])),
    st.tuples(st.just("erase"), st.lists(points, min_size=1, max_size=2), st.sampled_from([0, 2])),
    st.tuples(st.just("crowd"), values),
)
stroke = st.tuples(
    st.lists(edit, min_size=1, max_size=4),
    st.sampled_from(list(Protect)),
    st.sampled_from([Provenance.MODEL, Provenance.HUMAN]),
)
action = st.one_of(st.just("undo"), st.just("redo"), stroke)


def run_edit(labels: LabelMap, step: tuple, protect: Protect, provenance: Provenance, recorder) -> None:
    kind, *args = step
    common = {"protect": protect, "recorder": recorder}
    if kind == "stroke":
        brush_stroke(labels, args[0], args[1], args[2], provenance=provenance, **common)
    elif kind == "polygon":
        fill_polygon(labels, args[0], args[1], provenance=provenance, **common)
    elif kind == "flood":
        flood_fill(labels, args[0], args[1], connectivity=args[2], provenance=provenance, **common)
    elif kind == "erase":
        erase_stroke(labels, args[0], args[1], **common)
    else:
        labels.crowd ^= {args[0]}


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 100), actions=st.lists(action, max_size=12))
def test_any_sequence_matches_reference_snapshots(seed, actions):
    labels = model_labelled(10, 12, seed)
    labels.category[(labels.category > 3) & (labels.category != VOID)] = 1  # few classes: floods find regions
    history = History()
    states, at = [labels.copy()], 0
    for act in actions:
        if act == "undo":
            history.undo(labels)
            at = max(at - 1, 0)
        elif act == "redo":
            history.redo(labels)
            at = min(at + 1, len(states) - 1)
        else:
            edits, protect, provenance = act
            before = labels.copy()
            with history.stroke(labels) as recorder:
                for step in edits:
                    run_edit(labels, step, protect, provenance, recorder)
            if not _equal(before, labels):
                states, at = [*states[: at + 1], labels.copy()], at + 1
        assert_same(labels, states[at])
        assert history.can_undo == (at > 0)
        assert history.can_redo == (at < len(states) - 1)


def _equal(a: LabelMap, b: LabelMap) -> bool:
    try:
        assert_same(a, b)
    except AssertionError:
        return False
    return True


# --- the memory check: 1,000 realistic strokes on a 4000x3000 map -------------------------


@pytest.mark.slow
def test_thousand_strokes_on_a_large_map_stay_bounded_and_undo_exactly():
    labels = model_labelled(3000, 4000)
    original = labels.copy()
    rng = np.random.default_rng(2024)
    history = History()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        for i in range(1000):
            radius = int(rng.integers(5, 41))
            length = rng.uniform(20, 300)
            angle = rng.uniform(0, 2 * np.pi)
            start = rng.uniform((50, 50), (3950, 2950))
            count = max(2, int(length / rng.uniform(4, 12)))  # mouse samples every 4-12 px
            path = start + np.outer(np.linspace(0, length, count), (np.cos(angle), np.sin(angle)))
            path += rng.normal(0, 1.5, path.shape)  # hand jitter
            value = (int(rng.integers(0, 20)), int(rng.integers(0, 3)) * i)
            with history.stroke(labels) as recorder:
                for a, b in zip(path[:-1], path[1:], strict=True):
                    brush_stroke(labels, [tuple(a), tuple(b)], radius, value, recorder=recorder)
        painting = time.perf_counter() - started
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert len(history) == 1000  # nothing dropped: all fit under the default bound
    assert history.nbytes <= history.max_bytes
    assert 0.8 * history.nbytes <= held <= 1.25 * history.nbytes + 2**20
    started = time.perf_counter()
    while history.can_undo:
        history.undo(labels)
    undoing = time.perf_counter() - started
    assert_same(labels, original)
    print(
        f"\n1000 strokes: {painting:.1f} s painting (traced), {undoing:.2f} s undoing all, "
        f"history {history.nbytes / 2**20:.1f} MiB, traced {held / 2**20:.1f} MiB"
    )


def test_a_sealed_stroke_undoes_part_by_part_each_part_a_band() -> None:
    labels = model_labelled(120, 90, seed=5)
    original = labels.copy()
    history = History()
    recorder = history.begin(labels)
    bands = [Box(0, 0, 40, 90), Box(40, 0, 80, 90), Box(80, 0, 120, 90)]
    for band in bands:
        apply_mask(labels, band, np.ones((band.height, band.width), bool), (3, 0), recorder=recorder)
        recorder.seal()
    apply_mask(labels, Box(30, 10, 50, 20), np.ones((20, 10), bool), (4, 7), recorder=recorder)  # 2 bands
    assert history.end() == Box(0, 0, 120, 90)
    done = labels.copy()
    assert len(history) == 1

    parts = history.undo_parts(labels)
    assert history.can_redo and not history.can_undo  # the step moved at once
    boxes = list(parts)
    assert all(box.area <= 40 * 90 for box in boxes) and len(boxes) == 4  # never the whole image
    assert_same(labels, original)
    assert [box for box in history.redo_parts(labels)] == boxes[::-1]
    assert_same(labels, done)


def test_a_whole_box_change_and_large_values_undo_exactly_and_are_counted_in_full() -> None:
    """A step that changed every pixel of its box keeps no mask; value arrays of RAW_BYTES and more
    are kept uncompressed (undo writes them back at memory speed) and the bound counts them whole."""
    labels = model_labelled(600, 700, seed=3)  # 420,000 pixels: instance values over RAW_BYTES
    labels.instance[:] = np.arange(labels.instance.size, dtype=np.uint32).reshape(labels.shape)
    original = labels.copy()
    history = History()
    with history.stroke(labels) as recorder:
        apply_mask(labels, Box.full(labels.shape), np.ones(labels.shape, bool), (3, 0), recorder=recorder)
    filled = labels.copy()
    assert history.nbytes >= labels.instance.nbytes  # the old ids are kept as they are
    assert history.undo(labels) == Box.full(labels.shape)
    assert_same(labels, original)
    assert history.redo(labels) == Box.full(labels.shape)
    assert_same(labels, filled)
    history.undo(labels)
    labels.instance[:5] = 0  # the history's arrays are copies, never views of the labels
    history.redo(labels)
    history.undo(labels)
    assert np.array_equal(labels.instance[5:], original.instance[5:])


def test_a_step_carries_its_note_to_undo_and_redo() -> None:
    labels = model_labelled(40, 40)
    history = History()
    recorder = history.begin(labels)
    brush_dab(labels, (10, 10), 3, (2, 0), recorder=recorder)
    history.end(note="first")
    assert history.undo_note == "first" and history.redo_note is None
    history.undo(labels)
    assert history.undo_note is None and history.redo_note == "first"
