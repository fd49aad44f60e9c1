"""One object per object: which instance a stroke, polygon, fill or box of a thing class writes,
driven with real mouse and key events (``core.instance_choice`` holds the rules)."""

from __future__ import annotations

import json

import numpy as np
from gui_helpers import BACKGROUND, CAT, DOG, PERSON, click, drag, press_key, settled, view_point, zoomed
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from segstudio.core.instance_choice import InstanceMode
from segstudio.gui.exchange.export_dialog import ExportDialog
from segstudio.io.export import ExportFormat

CTRL = Qt.KeyboardModifier.ControlModifier
WAIT_MS = 20000


def _brush(qtbot, make_window, project_root, category=PERSON, radius=2):
    window = zoomed(make_window(project_root))
    window.toolbox.set_label(category)
    window.toolbox.set_radius(radius)
    return window


def test_strokes_apart_are_separate_objects_and_a_touching_stroke_joins(qtbot, make_window, project_root):
    window = _brush(qtbot, make_window, project_root)
    labels = window.labels
    drag(qtbot, window, [(10, 10), (20, 10)])
    drag(qtbot, window, [(10, 30), (20, 30)])
    first, second = int(labels.instance[10, 15]), int(labels.instance[30, 15])
    assert first and second and first != second  # two objects, as in labelme
    assert first != 1 and second != 1  # neither took the cat's id

    drag(qtbot, window, [(15, 10), (15, 22)])  # starts on the first, ends near the second: joins the first
    assert int(labels.instance[16, 15]) == first
    assert int(labels.instance[30, 15]) == second  # never merged
    drag(qtbot, window, [(40, 30), (23, 30)])  # starts on nothing, ends on the second: joins it
    assert (labels.instance[30, 27:41] == second).all()
    assert len(window.document.history) == 4  # each stroke one undo step, the join included
    window.undo()
    assert (labels.instance[30, 27:41] == 0).all()
    assert set(np.unique(labels.instance[labels.category == PERSON]).tolist()) == {first, second}


def test_n_makes_a_touching_stroke_a_new_object_once(qtbot, make_window, project_root):
    window = _brush(qtbot, make_window, project_root)
    labels = window.labels
    drag(qtbot, window, [(10, 10), (20, 10)])
    first = int(labels.instance[10, 15])
    press_key(qtbot, window, Qt.Key.Key_N)
    assert window.toolbox.settings.mode is InstanceMode.NEW
    assert "(new instance)" in window.tool_label.text()
    drag(qtbot, window, [(20, 12), (30, 12)])  # overlaps the first
    second = int(labels.instance[12, 28])
    assert second != first and int(labels.instance[10, 12]) == first
    assert window.toolbox.settings.mode is InstanceMode.AUTO  # used up by one object
    drag(qtbot, window, [(30, 14), (40, 14)])  # touches the second again: joins it
    assert int(labels.instance[14, 38]) == second


def test_ctrl_paints_into_the_object_under_the_cursor_or_the_current_one(qtbot, make_window, project_root):
    window = _brush(qtbot, make_window, project_root)
    labels = window.labels
    drag(qtbot, window, [(10, 10), (20, 10)])
    first = int(labels.instance[10, 15])
    drag(qtbot, window, [(10, 40), (20, 40)])
    second = int(labels.instance[40, 15])
    drag(qtbot, window, [(15, 10), (15, 70)], modifier=CTRL)  # begins on the first, crosses the second
    assert (labels.instance[13:70, 15] == first).all()
    drag(qtbot, window, [(40, 60), (50, 60)], modifier=CTRL)  # nothing under it: the current object
    assert int(labels.instance[60, 45]) == first
    assert int(labels.instance[40, 10]) == second  # the rest of the second object stays itself


def test_touching_two_objects_joins_the_one_touched_most(qtbot, make_window, project_root):
    window = _brush(qtbot, make_window, project_root)
    labels = window.labels
    drag(qtbot, window, [(10, 10), (40, 10)])  # long
    drag(qtbot, window, [(10, 20), (14, 20)])  # short
    long, short = int(labels.instance[10, 30]), int(labels.instance[20, 12])
    drag(qtbot, window, [(10, 15), (40, 15)])  # borders both, the long one along its length
    assert int(labels.instance[15, 30]) == long
    assert int(labels.instance[20, 12]) == short


def test_polygons_are_new_objects_even_touching_and_ctrl_joins(qtbot, make_window, project_root):
    window = _brush(qtbot, make_window, project_root, radius=3)
    labels = window.labels
    drag(qtbot, window, [(10, 10), (30, 10)])
    brushed = int(labels.instance[10, 20])
    press_key(qtbot, window, Qt.Key.Key_P)
    for x, y in ((10, 12), (30, 12), (30, 30)):
        click(qtbot, window, x, y)
    qtbot.mouseDClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window, 10, 30))
    drawn = int(labels.instance[25, 20])
    assert drawn not in (0, brushed) and int(labels.instance[8, 20]) == brushed
    for x, y in ((40, 50), (55, 50), (55, 65)):
        click(qtbot, window, x, y, CTRL if (x, y) == (40, 50) else Qt.KeyboardModifier.NoModifier)
    press_key(qtbot, window, Qt.Key.Key_Return)
    assert int(labels.instance[60, 50]) == drawn  # Ctrl at the first corner: the current object


def test_fill_joins_the_object_it_borders_else_is_new(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    labels = window.labels
    press_key(qtbot, window, Qt.Key.Key_G)
    window.toolbox.set_label(CAT)
    click(qtbot, window, 100, 85)  # the unlabelled strip borders the cat (instance 1)
    settled(qtbot, window)
    assert (labels.category[80:, :] == CAT).all() and (labels.instance[80:, :] == 1).all()
    window.undo()
    window.toolbox.set_label(DOG)
    click(qtbot, window, 100, 85)
    settled(qtbot, window)
    dog = int(labels.instance[85, 100])
    assert dog not in (0, 1) and (labels.instance[80:, :] == dog).all()
    window.toolbox.set_label(BACKGROUND)  # stuff: no instance
    click(qtbot, window, 100, 85)
    settled(qtbot, window)
    assert (labels.instance[80:, :] == 0).all() and (labels.category[80:, :] == BACKGROUND).all()


def test_picked_object_is_continued_until_another_class(qtbot, make_window, project_root):
    window = _brush(qtbot, make_window, project_root)
    labels = window.labels
    drag(qtbot, window, [(10, 10), (20, 10)])
    first = int(labels.instance[10, 15])
    drag(qtbot, window, [(10, 40), (20, 40)])
    press_key(qtbot, window, Qt.Key.Key_I)
    click(qtbot, window, 15, 10)
    assert window.toolbox.settings.label == (PERSON, first)
    assert f"#{first} (picked)" in window.tool_label.text()
    window.toolbox.set_tool("brush")
    drag(qtbot, window, [(40, 60), (50, 60)])
    assert int(labels.instance[60, 45]) == first
    window.toolbox.set_label(PERSON)  # choosing the class again: back to one object per object
    drag(qtbot, window, [(40, 70), (50, 70)])
    assert int(labels.instance[70, 45]) not in (0, first)


def test_a_box_is_a_new_object_and_strokes_meanwhile_take_other_ids(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_R)
    window.toolbox.set_label(DOG)
    drag(qtbot, window, [(35, 17), (60, 40), (85, 73)])
    window.toolbox.set_tool("brush")
    window.toolbox.set_radius(2)
    drag(qtbot, window, [(5, 5), (15, 5)])  # made while GrabCut may still run
    qtbot.waitUntil(lambda: not window.toolbox.jobs.pending(), timeout=WAIT_MS)
    labels = window.labels
    boxed, brushed = int(labels.instance[45, 60]), int(labels.instance[5, 10])
    assert labels.category[45, 60] == DOG and boxed not in (0, 1, brushed) and brushed


def test_brushed_and_outlined_people_export_as_two_coco_panoptic_segments(
    qtbot, make_window, project_root, tmp_path
):
    window = _brush(qtbot, make_window, project_root, radius=3)
    drag(qtbot, window, [(8, 10), (25, 10), (25, 20)])
    press_key(qtbot, window, Qt.Key.Key_P)
    for x, y in ((10, 40), (40, 40), (40, 70)):
        click(qtbot, window, x, y)
    qtbot.mouseDClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window, 10, 70))

    out = tmp_path / "panoptic"
    action = next(a for a in window.shortcuts.actions.values() if a.text() == "&Export dataset…")
    action.trigger()
    dialog = window.findChild(ExportDialog)
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.COCO_PANOPTIC))
    dialog.out.setText(str(out))
    with qtbot.waitSignal(window.exchange.job.done, timeout=WAIT_MS):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    data = json.loads((out / "annotations" / "panoptic.json").read_text())
    scene = next(a for a in data["annotations"] if a["file_name"] == "scene.png")
    people = [s for s in scene["segments_info"] if s["category_id"] == PERSON]
    assert len(people) == 2 and people[0]["id"] != people[1]["id"]
    assert all(s["area"] > 50 for s in people)
