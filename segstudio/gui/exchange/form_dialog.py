"""The shape the import and export dialogs share: a format choice, a form whose rows follow it,
a line saying what is missing, and an OK button enabled only when nothing is."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class FormDialog(QDialog):
    """Subclasses fill ``form`` after ``format``, call :meth:`finish`, and say :meth:`problems`."""

    def __init__(
        self, title: str, ok_text: str, formats: Mapping[StrEnum, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.format = QComboBox()
        for fmt, text in formats.items():
            self.format.addItem(text, fmt)
        self.form = QFormLayout()
        self.form.addRow("Format", self.format)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c0392b")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, parent=self
        )
        self.ok_button.setText(ok_text)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def finish(self, intro: str = "", width: int = 640) -> None:
        """Lay the dialog out (``intro`` above the form) once the rows are in."""
        layout = QVBoxLayout(self)
        if intro:
            layout.addWidget(QLabel(intro))
        layout.addLayout(self.form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()
        self.resize(width, self.sizeHint().height())

    def problems(self) -> list[str]:
        """What stops OK now (empty: it may go); subclasses say what they need."""
        return []

    def _format_changed(self) -> None:
        self._check()

    def _check(self) -> None:
        found = self.problems()
        self.problem.setText("\n".join(found))
        self.ok_button.setEnabled(not found)
