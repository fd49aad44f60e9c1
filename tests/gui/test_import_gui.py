"""File > Import dataset… in the real window: the real COCO sample becomes a project that opens,
bad input is named and leaves nothing, and the form asks for what each format needs."""

from __future__ import annotations

import numpy as np
from gui_helpers import open_boxes
from PySide6.QtWidgets import QDialogButtonBox

from segstudio.gui.exchange.import_dialog import ImportDialog
from segstudio.gui.main_window import MainWindow
from segstudio.io.coco_panoptic import read_coco_panoptic
from segstudio.io.dataset_import import ImportFormat

WAIT_MS = 30000


def _dialog(window: MainWindow) -> ImportDialog:
    action = next(a for a in window.shortcuts.actions.values() if a.text() == "&Import dataset…")
    action.trigger()
    dialog = window.findChild(ImportDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def _ok(dialog: ImportDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_coco_panoptic_sample_imports_and_opens(
    qtbot, make_window, project_root, coco_panoptic_sample, tmp_path
):
    window = make_window(project_root)
    dialog = _dialog(window)
    assert dialog.chosen_format is ImportFormat.COCO_PANOPTIC and not _ok(dialog).isEnabled()
    dialog.annotations_json.edit.setText(str(coco_panoptic_sample / "panoptic_examples.json"))
    dialog.images.edit.setText(str(coco_panoptic_sample))
    new_root = tmp_path / "imported"
    dialog.project.edit.setText(str(new_root))
    assert _ok(dialog).isEnabled(), dialog.problem.text()
    with qtbot.waitSignal(window.exchange.job.done, timeout=WAIT_MS) as done:
        _ok(dialog).click()
    assert done.args == [[]]  # no warnings
    qtbot.waitUntil(lambda: window.project is not None and window.project.root == new_root, timeout=WAIT_MS)
    assert len(window.project) == 2 and not window.exchange.status.isVisible()
    expected = {
        r.image["file_name"]: r.labels
        for r in read_coco_panoptic(coco_panoptic_sample / "panoptic_examples.json").records
    }
    for entry in window.project.entries():  # every image's labels are the dataset's, exactly
        truth, labels = expected[entry.source["file_name"]], window.project.load_labels(entry.id)
        assert np.array_equal(labels.category, truth.category)
        assert np.array_equal(labels.instance, truth.instance)
    assert window.document.image_id in set(window.project.image_ids())  # and one is on screen
    assert window.project.palette.name == "panoptic_examples"


def test_a_failing_import_is_named_and_leaves_no_project(
    qtbot, make_window, project_root, coco_panoptic_sample, tmp_path
):
    window = make_window(project_root)
    dialog = _dialog(window)
    dialog.format.setCurrentIndex(dialog.format.findData(ImportFormat.COCO_PANOPTIC))
    dialog.annotations_json.edit.setText(str(coco_panoptic_sample / "panoptic_examples.json"))
    (tmp_path / "no-photos").mkdir()
    dialog.images.edit.setText(str(tmp_path / "no-photos"))
    new_root = tmp_path / "never"
    dialog.project.edit.setText(str(new_root))
    with qtbot.waitSignal(window.exchange.job.failed, timeout=WAIT_MS) as failed:
        _ok(dialog).click()
    assert "not found" in failed.args[0] and ".jpg" in failed.args[0]
    assert not [p.name for p in tmp_path.iterdir() if "never" in p.name]  # no project, no leftovers
    qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
    assert open_boxes(window)[0].windowTitle() == "Import failed"
    for box in open_boxes(window):
        box.close()
    assert window.project.root == project_root  # the open project stays open


def test_the_form_asks_for_what_each_format_needs(qtbot, make_window, project_root, tmp_path):
    window = make_window(project_root)
    dialog = _dialog(window)
    form = dialog.form
    dialog.format.setCurrentIndex(dialog.format.findData(ImportFormat.SEMANTIC_PNG))
    assert form.isRowVisible(dialog.annotations_folder) and not form.isRowVisible(dialog.annotations_json)
    assert (
        form.isRowVisible(dialog.palette)
        and form.isRowVisible(dialog.void)
        and not form.isRowVisible(dialog.masks)
    )
    masks = tmp_path / "masks"
    masks.mkdir()
    dialog.annotations_folder.edit.setText(str(masks))
    dialog.images.edit.setText(str(tmp_path))
    dialog.project.edit.setText(str(tmp_path / "new"))
    dialog.palette.setEditText("")
    assert not _ok(dialog).isEnabled() and "palette" in dialog.problem.text()
    dialog.palette.setEditText("voc")
    assert _ok(dialog).isEnabled()
    dialog.project.edit.setText(str(project_root))
    assert not _ok(dialog).isEnabled() and "already exists" in dialog.problem.text()
    dialog.format.setCurrentIndex(dialog.format.findData(ImportFormat.LABELME))
    assert form.isRowVisible(dialog.annotations_folder) and not form.isRowVisible(dialog.void)
    assert dialog.palette.currentText() == ""  # labelme makes a palette from the label names
    source = dialog.source()
    assert source.fmt is ImportFormat.LABELME and source.annotations == masks and source.palette is None
    dialog.reject()


def test_cityscapes_from_the_dialog(qtbot, make_window, project_root, tmp_path):
    import cv2

    from segstudio.core.labels import LabelMap
    from segstudio.core.palette import builtin_palette
    from segstudio.io.cityscapes import write_cityscapes

    category = np.zeros((6, 8), np.uint16)
    category[:2] = 10  # sky over road
    file_name = "bonn/bonn_000000_000001_leftImg8bit.png"
    gt_dir, images_dir = tmp_path / "gtFine" / "val", tmp_path / "leftImg8bit" / "val"
    record = ({"id": 1, "file_name": file_name}, LabelMap.from_arrays(category))
    write_cityscapes(gt_dir, [record], builtin_palette("cityscapes"))
    (images_dir / "bonn").mkdir(parents=True)
    assert cv2.imwrite(str(images_dir / file_name), np.zeros((6, 8, 3), np.uint8))
    window = make_window(project_root)
    dialog = _dialog(window)
    dialog.format.setCurrentIndex(dialog.format.findData(ImportFormat.CITYSCAPES))
    form = dialog.form
    assert form.isRowVisible(dialog.annotations_folder) and not form.isRowVisible(dialog.palette)
    assert form.labelForField(dialog.annotations_folder).text() == "gtFine folder"
    dialog.annotations_folder.edit.setText(str(gt_dir))
    dialog.images.edit.setText(str(images_dir))
    dialog.project.edit.setText(str(tmp_path / "city"))
    with qtbot.waitSignal(window.exchange.job.done, timeout=WAIT_MS):
        _ok(dialog).click()
    qtbot.waitUntil(lambda: window.project.root == tmp_path / "city", timeout=WAIT_MS)
    assert np.array_equal(window.labels.category, category) and window.project.palette.name == "cityscapes"


def test_absolute_file_names_are_followed_only_when_ticked(
    qtbot, make_window, project_root, coco_panoptic_sample, tmp_path
):
    """A JSON naming its photos by absolute paths elsewhere is refused (a shared dataset must not
    read other files of this computer) until the user ticks the option, as the CLI's flag."""
    import json

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = json.loads((coco_panoptic_sample / "panoptic_examples.json").read_text())
    for image in data["images"]:
        photo = elsewhere / image["file_name"]
        photo.write_bytes((coco_panoptic_sample / image["file_name"]).read_bytes())
        image["file_name"] = str(photo)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "empty-photos").mkdir()
    annotations = dataset / "panoptic_examples.json"
    annotations.write_text(json.dumps(data))
    masks = coco_panoptic_sample / "panoptic_examples"

    window = make_window(project_root)
    for allowed, new_root in ((False, tmp_path / "refused"), (True, tmp_path / "followed")):
        dialog = _dialog(window)
        dialog.format.setCurrentIndex(dialog.format.findData(ImportFormat.COCO_PANOPTIC))
        assert dialog.allow_absolute.isVisibleTo(dialog) and not dialog.allow_absolute.isChecked()
        dialog.annotations_json.edit.setText(str(annotations))
        dialog.masks.edit.setText(str(masks))
        dialog.images.edit.setText(str(dataset / "empty-photos"))
        dialog.project.edit.setText(str(new_root))
        if allowed:
            dialog.allow_absolute.click()
            with qtbot.waitSignal(window.exchange.job.done, timeout=WAIT_MS):
                _ok(dialog).click()
            qtbot.waitUntil(lambda r=new_root: window.project is not None and window.project.root == r)
            assert len(window.project) == 2
        else:
            with qtbot.waitSignal(window.exchange.job.failed, timeout=WAIT_MS) as failed:
                _ok(dialog).click()
            assert "absolute" in failed.args[0] and not new_root.exists()
            qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
            for box in open_boxes(window):
                box.close()
    dialog = _dialog(window)
    dialog.format.setCurrentIndex(dialog.format.findData(ImportFormat.LABELME))
    assert not dialog.allow_absolute.isVisibleTo(dialog)
    dialog.close()
