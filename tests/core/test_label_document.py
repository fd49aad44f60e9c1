"""The open image's label model without a window: strokes, undo, live metrics, band work, events."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segstudio.core.box import Box
from segstudio.core.edits import brush_stroke, flood_fill
from segstudio.core.label_document import BAND_PIXELS, REPLAY_PIXELS, LabelDocument, human_corrections
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import ClassDef, Palette

PALETTE = Palette(
    "test",
    [
        ClassDef(0, "background", (0, 0, 0)),
        ClassDef(1, "cat", (200, 0, 0), isthing=True),
        ClassDef(2, "dog", (0, 200, 0), isthing=True),
    ],
)


def _document(height: int = 60, width: int = 80, with_prediction: bool = True) -> LabelDocument:
    """A person labelled a cat (rows 10-29, columns 10-39), the rest is unlabelled; the model
    predicts a dog over rows 15-39, columns 20-59 and background elsewhere."""
    rgb = np.zeros((height, width, 3), np.uint8)
    truth = np.full((height, width), VOID, np.uint16)
    truth[10:30, 10:40] = 1
    gt = LabelMap.from_arrays(truth, (truth == 1).astype(np.uint32), Provenance.HUMAN)
    predicted = np.zeros((height, width), np.uint16)
    predicted[15:40, 20:60] = 2
    pred = LabelMap.from_arrays(predicted, (predicted == 2).astype(np.uint32), Provenance.MODEL)
    return LabelDocument("scene", rgb, gt, PALETTE, pred if with_prediction else None)


def _recount(document: LabelDocument) -> tuple[ConfusionMatrix, int]:
    labels, pred = document.labels, document.prediction
    assert pred is not None
    matrix = ConfusionMatrix.from_maps(labels.category, pred.category, PALETTE.ids)
    return matrix, human_corrections(labels.category, labels.provenance, pred.category)


def test_a_stroke_is_one_undo_step_and_events_tell_the_boxes_and_dirt() -> None:
    document = _document(with_prediction=False)
    before = document.labels.copy()
    boxes: list[Box] = []
    dirt: list[bool] = []
    document.changed.connect(boxes.append)
    document.dirty_changed.connect(dirt.append)
    with document.stroke():
        document.edit(lambda labels, rec: brush_stroke(labels, [(5, 5), (30, 20)], 3, (2, 7), recorder=rec))
        document.edit(lambda labels, rec: brush_stroke(labels, [(30, 20), (70, 50)], 3, (2, 7), recorder=rec))
    assert len(boxes) == 2 and all(not box.is_empty for box in boxes)
    assert dirt == [True] and document.dirty and document.revision == 2
    for _ in document.undo_work():
        pass
    np.testing.assert_array_equal(document.labels.category, before.category)
    np.testing.assert_array_equal(document.labels.instance, before.instance)
    for _ in document.redo_work():
        pass
    assert (document.labels.category == 2).any() and not document.history.can_redo
    document.mark_saved()
    assert dirt == [True, False]


def test_an_edit_needs_a_stroke() -> None:
    document = _document()
    with pytest.raises(RuntimeError, match="needs a stroke"):
        document.edit(lambda labels, rec: flood_fill(labels, (1, 1), (1, 1), recorder=rec))


def test_live_metrics_follow_edits_and_undo_as_a_whole_image_recount_gives_them() -> None:
    document = _document()
    moved: list[None] = []
    document.metrics_changed.connect(lambda: moved.append(None))
    assert (document.confusion, document.human_corrections) == _recount(document)
    document.apply(lambda labels, rec: brush_stroke(labels, [(25, 20), (55, 35)], 4, (2, 3), recorder=rec))
    document.apply(lambda labels, rec: flood_fill(labels, (70, 5), (1, 9), recorder=rec))
    assert (document.confusion, document.human_corrections) == _recount(document)
    assert document.human_corrections > 0 and len(moved) == 2
    for _ in document.undo_work():
        pass
    assert (document.confusion, document.human_corrections) == _recount(document)
    document.set_prediction(None)
    assert document.confusion is None and document.human_corrections == 0


def test_accepting_the_prediction_runs_in_bands_as_one_undo_step_keeping_human_pixels() -> None:
    document = _document(600, 500)  # 300,000 pixels: more than two bands
    bands = len(Box.full(document.shape).bands(BAND_PIXELS))
    human = document.labels.category == 1
    progress: list[tuple[int, int]] = []
    changed: list[Box] = []
    accept = document.accept_edit()
    assert accept is not None and bands >= 3
    work = document.band_work(
        Box.full(document.shape), accept, lambda done, total: progress.append((done, total)), changed.append
    )
    next(work)
    assert document.in_stroke and progress == [(1, bands)]  # one band written, the step still open
    for _ in work:
        pass
    assert progress == [(done, bands) for done in range(1, bands + 1)] and not document.in_stroke
    assert changed == [Box.full(document.shape)]
    assert (document.labels.category[human] == 1).all()  # a person's pixels are kept
    np.testing.assert_array_equal(document.labels.category[~human], document.prediction.category[~human])
    assert (document.confusion, document.human_corrections) == _recount(document)
    boxes: list[Box] = []
    document.changed.connect(boxes.append)
    parts = list(document.undo_work())  # the delta is known and the step small: written in the call
    assert parts == [] and boxes == [Box.full(document.shape)]
    assert (document.labels.category[~human] == VOID).all()
    assert (document.confusion, document.human_corrections) == _recount(document)
    assert list(document.redo_work()) == [] and len(boxes) == 2
    assert (document.confusion, document.human_corrections) == _recount(document)


def test_a_large_step_is_undone_in_groups_a_turn_each_with_the_metrics_exact() -> None:
    document = _document(1500, 2000)  # 3 MP: more than one group of REPLAY_PIXELS
    before, accept = document.labels.copy(), document.accept_edit()
    assert accept is not None and document.labels.category.size > REPLAY_PIXELS
    for _ in document.band_work(Box.full(document.shape), accept):
        pass
    accepted = document.labels.copy()
    boxes: list[Box] = []
    metrics: list[None] = []
    document.changed.connect(boxes.append)
    document.metrics_changed.connect(lambda: metrics.append(None))
    work = document.undo_work()
    next(work)  # the first group written, the rest left for later turns
    assert len(boxes) == 1 and 0 < boxes[0].area < document.labels.category.size
    later_turns = sum(1 for _ in work)  # a turn per group; the last one's ends the work
    assert len(boxes) == 1 + later_turns + 1 and all(box.area <= REPLAY_PIXELS + BAND_PIXELS for box in boxes)
    assert len(metrics) == 1  # the step's delta is added once, with the first group
    np.testing.assert_array_equal(document.labels.category, before.category)
    np.testing.assert_array_equal(document.labels.instance, before.instance)
    assert (document.confusion, document.human_corrections) == _recount(document)
    for _ in document.redo_work():
        pass
    np.testing.assert_array_equal(document.labels.category, accepted.category)
    assert (document.confusion, document.human_corrections) == _recount(document)
    for _ in document.undo_work():  # the shadow copy lags after replays: edits still count right
        pass
    document.apply(lambda labels, rec: brush_stroke(labels, [(5, 5), (900, 1400)], 40, (2, 9), recorder=rec))
    assert (document.confusion, document.human_corrections) == _recount(document)
    for _ in document.undo_work():
        pass
    document.set_prediction(accepted)  # the steps' deltas no longer hold: recounted part by part
    for _ in document.redo_work():
        pass
    assert (document.confusion, document.human_corrections) == _recount(document)


def test_a_step_made_under_another_prediction_is_recounted_part_by_part() -> None:
    document = _document(600, 500)
    bands = len(Box.full(document.shape).bands(BAND_PIXELS))
    accept = document.accept_edit()
    assert accept is not None
    for _ in document.band_work(Box.full(document.shape), accept):
        pass
    other = document.prediction.copy()
    other.category[:100] = 2
    document.set_prediction(other)  # the step's delta was counted against the old prediction
    parts = list(document.undo_work())
    assert len(parts) == bands
    assert (document.confusion, document.human_corrections) == _recount(document)
    assert len(list(document.redo_work())) == bands
    assert (document.confusion, document.human_corrections) == _recount(document)


def test_nothing_to_accept_without_a_prediction() -> None:
    assert _document(with_prediction=False).accept_edit() is None


def test_a_long_undo_is_refused_inside_a_stroke() -> None:
    document = _document()
    document.apply(lambda labels, rec: flood_fill(labels, (70, 5), (1, 9), recorder=rec))
    document.begin_stroke()
    assert list(document.undo_work()) == [] and document.history.can_undo
    document.end_stroke()


def test_a_prediction_counted_on_a_snapshot_is_taken_while_the_labels_are_unchanged() -> None:
    document = _document()
    other = document.prediction.copy()
    other.category[:, :30] = 1
    fresh = document.labels_snapshot()
    document.set_prediction(other, metrics=fresh.count(other.category))
    assert (document.confusion, document.human_corrections) == _recount(document)
    with document.stroke():  # edits after a counted prediction stay exact (the shadow is current)
        document.edit(lambda labels, rec: brush_stroke(labels, [(5, 5), (50, 40)], 4, (2, 3), recorder=rec))
    assert (document.confusion, document.human_corrections) == _recount(document)


def test_a_prediction_counted_on_older_labels_or_classes_is_recounted() -> None:
    document = _document()
    stale = document.labels_snapshot()
    with document.stroke():  # the labels change after the snapshot
        document.edit(lambda labels, rec: brush_stroke(labels, [(5, 5), (50, 40)], 4, (2, 3), recorder=rec))
    other = document.prediction.copy()
    other.category[:, :30] = 2
    counted = stale.count(other.category)
    document.set_prediction(other, metrics=counted)
    assert document.confusion is not counted.confusion
    assert (document.confusion, document.human_corrections) == _recount(document)
    fresh = document.labels_snapshot()
    wrong_classes = dataclasses.replace(fresh.count(other.category), class_ids=(0, 1))
    document.set_prediction(other, metrics=wrong_classes)
    assert document.confusion is not wrong_classes.confusion
    assert (document.confusion, document.human_corrections) == _recount(document)


def test_views_are_told_which_step_a_stroke_became_and_when_a_replay_runs() -> None:
    """``stroke_ended`` gives the step's serial (None: no step, or one too big to keep);
    ``replaying`` comes before an undo or redo writes a pixel, ``replayed`` after its last part."""
    document = _document()
    ended: list[int | None] = []
    document.stroke_ended.connect(ended.append)
    with document.stroke():
        document.edit(lambda labels, rec: brush_stroke(labels, [(5, 5), (30, 20)], 3, (2, 7), recorder=rec))
    assert ended == [document.history.undo_serial] and ended[0] is not None
    with document.stroke():
        pass  # changed nothing: no step
    assert ended[-1] is None
    first = ended[0]
    painted = document.labels.copy()
    events: list[object] = []
    document.replaying.connect(lambda replay: events.append((replay, document.labels.copy())))
    document.replayed.connect(lambda: events.append("replayed"))
    for _ in document.undo_work():
        pass
    (replay, labels_then), last = events
    assert (replay.step, replay.forward, last) == (first, False, "replayed")
    assert np.array_equal(labels_then.category, painted.category)  # announced before any write-back
    assert np.array_equal(labels_then.instance, painted.instance)
    assert not replay.box.is_empty
    events.clear()
    for _ in document.redo_work():
        pass
    assert events[0][0].step == first and events[0][0].forward and events[-1] == "replayed"
    events.clear()
    document.history.max_bytes = 1  # the next step cannot be kept
    with document.stroke():
        document.edit(lambda labels, rec: brush_stroke(labels, [(50, 40)], 3, (1, 9), recorder=rec))
    assert ended[-1] is None and not document.history.can_undo
    assert list(document.undo_work()) == [] and events == []  # nothing to undo: nothing announced


def test_every_step_has_its_own_serial() -> None:
    document = _document()
    serials = []
    for x in range(3):
        with document.stroke():
            document.edit(
                lambda labels, rec, x=x: brush_stroke(labels, [(5 + 20 * x, 50)], 2, (2, 3), recorder=rec)
            )
        serials.append(document.history.undo_serial)
    assert len(set(serials)) == 3
    assert document.history.next_replay(forward=True) is None
    assert document.history.next_replay(forward=False).step == serials[-1]
