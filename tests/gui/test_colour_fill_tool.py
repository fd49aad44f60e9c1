"""The colour fill (magic wand) beside the label fill (issue 16), driven by real keys and clicks:
it follows the photo's colours within a tolerance, its region is found on the worker and large
regions are written band by band, as the label fill's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gui_helpers import DOG, PALETTE, PERSON, click, press_key, scene_image, settled, write_png, zoomed
from PySide6.QtCore import Qt

from segstudio.core.box import Box
from segstudio.core.colour_fill import DEFAULT_TOLERANCE, similar_colour_region
from segstudio.gui.document.document import BAND_PIXELS
from segstudio.io.project import Project


def _expected_mask(rgb: np.ndarray, seed, tolerance: int) -> np.ndarray:
    box, region = similar_colour_region(rgb, seed, tolerance)
    mask = np.zeros(rgb.shape[:2], bool)
    mask[box.slices] = region
    return mask


def test_the_colour_fill_labels_the_disc_the_label_fill_would_not(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_W)
    assert window.toolbox.active.name == "colour fill"
    assert f"tolerance {DEFAULT_TOLERANCE}" in window.tool_label.text()
    window.toolbox.set_label(DOG)
    before = window.labels.copy()
    with qtbot.waitSignal(window.worker.started, check_params_cb=lambda _, title: title == "Colour fill"):
        seed = click(qtbot, window, 60, 45)  # the middle of the bright disc, half background, half cat
    settled(qtbot, window)
    disc = _expected_mask(window.document.rgb, seed, DEFAULT_TOLERANCE)
    assert 500 < disc.sum() < 2000  # the disc, not the photo: its dark surroundings are far in colour
    assert (window.labels.category[disc] == DOG).all()
    assert np.array_equal(window.labels.category[~disc], before.category[~disc])
    instances = np.unique(window.labels.instance[disc])
    assert len(instances) == 1 and instances[0] == before.next_instance()  # one new object
    window.undo()
    assert np.array_equal(window.labels.category, before.category)


def test_brackets_change_the_tolerance_and_a_wider_one_takes_more(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_W)
    press_key(qtbot, window, Qt.Key.Key_BracketRight)
    press_key(qtbot, window, Qt.Key.Key_BracketRight)
    assert window.toolbox.settings.tolerance == DEFAULT_TOLERANCE + 8
    assert f"tolerance {DEFAULT_TOLERANCE + 8}" in window.tool_label.text()
    radius = window.toolbox.settings.radius
    for _ in range(30):
        press_key(qtbot, window, Qt.Key.Key_BracketLeft)
    assert window.toolbox.settings.tolerance == 0 and window.toolbox.settings.radius == radius
    window.toolbox.set_label(PERSON)
    seed = click(qtbot, window, 10, 10)  # tolerance 0 on a gradient: few pixels
    settled(qtbot, window)
    exact = _expected_mask(window.document.rgb, seed, 0)
    assert (window.labels.category == PERSON).sum() == exact.sum() < 50


def test_both_fills_are_named_for_what_they_follow(qtbot, make_window, project_root):
    window = make_window(project_root)
    label, colour = window.commands.tools["label fill"], window.commands.tools["colour fill"]
    assert label.text().replace("&", "") == "Label fill" and "(G)" in label.toolTip()
    assert "labels, not colours" in label.toolTip()
    assert colour.text().replace("&", "") == "Colour fill (magic wand)" and "(W)" in colour.toolTip()
    assert "tolerance" in colour.toolTip()


def test_a_large_colour_region_is_found_on_the_worker_and_written_in_bands(
    qtbot, make_window, tmp_path: Path
):
    height, width = 640, 960  # three bands
    root = tmp_path / "big"
    project = Project.create(root, PALETTE, name="big")
    (root / "images").mkdir()
    rgb = np.full((height, width, 3), 120, np.uint8)  # one flat colour: the whole photo is one region
    rgb[:, width // 2 :] = scene_image(height, width - width // 2)
    project.add_image(write_png(root / "images" / "big.png", rgb))
    project.close()
    window = make_window(root)
    document = window.document
    boxes: list[Box] = []
    document.changed.connect(boxes.append)
    window.toolbox.set_tool("colour fill")
    window.toolbox.set_label(DOG)
    before = document.labels.copy()
    with qtbot.waitSignal(window.worker.started, check_params_cb=lambda _, title: title == "Colour fill"):
        window.toolbox.press((10.5, 10.5))
        assert np.array_equal(document.labels.category, before.category)  # nothing written on the click
    settled(qtbot, window)
    assert len(boxes) >= 2 and all(box.area <= BAND_PIXELS for box in boxes)
    assert (document.labels.category[:, : width // 2] == DOG).all()
    assert not (document.labels.category[:, width // 2 :] == DOG).all()  # the photo's other half differs
