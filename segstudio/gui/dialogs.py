"""Message boxes: the questions that guard unsaved work, and the plain notices.

The questions (save before leaving an image, recover a journal) are modal on purpose: the answer
decides whether the window may close or switch. Notices (:func:`notice`) are window-modal and open
without blocking. Every text shown is plain text with control characters escaped, since it may hold
file names from anyone's dataset (``<b>`` or an escape sequence in a name must not format the box).
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from segstudio.io.safe_files import printable


def shown_text(text: str) -> str:
    """``text`` as a box shows it: each line with its control characters escaped."""
    return "\n".join(printable(line) for line in text.split("\n"))


def notice(parent: QWidget, icon: QMessageBox.Icon, title: str, text: str, details: str = "") -> QMessageBox:
    """A window-modal box that does not block the event loop (work and tests go on)."""
    box = QMessageBox(icon, title, shown_text(text), QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    if details:
        box.setInformativeText(shown_text(details))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


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
