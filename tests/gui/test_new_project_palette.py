"""A new folder's classes (issue 16): the palette last used, not always VOC, and one offer of
others in the Classes dock (never a blocking dialog); reopening the folder asks nothing."""

from __future__ import annotations

from pathlib import Path

from gui_helpers import scene_image, write_png
from PySide6.QtCore import Qt

from segstudio.io.project import Project


def _image_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    write_png(root / "photo.png", scene_image())
    return root


def test_a_new_folder_takes_the_last_used_palette_and_offers_others_once(
    qtbot, make_window, project_root, tmp_path
):
    window = make_window(project_root)
    panel = window.palette_panel
    assert not panel.offer.isVisible()  # an existing project: no question
    panel.load_builtin("cityscapes")  # the user works with Cityscapes classes
    assert window.open_path(_image_folder(tmp_path / "street"))
    assert window.palette.name == "cityscapes"  # as last used, not VOC
    assert panel.offer.isVisible() and "last used" in panel.offer.choices.currentText()

    combo = panel.offer.choices
    combo.setFocus()
    qtbot.keyClicks(combo, "ade")  # typing picks the matching entry
    assert combo.currentText().startswith("ade20k")
    qtbot.mouseClick(panel.offer.use, Qt.MouseButton.LeftButton)
    assert not panel.offer.isVisible()
    assert window.palette.name == "ade20k" and window.project.palette.name == "ade20k"
    assert Project.open(tmp_path / "street" / ".segstudio").palette.name == "ade20k"  # saved

    assert window.open_path(project_root)
    assert not panel.offer.isVisible()
    assert window.open_path(tmp_path / "street")  # asked once: reopening asks nothing
    assert window.palette.name == "ade20k" and not panel.offer.isVisible()


def test_the_last_used_palette_is_remembered_across_windows(qtbot, make_window, project_root, tmp_path):
    first = make_window(project_root)
    first.palette_panel.load_builtin("coco-panoptic")
    first.close()
    window = make_window(_image_folder(tmp_path / "kitchen"))  # started on a new folder
    assert window.palette.name == "coco-panoptic"
    assert window.palette_panel.offer.isVisible()
    keep = next(
        b
        for b in window.palette_panel.offer.findChildren(type(window.palette_panel.offer.use))
        if b.text() == "Keep"
    )
    qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)
    assert not window.palette_panel.offer.isVisible() and window.palette.name == "coco-panoptic"


def test_a_new_folder_gets_the_palette_its_data_says_and_the_status_bar_says_why(
    qtbot, make_window, project_root, tmp_path
):
    window = make_window(project_root)  # a VOC project was used last
    said: list[str] = []
    window.statusBar().messageChanged.connect(said.append)
    folder = tmp_path / "leftImg8bit" / "val" / "frankfurt"
    folder.mkdir(parents=True)
    write_png(folder / "frankfurt_000000_000294_leftImg8bit.png", scene_image())
    assert window.open_path(folder)
    assert window.palette.name == "cityscapes"  # inferred, not the last used VOC
    assert any("cityscapes" in text and "_leftImg8bit.png" in text for text in said)
    offer = window.palette_panel.offer
    assert offer.isVisible() and "inferred from the data" in offer.choices.currentText()
    assert "_leftImg8bit.png" in offer.text.text()


def test_a_folder_without_clues_says_it_took_the_last_used_palette(
    qtbot, make_window, project_root, tmp_path
):
    window = make_window(project_root)
    said: list[str] = []
    window.statusBar().messageChanged.connect(said.append)
    assert window.open_path(_image_folder(tmp_path / "holiday"))
    assert window.palette.name == "voc"
    assert any("'voc'" in text and "last used" in text for text in said)
