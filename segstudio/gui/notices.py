"""Plain notices: window-modal message boxes that open without blocking the event loop.

Every text shown is plain text with control characters escaped, since it may hold file names from
anyone's dataset (``<b>`` or an escape sequence in a name must not format the box). Every feature
package may use them, so they sit at the bottom of the GUI's layers.
"""

from __future__ import annotations

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
