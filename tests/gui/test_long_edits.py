"""Long edits on an image of several bands: accepting a prediction and a whole-image fill are
written band by band with the event loop served between bands, every repaint and IoU update
covers one band only, and the result equals the one-shot edit; their undo/redo write the step
back at once (its metrics delta is known: nothing is recounted), one repaint of its box (no
timing asserted: speed lives in ``segstudio bench gui``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import (
    DOG,
    PALETTE,
    PERSON,
    ground_truth,
    prediction,
    press_key,
    scene_image,
    settled,
    view_point,
    write_png,
)
from PySide6.QtCore import Qt, QTimer

from segstudio.core.box import Box
from segstudio.core.edits import Protect, copy_prediction, flood_fill
from segstudio.core.label_document import REPLAY_PIXELS, LabelDocument
from segstudio.core.labels import LabelMap
from segstudio.core.metrics import ConfusionMatrix
from segstudio.gui.canvas.overlay import disagreement_mask, display_lut, outline_mask
from segstudio.gui.document.document import BAND_PIXELS, Document
from segstudio.gui.tools.tools import paint_mask
from segstudio.io.project import Project

HEIGHT, WIDTH = 640, 960  # 614,400 pixels: three bands
SHIFT, CTRL = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def big_root(tmp_path: Path) -> Path:
    """One large image: unlabelled but for a cat on the right, with a prediction."""
    root = tmp_path / "big"
    project = Project.create(root, PALETTE, name="big")
    (root / "images").mkdir()
    entry = project.add_image(write_png(root / "images" / "big.png", scene_image(HEIGHT, WIDTH)))
    truth = ground_truth(HEIGHT, WIDTH)
    truth.category[:, : WIDTH // 2] = 0xFFFF  # the left half still to label
    project.save_labels(entry.id, LabelMap.from_arrays(truth.category, truth.instance, truth.provenance))
    project.save_prediction(entry.id, prediction(HEIGHT, WIDTH))
    return root


class BoxLog:
    """The boxes a document announces (each one repainted and counted into IoU on its own)."""

    def __init__(self, window) -> None:
        self.boxes: list[Box] = []
        window.document.changed.connect(self.boxes.append)

    def take(self) -> list[Box]:
        boxes = list(self.boxes)
        self.boxes.clear()
        return boxes


def _served_midway(window) -> list[bool]:
    """Arms a zero timer: it records whether the document was still busy when the loop ran it."""
    seen: list[bool] = []
    QTimer.singleShot(0, lambda: seen.append(window.document.busy))
    return seen


def _consistent(window) -> None:
    """IoU and the ground-truth overlay equal a whole-image recount after band-by-band updates."""
    document = window.document
    full = ConfusionMatrix.from_maps(document.labels.category, document.prediction.category, PALETTE.ids)
    assert document.confusion == full
    overlay = window.canvas.layers["ground truth"]._index
    assert np.array_equal(overlay, display_lut(PALETTE)[document.labels.category])
    whole = Box.full(document.shape)  # every overlay, one-valued boxes taking their short cut
    disagreement = disagreement_mask(document.labels.category, document.prediction.category, whole)
    assert np.array_equal(window.canvas.layers["disagreement"]._index, disagreement)
    outlines = outline_mask(document.labels.instance, whole)
    assert np.array_equal(window.canvas.layers["instance outlines"]._index, outlines)


def _banded(boxes: list[Box]) -> None:
    assert len(boxes) >= 2 and all(box.area <= BAND_PIXELS for box in boxes)


def test_accepting_a_large_prediction_goes_band_by_band_and_undoes_so(qtbot, make_window, big_root):
    window = make_window(big_root)
    document, log = window.document, BoxLog(window)
    before = document.labels.copy()
    expected = before.copy()
    copy_prediction(expected, document.prediction, Box.full(before.shape), instance_offset=1)

    press_key(qtbot, window, Qt.Key.Key_A, SHIFT)
    seen = _served_midway(window)
    assert document.busy  # the call returned after its first band
    settled(qtbot, window)
    assert seen == [True]  # the event loop ran between bands
    assert np.array_equal(document.labels.category, expected.category)
    assert np.array_equal(document.labels.instance, expected.instance)
    assert np.array_equal(document.labels.provenance, expected.provenance)
    _banded(log.take())
    _consistent(window)
    assert len(document.history) == 1

    press_key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert not document.busy  # undo is written back in the call, its box repainted once
    assert len(log.take()) == 1
    assert np.array_equal(document.labels.category, before.category)
    assert np.array_equal(document.labels.provenance, before.provenance)
    _consistent(window)

    press_key(qtbot, window, Qt.Key.Key_Z, CTRL | SHIFT)
    assert not document.busy and len(log.take()) == 1
    assert np.array_equal(document.labels.category, expected.category)
    _consistent(window)


def test_accepting_again_says_there_is_nothing_to_accept(qtbot, make_window, big_root):
    window = make_window(big_root)
    press_key(qtbot, window, Qt.Key.Key_A, SHIFT)
    settled(qtbot, window)
    press_key(qtbot, window, Qt.Key.Key_A, SHIFT)
    settled(qtbot, window)
    assert window.statusBar().currentMessage().startswith("Nothing to accept")


def test_a_new_stroke_during_long_work_waits_for_it_and_is_its_own_step(qtbot, make_window, big_root):
    window = make_window(big_root)
    document = window.document
    press_key(qtbot, window, Qt.Key.Key_A, SHIFT)
    assert document.busy
    window.toolbox.set_label(PERSON)
    window.toolbox.press((5.5, 5.5))  # settles the accept first
    window.toolbox.release((5.5, 5.5))
    assert not document.busy and len(document.history) == 2
    person = int(document.labels.instance[5, 5])
    assert person > int(document.prediction.instance.max()) + 1  # no id of the accepted objects
    window.undo()
    window.undo()
    settled(qtbot, window)
    assert not document.history.can_undo


def test_a_whole_image_fill_is_found_on_the_worker_and_written_in_bands(qtbot, make_window, big_root):
    window = make_window(big_root)
    document, log = window.document, BoxLog(window)
    before = document.labels.copy()
    window.toolbox.set_tool("label fill")
    window.toolbox.set_label(DOG)
    with qtbot.waitSignal(window.worker.started, check_params_cb=lambda _, title: title == "Label fill"):
        window.toolbox.press((10.5, 10.5))
        assert document.labels.category[10, 10] == before.category[10, 10]  # nothing written yet
    settled(qtbot, window)
    expected = before.copy()
    flood_fill(expected, (10.5, 10.5), (DOG, before.next_instance()))
    assert np.array_equal(document.labels.category, expected.category)
    assert np.array_equal(document.labels.instance, expected.instance)
    _banded(log.take())
    _consistent(window)
    window.undo()
    assert not document.busy and len(log.take()) == 1  # written back at once
    assert np.array_equal(document.labels.category, before.category)
    _consistent(window)


def test_a_worker_result_arriving_mid_stroke_is_written_after_the_stroke(qtbot, make_window, project_root):
    window = make_window(project_root)
    document = window.document
    viewport = window.canvas.viewport()
    window.toolbox.set_label(PERSON)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=view_point(window, 5, 5))  # a drag begins
    assert document.in_stroke
    region = Box(40, 10, 60, 30)
    paint_mask(document, region, np.ones((20, 20), bool), (DOG, 0), Protect.NONE, "Box to mask")
    assert not (document.labels.category[40:60, 10:30] == DOG).any()  # not inside the user's stroke
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=view_point(window, 8, 5))
    qtbot.waitUntil(lambda: (document.labels.category[40:60, 10:30] == DOG).all())
    assert len(document.history) == 2  # the stroke and the result, each its own undo step


def _large_document(turn_s: float) -> tuple[Document, LabelMap]:
    """A 3 MP document (more than one undo group) whose whole-image accept is done; returns it and
    the labels before the accept."""
    height, width = 1500, 2000
    truth = LabelMap.empty(height, width)
    model = LabelDocument(
        "large", np.zeros((height, width, 3), np.uint8), truth, PALETTE, prediction(height, width)
    )
    document = Document(model)
    document.replay_turn_s = turn_s
    before = document.labels.copy()
    document.accept_prediction()
    document.settle()
    assert document.labels.category.size > REPLAY_PIXELS
    return document, before


@pytest.mark.parametrize("turn_s", [0.0, math.inf])
def test_undo_writes_its_groups_back_to_back_within_a_turn(qtbot, turn_s: float) -> None:
    """A turn of 0 s writes a group per event-loop turn; an endless one the whole step in the call.
    Either way the labels and metrics come back exactly."""
    document, before = _large_document(turn_s)
    accepted = document.labels.copy()
    boxes: list[Box] = []
    document.changed.connect(boxes.append)
    document.undo()
    assert document.busy == (turn_s == 0.0)
    if turn_s == 0.0:
        assert len(boxes) == 1  # one group, then the event loop
    qtbot.waitUntil(lambda: not document.busy)
    assert len(boxes) >= 2
    assert np.array_equal(document.labels.category, before.category)
    assert np.array_equal(document.labels.instance, before.instance)
    assert document.confusion == ConfusionMatrix.from_maps(
        before.category, document.prediction.category, PALETTE.ids
    )
    document.redo()
    qtbot.waitUntil(lambda: not document.busy)
    assert np.array_equal(document.labels.category, accepted.category)
    assert np.array_equal(document.labels.provenance, accepted.provenance)
