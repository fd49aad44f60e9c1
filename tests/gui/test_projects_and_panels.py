"""What opening a path means, the sample project, and the classes, layers and images docks."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import CAT, DOG, PALETTE, PERSON, answer_modal, press_key, scene_image, write_png
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from segstudio.app import run
from segstudio.core.palette import ClassDef, builtin_palette
from segstudio.gui.canvas.layers import GROUND_TRUTH, IMAGE, OUTLINES
from segstudio.gui.document.projects import PROJECT_SUBFOLDER, SAMPLE_PROJECT, open_path, sample_project
from segstudio.io.project import INDEX_NAME, ImageState, Project, ProjectError
from segstudio.io.samples import samples


def _image_folder(folder: Path, names=("b.png", "a.jpg")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        write_png(folder / name, scene_image())
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_an_image_folder_becomes_a_hidden_project_that_reopens_and_picks_up_new_images(tmp_path):
    folder = _image_folder(tmp_path / "photos")
    opened = open_path(folder, tmp_path / "data")
    assert opened.project.root == (folder / PROJECT_SUBFOLDER).resolve()
    assert opened.project.image_ids() == ["a", "b"] and opened.problems == []
    write_png(folder / "c.png", scene_image())
    (folder / "d.png").write_bytes(b"broken")
    again = open_path(folder, tmp_path / "data")
    assert again.project.image_ids() == ["a", "b", "c"]
    assert len(again.problems) == 1 and "d.png" in again.problems[0]
    assert open_path(folder / PROJECT_SUBFOLDER, tmp_path / "data").project.root == again.project.root


def test_one_image_opens_its_folders_project_at_that_image(tmp_path):
    folder = _image_folder(tmp_path / "photos")
    opened = open_path(folder / "b.png", tmp_path / "data")
    assert opened.image_id == "b" and opened.project.image_ids() == ["b"]
    assert open_path(folder / "b.png", tmp_path / "data").image_id == "b"  # not added twice
    assert open_path(folder / "a.jpg", tmp_path / "data").image_id == "a"


def test_a_folder_where_no_project_can_be_made_gets_it_in_the_data_folder(tmp_path):
    folder = _image_folder(tmp_path / "photos")
    (folder / PROJECT_SUBFOLDER).write_text("a file where the project folder would go")  # fails even as root
    opened = open_path(folder, tmp_path / "data")
    assert (folder / PROJECT_SUBFOLDER).read_text().startswith("a file")
    assert opened.project.root.is_relative_to(tmp_path / "data")
    assert opened.project.image_ids() == ["a", "b"]


def test_missing_paths_and_project_folders(tmp_path, project_root):
    with pytest.raises(ProjectError, match="no such file"):
        open_path(tmp_path / "nowhere", tmp_path / "data")
    assert open_path(project_root, tmp_path / "data").project.name == "test project"
    assert open_path(project_root / INDEX_NAME, tmp_path / "data").project.name == "test project"


def test_sample_project_is_made_once_with_the_sample_labels(tmp_path):
    project = sample_project(tmp_path)
    assert project.root == (tmp_path / SAMPLE_PROJECT).resolve()
    assert project.image_ids() == [s.name for s in samples()]
    assert (project.load_labels("chelsea").category == CAT).mean() > 0.3
    (project.root / "labels" / "marker").write_text("kept")
    assert (sample_project(tmp_path).root / "labels" / "marker").exists()  # reused, not rebuilt
    assert not list(tmp_path.glob(".sample-*"))  # no staging folder left behind


def test_gui_command_opens_an_image_folder_and_renders_a_screenshot(qtbot, tmp_path):
    folder = _image_folder(tmp_path / "photos")
    out = tmp_path / "shot.png"
    assert run(folder, screenshot=out) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert (folder / PROJECT_SUBFOLDER / INDEX_NAME).is_file()


def test_palette_search_keys_and_builtin_palette(qtbot, make_window, project_root):
    window = make_window(project_root)
    panel = window.palette_panel
    panel.search.setText("do")
    shown = [
        panel.list.item(r).text() for r in range(panel.list.count()) if not panel.list.item(r).isHidden()
    ]
    assert shown == ["  dog  (thing)"] or [s.split()[-2] for s in shown] == ["dog"]
    panel.search.clear()
    panel.list.setCurrentRow([c.id for c in PALETTE].index(DOG))  # a click on "dog"
    assert window.toolbox.settings.category == DOG

    layer = window.canvas.layers[GROUND_TRUTH]
    answer_modal(QMessageBox.StandardButton.No)
    panel.builtin.setCurrentText("cityscapes")
    load = next(b for b in panel.findChildren(QPushButton) if b.text() == "Load")
    load.click()
    assert window.project.palette == PALETTE  # the user said no
    answer_modal(QMessageBox.StandardButton.Yes)
    load.click()
    assert window.project.palette == builtin_palette("cityscapes")
    assert Project.open(project_root).palette == builtin_palette("cityscapes")
    assert window.toolbox.settings.category in builtin_palette("cityscapes")
    assert panel.list.count() == len(builtin_palette("cityscapes"))
    assert window.commands.classes[0].text() == "road"
    # VOC's cat (8) is cityscapes' "vegetation" (8): the overlay was re-indexed for the new ids
    assert layer._index[0, -1] == [c.id for c in builtin_palette("cityscapes")].index(CAT)
    assert window.document.confusion.class_ids.tolist() == builtin_palette("cityscapes").ids


def test_layers_panel_hides_and_fades_layers_across_images(qtbot, make_window, project_root):
    window = make_window(project_root)
    panel = window.layers_panel
    panel.visible[OUTLINES].setChecked(False)
    panel.opacity[IMAGE].setValue(30)
    assert not window.canvas.layers[OUTLINES].isVisible()
    assert window.canvas.layers[IMAGE].opacity() == pytest.approx(0.3)
    assert window.open_image("plain")
    assert not window.canvas.layers[OUTLINES].isVisible()  # the choice outlives the image switch
    assert window.canvas.layers[IMAGE].opacity() == pytest.approx(0.3)


def test_cursor_readout_names_instances(qtbot, make_window, project_root):
    window = make_window(project_root)
    canvas = window.canvas
    point = canvas.mapFromScene(100.5, 10.5)
    assert QApplication.widgetAt(canvas.viewport().mapToGlobal(point)) is canvas.viewport()  # on screen
    qtbot.mouseMove(canvas.viewport(), point)
    scene = canvas.mapToScene(point)
    x, y = int(scene.x()), int(scene.y())
    assert window.labels.category[y, x] == CAT
    qtbot.waitUntil(lambda: window.cursor_label.text() == f"x {x}  y {y}  cat  instance 1")


def test_making_a_class_stuff_drops_the_instance_being_painted(qtbot, make_window, project_root):
    window = make_window(project_root)
    window.toolbox.set_label(PERSON, 7)
    assert window.toolbox.settings.label == (PERSON, 7)
    assert window.palette_panel.replace_class(ClassDef(PERSON, "crowd", PALETTE[PERSON].color, False))
    assert window.toolbox.settings.label == (PERSON, 0)
    assert window.palette_panel.list.currentItem().text().endswith("crowd")
    assert not window.palette_panel.replace_class(ClassDef(PERSON, "dog", (0, 0, 0), False))  # name clash
    box = window.palette_panel.findChild(QMessageBox)
    assert box is not None and "duplicate name" in box.text()
    box.close()
    assert window.project.palette[PERSON].name == "crowd"


def test_next_and_previous_image_keys_follow_the_list(qtbot, make_window, project_root):
    window = make_window(project_root)
    assert window.image_name == "scene"
    press_key(qtbot, window, Qt.Key.Key_D)
    assert window.image_name == "plain"
    press_key(qtbot, window, Qt.Key.Key_D)  # the last one: stays, and says so
    assert window.image_name == "plain" and "No more images after" in window.statusBar().currentMessage()
    press_key(qtbot, window, Qt.Key.Key_PageUp)
    assert window.image_name == "scene"
    press_key(qtbot, window, Qt.Key.Key_U)  # the next image still to label
    assert window.image_name == "plain"
    assert not window.step_image(1, to_label_only=True)
    press_key(qtbot, window, Qt.Key.Key_D, Qt.KeyboardModifier.ShiftModifier)
    assert window.image_name == "scene"
    filter_box = window.image_list.state_filter
    filter_box.setCurrentIndex(filter_box.findData(ImageState.UNLABELLED.value))  # shows "plain" only
    images = window.image_list
    assert images.neighbour("plain", -1) is None and images.neighbour("scene", 1) == "plain"
