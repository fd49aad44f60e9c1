"""Opening images on the loader thread (issue 16, "no GUI-thread stall"): real windows, real key
presses, the real thread. These tests drive the waiting themselves (marker ``loading``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import (
    CAT,
    DOG,
    HEIGHT,
    PALETTE,
    WIDTH,
    drag,
    ground_truth,
    make_project,
    open_boxes,
    prediction,
    press_key,
    scene_image,
    write_png,
    zoomed,
)
from PySide6.QtCore import Qt

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.gui.main_window import MainWindow
from segstudio.io.project import Project
from segstudio.io.scribble_file import scribbles_target, write_scribbles

pytestmark = pytest.mark.loading
LOAD_MS = 30000
BIG = (1200, 1600)
"""Images large enough that reading one takes some milliseconds: loads overlap key presses."""


def arrived(qtbot, window: MainWindow, image_id: str) -> MainWindow:
    """Wait until ``image_id`` is the open document and nothing is being read."""
    qtbot.waitUntil(
        lambda: window.session.loading_id is None and window.image_name == image_id, timeout=LOAD_MS
    )
    return window


def big_project(root: Path, names: list[str]) -> Path:
    """A project of large images, each labelled with its own class so a mix-up shows."""
    project = Project.create(root, PALETTE, name="big")
    (root / "images").mkdir()
    for position, name in enumerate(names):
        rgb = scene_image(*BIG)
        rgb[: 10 * (position + 1)] = 255  # each photo differs too
        project.add_image(write_png(root / "images" / f"{name}.png", rgb), image_id=name)
        category = np.full(BIG, position + 1, np.uint16)
        project.save_labels(name, LabelMap.from_arrays(category, None, Provenance.HUMAN))
    return root


def test_an_image_opens_off_the_gui_thread_with_labels_and_prediction_exact(qtbot, make_window, project_root):
    window = make_window(project_root)
    assert window.session.loading_id == "scene" and window.document is None  # on its way, not yet here
    arrived(qtbot, window, "scene")
    truth, predicted = ground_truth(), prediction()
    assert np.array_equal(window.labels.category, truth.category)
    assert np.array_equal(window.labels.instance, truth.instance)
    assert np.array_equal(window.document.prediction.category, predicted.category)
    assert np.array_equal(window.document.rgb, scene_image())
    screen = window.document.screen  # what the canvas draws: the same photo, B, G, R, 255
    assert np.array_equal(screen[..., 2::-1], scene_image()) and (screen[..., 3] == 255).all()
    assert window.iou_panel.document is window.document and window.document.confusion is not None
    assert window.canvas.layers.keys() >= {"image", "ground truth", "prediction", "disagreement"}


def test_pressing_d_three_times_quickly_ends_on_the_third_image(qtbot, make_window, tmp_path):
    names = ["a", "b", "c", "d", "e"]
    window = arrived(qtbot, make_window(big_project(tmp_path / "big", names)), "a")
    shown: list[str] = []
    window.session.document_opened.connect(lambda document: shown.append(document.image_id))
    for _ in range(3):
        press_key(qtbot, window, Qt.Key.Key_D)
    assert window.session.loading_id == "d" and window.image_list.current_id() == "d"
    arrived(qtbot, window, "d")
    qtbot.wait(200)  # a dropped read that still arrives must not show
    assert shown == ["d"] and window.image_name == "d"
    assert (window.labels.category == names.index("d") + 1).all()


def test_a_corrupt_image_mid_navigation_says_so_and_the_window_stays_usable(qtbot, make_window, tmp_path):
    root = big_project(tmp_path / "big", ["a", "b", "c"])
    window = arrived(qtbot, make_window(root), "a")
    photo = root / "images" / "b.png"
    photo.write_bytes(photo.read_bytes()[:2000])  # its header reads, its pixels do not
    press_key(qtbot, window, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: window.session.loading_id is None, timeout=LOAD_MS)
    boxes = open_boxes(window)
    assert boxes and "b.png" in boxes[0].text()
    for box in boxes:
        box.close()
    assert window.image_name == "a" and window.image_list.current_id() == "a"  # back where it was
    before = window.labels.category.copy()
    window.toolbox.set_label(DOG)
    drag(qtbot, zoomed(window), [(20, 20), (60, 40)])  # editing works on the image shown
    assert (window.labels.category != before).any() and window.toolbox.document is window.document
    window.image_list.image_chosen.emit("c")
    arrived(qtbot, window, "c")
    assert (window.labels.category == 3).all()
    assert (Project.open(root).load_labels("a").category == DOG).any()  # saved on leaving


def test_edits_while_loading_reach_no_image_and_edits_go_to_the_image_shown(qtbot, make_window, project_root):
    window = arrived(qtbot, zoomed(make_window(project_root)), "scene")
    window.toolbox.set_label(DOG)
    drag(qtbot, window, [(70, 30), (100, 30)])  # over the cat
    press_key(qtbot, window, Qt.Key.Key_D)  # the edit is saved on leaving; "plain" is on its way
    assert window.session.loading_id == "plain"
    assert window.toolbox.document is None and window.document is None  # nothing to edit meanwhile
    assert "Loading plain" in window.statusBar().currentMessage()
    drag(qtbot, window, [(10, 10), (40, 10)])
    press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    arrived(qtbot, window, "plain")
    assert (window.labels.category == VOID).all() and not window.document.dirty
    saved = Project.open(project_root).load_labels("scene").category
    assert (saved[30, 70:100] == DOG).all() and (saved[:20, :50] != DOG).all()
    drag(qtbot, window, [(10, 10), (40, 10)])
    assert (window.labels.category[10, 10:40] == DOG).all()
    press_key(qtbot, window, Qt.Key.Key_D, Qt.KeyboardModifier.ShiftModifier)
    arrived(qtbot, window, "scene")
    assert (window.labels.category[30, 70:100] == DOG).all() and window.labels.category[10, 20] != DOG
    assert (Project.open(project_root).load_labels("plain").category[10, 10:40] == DOG).all()


def test_going_back_while_loading_takes_the_image_left_back_at_once(qtbot, make_window, tmp_path):
    window = arrived(qtbot, make_window(big_project(tmp_path / "big", ["a", "b"])), "a")
    left = window.document
    press_key(qtbot, window, Qt.Key.Key_D)
    press_key(qtbot, window, Qt.Key.Key_D, Qt.KeyboardModifier.ShiftModifier)
    assert window.document is left and window.session.loading_id is None
    assert window.toolbox.document is left and window.image_list.current_id() == "a"
    qtbot.wait(300)  # the read of "b" was dropped
    assert window.document is left


def test_the_next_image_is_read_ahead_and_opening_it_uses_that_read(qtbot, make_window, tmp_path):
    window = arrived(qtbot, make_window(big_project(tmp_path / "big", ["a", "b", "c"])), "a")
    loader = window.session.loader
    qtbot.waitUntil(lambda: loader.ready_image is not None, timeout=LOAD_MS)
    ahead = loader.ready_image
    assert ahead.image_id == "b"
    press_key(qtbot, window, Qt.Key.Key_D)
    arrived(qtbot, window, "b")
    assert window.document.model is ahead.model  # shown from the read ahead, not read again
    qtbot.waitUntil(lambda: loader.ready_image is not None, timeout=LOAD_MS)
    assert loader.ready_image.image_id == "c"  # one image ahead, never more


def test_a_read_ahead_image_whose_files_changed_is_read_again(qtbot, make_window, tmp_path):
    root = big_project(tmp_path / "big", ["a", "b"])
    window = arrived(qtbot, make_window(root), "a")
    loader = window.session.loader
    qtbot.waitUntil(lambda: loader.ready_image is not None, timeout=LOAD_MS)
    stale = loader.ready_image
    relabelled = np.full(BIG, CAT, np.uint16)
    Project.open(root).save_labels("b", LabelMap.from_arrays(relabelled, None, Provenance.HUMAN))
    press_key(qtbot, window, Qt.Key.Key_D)
    arrived(qtbot, window, "b")
    assert window.document.model is not stale.model
    assert (window.labels.category == CAT).all()


def test_a_project_whose_first_image_is_unreadable_opens_the_next(qtbot, make_window, tmp_path):
    root = make_project(tmp_path / "project")
    (root / "images" / "scene.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    window = arrived(qtbot, make_window(root), "plain")
    boxes = open_boxes(window)
    assert boxes and "scene.png" in boxes[0].text() and "Showing plain instead." in boxes[0].text()


def test_recovering_the_image_on_its_way_reads_it_from_its_journal(qtbot, make_window, project_root):
    project = Project.open(project_root)
    journaled = ground_truth()
    journaled.category[:5, :5] = DOG
    project.autosave("scene", journaled)
    window = make_window(project_root)
    assert window.session.loading_id == "scene"  # read from its saved labels, not yet here
    window.session.recover(["scene"])  # what answering "Recover" does
    arrived(qtbot, window, "scene")
    assert np.array_equal(window.labels.category, journaled.category) and window.document.dirty


def test_closing_or_opening_another_project_while_loading_shows_nothing_stale(qtbot, make_window, tmp_path):
    first = big_project(tmp_path / "first", ["a", "b"])
    other = make_project(tmp_path / "other")
    window = arrived(qtbot, make_window(first), "a")
    shown: list[str] = []
    window.session.document_opened.connect(lambda document: shown.append(document.image_id))
    press_key(qtbot, window, Qt.Key.Key_D)  # "b" on its way...
    window.open_path(other)  # ...and another project opened meanwhile
    arrived(qtbot, window, "scene")
    qtbot.wait(300)
    assert shown == ["scene"] and window.project.root == other.resolve()
    press_key(qtbot, window, Qt.Key.Key_D)  # "plain" on its way while the window closes
    window.close()  # waits for the running read to stop
    assert window.session.loader.idle
    qtbot.wait(300)
    assert window.document is None and shown == ["scene"]  # nothing arrived after the close


def test_scribbles_are_read_with_the_image_and_a_newer_file_wins(qtbot, make_window, project_root):
    project = Project.open(project_root)
    drawn = np.zeros((HEIGHT, WIDTH), np.uint8)
    drawn[5:15, 5:60] = CAT + 1  # the file's convention: class id + 1, 0 = none
    write_scribbles(scribbles_target(project, "plain"), drawn)
    window = arrived(qtbot, make_window(project_root), "scene")
    loader = window.session.loader
    qtbot.waitUntil(lambda: loader.ready_image is not None, timeout=LOAD_MS)
    read_ahead = loader.ready_image.model.scribbles.category
    assert (read_ahead[5:15, 5:60] == CAT).all()  # put into the map on the loader thread
    drawn[40:50, 5:60] = DOG + 1  # the file changes after it was read ahead
    write_scribbles(scribbles_target(project, "plain"), drawn)
    press_key(qtbot, window, Qt.Key.Key_D)
    arrived(qtbot, window, "plain")
    shown = window.document.scribbles.category
    assert (shown[5:15, 5:60] == CAT).all() and (shown[40:50, 5:60] == DOG).all()
    window.scribbles.tally.values()
    assert window.scribbles.tally.counts() == {CAT: 10 * 55, DOG: 10 * 55}
