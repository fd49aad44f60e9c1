"""The tools driven with real mouse and key events on the canvas, checked against core.edits."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import (
    BACKGROUND,
    CAT,
    DOG,
    PALETTE,
    PERSON,
    click,
    drag,
    press_key,
    settled,
    view_point,
    zoomed,
)
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from segstudio.core.edits import Protect, brush_stroke, erase_stroke, fill_polygon, flood_fill
from segstudio.core.labels import VOID, Provenance


def test_brush_drag_paints_exactly_the_stroke_and_undo_redo_restore_it(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    window.toolbox.set_label(PERSON)
    window.toolbox.set_radius(3)
    before = window.labels.copy()
    used = drag(qtbot, window, [(10.3, 10.2), (30.7, 14.1), (52.2, 40.9), (53, 41)])

    expected = before.copy()
    person_instance = window.toolbox.settings.instance
    assert person_instance == before.next_instance()  # a thing class takes a fresh instance
    brush_stroke(expected, used, 3, (PERSON, person_instance))
    changed = window.labels.category != before.category
    assert changed.sum() > 100
    assert np.array_equal(window.labels.category, expected.category)
    assert np.array_equal(window.labels.instance, expected.instance)
    assert np.array_equal(window.labels.provenance, expected.provenance)
    assert window.document.dirty and window.windowTitle().startswith("scene*")

    press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.labels.category, before.category)
    assert np.array_equal(window.labels.instance, before.instance)
    overlay = window.canvas.layers["ground truth"]._index
    assert np.array_equal(overlay, np.take(_display_positions(), before.category))  # repainted too
    press_key(
        qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert np.array_equal(window.labels.category, expected.category)
    assert len(window.document.history) == 1  # the whole drag was one undo step


def test_brush_overlay_repaints_the_stroke(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(2)
    drag(qtbot, window, [(5, 5), (20, 5)])
    layer = window.canvas.layers["ground truth"]
    position = [c.id for c in PALETTE].index(DOG)
    assert layer._index[5, 12] == position
    assert (layer._index == np.take(_display_positions(), window.labels.category)).all()


def _display_positions() -> np.ndarray:
    lut = np.full(VOID + 1, 255, np.uint8)
    for position, class_def in enumerate(PALETTE):
        lut[class_def.id] = position
    return lut


def test_number_keys_pick_classes_in_palette_order(qtbot, make_window, project_root):
    window = make_window(project_root)
    for key, position in ((Qt.Key.Key_3, 2), (Qt.Key.Key_9, 8), (Qt.Key.Key_0, 9), (Qt.Key.Key_1, 0)):
        press_key(qtbot, window, key)
        assert window.toolbox.settings.category == PALETTE.classes[position].id
        assert window.palette_panel.current_class() == PALETTE.classes[position].id
    assert "9" in window.commands.classes[8].shortcut().toString()
    assert window.commands.classes[8].text() == PALETTE.classes[8].name


def test_brackets_resize_the_brush_and_the_cursor_circle_follows_the_mouse(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    window.toolbox.set_radius(8)
    press_key(qtbot, window, Qt.Key.Key_BracketRight)
    assert window.toolbox.settings.radius == 10
    press_key(qtbot, window, Qt.Key.Key_BracketLeft)
    press_key(qtbot, window, Qt.Key.Key_BracketLeft)
    assert window.toolbox.settings.radius < 8
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 40.5, 30.5))
    circle = window.canvas.preview._circle
    assert circle.isVisible()
    assert abs(circle.rect().center().x() - 40.5) < 1e-6 and abs(circle.rect().center().y() - 30.5) < 1e-6
    width = circle.rect().width()
    press_key(qtbot, window, Qt.Key.Key_BracketRight)
    assert circle.rect().width() == pytest.approx(width + 2 * (window.toolbox.settings.radius - 6.4))


def test_eraser_clears_to_unlabelled(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_E)
    assert window.toolbox.active.name == "eraser"
    window.toolbox.set_radius(4)
    window.toolbox.set_label(PERSON)  # a thing class
    before = window.labels.copy()
    used = drag(qtbot, window, [(20, 20), (80, 30)])
    expected = before.copy()
    erase_stroke(expected, used, 4)
    assert np.array_equal(window.labels.category, expected.category)
    assert (window.labels.category[30, 80 - 4 : 80 + 5] == VOID).all()
    assert window.toolbox.settings.instance == 0  # erasing takes no instance id


def test_polygon_clicks_then_double_click_fill_it(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_P)
    window.toolbox.set_label(BACKGROUND)
    before = window.labels.copy()
    corners = [click(qtbot, window, x, y) for x, y in ((70, 10), (100, 12), (95, 40))]
    last = view_point(window, 72, 35)
    qtbot.mouseDClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=last)
    corners.append(tuple(window.canvas.mapToScene(last).toTuple()))
    expected = before.copy()
    fill_polygon(expected, corners, (BACKGROUND, 0))
    assert np.array_equal(window.labels.category, expected.category)
    assert (window.labels.category != before.category).sum() > 200
    assert len(window.document.history) == 1


def test_polygon_enter_closes_and_escape_cancels(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    window.toolbox.set_tool("polygon")
    window.toolbox.set_label(DOG)
    before = window.labels.copy()
    for x, y in ((5, 5), (30, 5), (30, 30)):
        click(qtbot, window, x, y)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert np.array_equal(window.labels.category, before.category)
    assert not window.canvas.preview._path.isVisible()

    corners = [click(qtbot, window, x, y) for x, y in ((5, 5), (30, 5), (30, 30))]
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    expected = before.copy()
    fill_polygon(expected, corners, (DOG, before.next_instance()))
    assert np.array_equal(window.labels.category, expected.category)
    assert np.array_equal(window.labels.instance, expected.instance)


def test_flood_fill_click(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_G)
    window.toolbox.set_label(DOG)
    before = window.labels.copy()
    with qtbot.waitSignal(window.worker.started, check_params_cb=lambda _, title: title == "Label fill"):
        seed = click(qtbot, window, 10, 10)  # the region is found on the worker thread
    settled(qtbot, window)
    expected = before.copy()
    flood_fill(expected, seed, (DOG, before.next_instance()))
    assert np.array_equal(window.labels.category, expected.category)
    assert np.array_equal(window.labels.instance, expected.instance)
    assert (window.labels.category[:80, :60] == DOG).all()  # the whole background region
    assert (window.labels.category[:, 60:] == before.category[:, 60:]).all()
    window.undo()
    assert np.array_equal(window.labels.category, before.category)


def test_only_unlabelled_lock_protects_labelled_pixels(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_L)
    assert window.toolbox.settings.protect is Protect.LABELLED
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(6)
    before = window.labels.copy()
    used = drag(qtbot, window, [(30, 70), (30, 86)])  # from the labelled half into the void strip
    expected = before.copy()
    brush_stroke(expected, used, 6, (DOG, before.next_instance()), protect=Protect.LABELLED)
    assert np.array_equal(window.labels.category, expected.category)
    changed = window.labels.category != before.category
    assert changed.any() and (before.category[changed] == VOID).all()


def test_grabcut_box_labels_the_object_inside(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_R)
    window.toolbox.set_label(DOG)
    before = window.labels.copy()
    drag(qtbot, window, [(35, 17), (60, 40), (85, 73)])  # around the bright disc
    qtbot.waitUntil(lambda: not window.toolbox.jobs.pending(), timeout=10000)  # GrabCut runs on the worker
    changed = window.labels.category != before.category
    assert (window.labels.category[45, 60] == DOG) and changed.sum() > 300
    rows, cols = np.nonzero(changed)
    assert rows.min() >= 17 and rows.max() <= 73 and cols.min() >= 35 and cols.max() <= 85
    window.undo()
    assert np.array_equal(window.labels.category, before.category)


def test_middle_drag_and_space_drag_pan_without_painting(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root), 8)
    before = window.labels.copy()
    viewport = window.canvas.viewport()
    scroll = window.canvas.horizontalScrollBar()
    start = scroll.value()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=view_point(window, 60, 45))
    qtbot.mouseMove(viewport, view_point(window, 50, 45))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=view_point(window, 50, 45))
    assert scroll.value() > start
    middle = scroll.value()
    qtbot.keyPress(window.canvas, Qt.Key.Key_Space)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=view_point(window, 60, 45))
    qtbot.mouseMove(viewport, view_point(window, 65, 45))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=view_point(window, 65, 45))
    qtbot.keyRelease(window.canvas, Qt.Key.Key_Space)
    assert scroll.value() < middle
    assert np.array_equal(window.labels.category, before.category)


def test_wheel_zooms_around_the_cursor(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root), 12)  # larger than the view, so it can scroll
    canvas = window.canvas
    anchor = view_point(window, 52, 40)
    before = canvas.mapToScene(anchor)
    scale = canvas.transform().m11()
    event = QWheelEvent(
        QPointF(anchor),
        QPointF(canvas.viewport().mapToGlobal(anchor)),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.transform().m11() == pytest.approx(scale * 1.25)
    after = canvas.mapToScene(anchor)
    assert abs(after.x() - before.x()) < 1 and abs(after.y() - before.y()) < 1  # within a screen pixel


def test_accept_prediction_keeps_human_pixels_unless_replace(qtbot, make_window, project_root):
    window = make_window(project_root)
    document = window.document
    prediction = document.prediction
    # a human painted over the top-left corner, where the model says dog
    window.toolbox.set_label(CAT)
    window.toolbox.set_radius(3)
    drag(qtbot, window, [(5, 5), (10, 5)])
    human = document.labels.human().copy()
    painted = document.labels.category.copy()
    press_key(qtbot, window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    accepted = document.labels.copy()
    assert (accepted.category[human] == painted[human]).all()  # human pixels kept
    void = painted == VOID
    assert np.array_equal(accepted.category[void], prediction.category[void])  # the rest filled in
    assert (accepted.provenance[void] == Provenance.MODEL).all()

    window.commands.replace_human.setChecked(True)
    window.toolbox.set_label(DOG)
    press_key(qtbot, window, Qt.Key.Key_A)  # only the current class, over human pixels too
    dog = prediction.category == DOG
    assert dog.any() and (document.labels.category[dog] == DOG).all()
    assert np.array_equal(document.labels.category[~dog], accepted.category[~dog])
    window.undo()
    assert np.array_equal(document.labels.category, accepted.category)
    window.undo()
    assert np.array_equal(document.labels.category, painted)


def test_delete_removes_the_object_under_the_cursor_in_one_undo_step(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    before = window.labels.category.copy()
    cat = (window.labels.category == CAT) & (window.labels.instance == 1)
    assert cat.any()
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 70.5, 30.5))  # over the cat
    assert "instance 1" in window.cursor_label.text()
    press_key(qtbot, window, Qt.Key.Key_Delete)
    assert (window.labels.category[cat] == 0xFFFF).all() and window.document.dirty
    assert np.array_equal(window.labels.category[~cat], before[~cat])  # nothing else
    press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.labels.category, before)
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 30.5, 84.5))  # the unlabelled strip
    assert not window.delete_object_under_cursor()
    assert "Nothing labelled" in window.statusBar().currentMessage()


def test_the_status_bar_shows_the_brush_radius_rounded(qtbot, make_window, project_root):
    window = make_window(project_root)
    window.toolbox.set_radius(8)
    for _ in range(4):
        press_key(qtbot, window, Qt.Key.Key_BracketRight)
    assert window.toolbox.settings.radius == pytest.approx(19.53125)
    assert "r 19.5" in window.tool_label.text().split("  ")


def test_actions_that_change_nothing_say_why_in_the_status_bar(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.statusBar().currentMessage() == "Nothing to undo"
    press_key(qtbot, window, Qt.Key.Key_G)
    window.toolbox.set_label(BACKGROUND)
    click(qtbot, window, 10, 10)  # the background region is background already
    settled(qtbot, window)
    assert window.statusBar().currentMessage().startswith("Nothing filled")
