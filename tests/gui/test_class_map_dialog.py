"""The "Class mapping…" dialog: prefilled from the by-name rule and the project's file; OK saves."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox

from segstudio.core.palette import builtin_palette
from segstudio.gui.modelling.class_map_dialog import UNLABELLED, ClassMapDialog
from segstudio.io.class_map import ClassMap, class_map_path, read_class_map, write_class_map

VOC = builtin_palette("voc")
NAMES = ("__background__", "sofa", "tvmonitor", "cat", "unicorn")


def _dialog(qtbot, root: Path) -> ClassMapDialog:
    dialog = ClassMapDialog(root, "my-model", NAMES, VOC)
    qtbot.addWidget(dialog)
    return dialog


def test_prefilled_by_name_then_ok_saves_the_choice(qtbot, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path)
    shown = [combo.currentText() for combo in dialog.combos]
    assert shown == ["background", "sofa", "tvmonitor", "cat", UNLABELLED]
    dialog.combos[1].setCurrentText("chair")
    dialog.combos[3].setCurrentText(UNLABELLED)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    path = class_map_path(tmp_path, "my-model")
    assert read_class_map(path, VOC) == ClassMap("my-model", {"sofa": "chair", "cat": None})
    assert not dialog.isVisible()


def test_prefilled_from_the_project_file(qtbot, tmp_path: Path) -> None:
    write_class_map(class_map_path(tmp_path, "my-model"), ClassMap("my-model", {"unicorn": "horse"}))
    dialog = _dialog(qtbot, tmp_path)
    assert dialog.combos[4].currentText() == "horse"
    assert dialog.class_map().map == {"unicorn": "horse"}


def test_cancel_writes_nothing(qtbot, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path)
    dialog.combos[0].setCurrentText("person")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert not class_map_path(tmp_path, "my-model").exists()
