"""The questions that guard unsaved work: save before leaving an image, recover a journal.

Both are modal on purpose: the answer decides whether the window may close or switch. Plain
notices are :func:`segstudio.gui.notices.notice`.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtWidgets import QMessageBox, QWidget


class Unsaved(Enum):
    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


def ask_unsaved(parent: QWidget, image_id: str) -> Unsaved:
    """Save / Discard / Cancel for an image with unsaved edits."""
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Unsaved changes",
        f"The labels of {image_id!r} have unsaved changes.",
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.setInformativeText("Save them before going on?")
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        return Unsaved.SAVE
    if answer == QMessageBox.StandardButton.Discard:
        return Unsaved.DISCARD
    return Unsaved.CANCEL


def ask_recover(parent: QWidget, image_ids: list[str]) -> bool | None:
    """Recover (True), discard (False) or leave for later (None) the journaled edits of these images."""
    shown = ", ".join(image_ids[:5]) + (f" and {len(image_ids) - 5} more" if len(image_ids) > 5 else "")
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Recover unsaved work",
        f"Unsaved edits from an earlier session were found for: {shown}.",
        QMessageBox.StandardButton.Yes
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.button(QMessageBox.StandardButton.Yes).setText("Recover")
    box.button(QMessageBox.StandardButton.Cancel).setText("Later")
    box.setInformativeText("Recover opens them with those edits (save to keep them); Discard deletes them.")
    box.setDefaultButton(QMessageBox.StandardButton.Yes)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Yes:
        return True
    if answer == QMessageBox.StandardButton.Discard:
        return False
    return None
