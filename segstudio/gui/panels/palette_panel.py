"""The classes dock: pick the class to paint, search by name, edit a class, load a built-in palette.

Palettes are immutable; an edit builds a new one and emits ``palette_edited`` so the project,
the document and the overlays (a colour-table swap) all take it at once.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from segstudio.core.palette import BUILTIN_PALETTES, ClassDef, Color, Palette, PaletteError, builtin_palette
from segstudio.gui.notices import notice
from segstudio.gui.panels.palette_offer import PaletteOffer

CLASS_KEYS = "1234567890"
"""Keys picking the first ten classes, in palette order."""

ID_ROLE = Qt.ItemDataRole.UserRole
MIN_VISIBLE_CLASSES = 10
"""Rows the class list always shows, however many docks share its side of the window."""


def swatch(color: Color, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*color))
    return QIcon(pixmap)


def class_text(position: int, class_def: ClassDef) -> str:
    """List text: key hint, name, thing marker."""
    key = CLASS_KEYS[position] if position < len(CLASS_KEYS) else " "
    kind = "  (thing)" if class_def.isthing else ""
    return f"{key}  {class_def.name}{kind}"


class ClassDialog(QDialog):
    """Edit one class's name, colour and thing/stuff flag."""

    def __init__(self, class_def: ClassDef, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Class {class_def.id}")
        self._class = class_def
        self._color = class_def.color
        self.name = QLineEdit(class_def.name)
        self.color_button = QPushButton("Choose…")
        self.color_button.setIcon(swatch(self._color))
        self.color_button.clicked.connect(self._choose_color)
        self.thing = QCheckBox("Thing (countable objects get instance ids)")
        self.thing.setChecked(class_def.isthing)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Colour", self.color_button)
        form.addRow(self.thing)
        form.addRow(buttons)

    def _choose_color(self) -> None:
        chosen = QColorDialog.getColor(QColor(*self._color), self, "Class colour")
        if chosen.isValid():
            self.set_color((chosen.red(), chosen.green(), chosen.blue()))

    def set_color(self, color: Color) -> None:
        self._color = color
        self.color_button.setIcon(swatch(color))

    def edited(self) -> ClassDef:
        return dataclasses.replace(
            self._class, name=self.name.text().strip(), color=self._color, isthing=self.thing.isChecked()
        )


class PalettePanel(QWidget):
    """List of the project's classes with colour swatches."""

    class_chosen = Signal(int)
    palette_edited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.palette: Palette | None = None
        self._quiet = False
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search classes…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Type part of a class name; Enter picks the first match (Ctrl+F comes here)")
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self.pick_first_match)
        self.list = QListWidget()
        row_height = max(self.list.fontMetrics().height(), 16) + 2  # text or 14 px swatch, with margins
        self.list.setMinimumHeight(MIN_VISIBLE_CLASSES * row_height + 2 * self.list.frameWidth())
        self.list.currentItemChanged.connect(self._picked)
        self.list.itemDoubleClicked.connect(lambda item: self.edit_class(item.data(ID_ROLE)))
        edit = QPushButton("Edit…")
        edit.setToolTip("Name, colour and thing/stuff of the selected class (or double-click it)")
        edit.clicked.connect(self._edit_current)
        self.builtin = QComboBox()
        self.builtin.addItems(BUILTIN_PALETTES)
        load = QPushButton("Load")
        load.setToolTip("Replace the project's classes with a built-in palette")
        load.clicked.connect(self._confirm_load)
        row = QHBoxLayout()
        row.addWidget(edit)
        row.addStretch(1)
        row.addWidget(self.builtin)
        row.addWidget(load)
        self.offer = PaletteOffer()
        self.offer.chosen.connect(self._emit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.offer)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)

    def set_palette(self, palette: Palette) -> None:
        """Show ``palette``'s classes, keeping the selection and the search when possible."""
        current = self.current_class()
        self.palette = palette
        self._quiet = True
        try:
            self.list.clear()
            for position, class_def in enumerate(palette):
                item = QListWidgetItem(swatch(class_def.color), class_text(position, class_def))
                item.setData(ID_ROLE, class_def.id)
                self.list.addItem(item)
        finally:
            self._quiet = False
        self._filter(self.search.text())
        if current is not None:
            self.select(current)

    def current_class(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def select(self, class_id: int) -> None:
        """Show ``class_id`` as the current class without emitting ``class_chosen``."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == class_id:
                self._quiet = True
                try:
                    self.list.setCurrentItem(item)
                finally:
                    self._quiet = False
                self.list.scrollToItem(item)
                return

    def _picked(self, item: QListWidgetItem | None) -> None:
        if item is not None and not self._quiet:
            self.class_chosen.emit(int(item.data(ID_ROLE)))

    def _filter(self, text: str) -> None:
        needle = text.strip().casefold()
        for row in range(self.list.count()):
            item = self.list.item(row)
            name = self.palette[int(item.data(ID_ROLE))].name if self.palette else ""
            item.setHidden(bool(needle) and needle not in name.casefold())

    def focus_search(self) -> None:
        """Ctrl+F: type to find a class (its dock is shown if it was closed)."""
        dock = self.parentWidget()
        if dock is not None and not self.isVisible():
            dock.show()
        self.search.setFocus()
        self.search.selectAll()

    def pick_first_match(self) -> bool:
        """Enter in the search: the single or first class shown becomes the class painted, and the
        keyboard goes back to the window's shortcuts (the filter stays)."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if not item.isHidden():
                if self.list.currentItem() is item:
                    self.class_chosen.emit(int(item.data(ID_ROLE)))  # chosen again (after another key)
                else:
                    self.list.setCurrentItem(item)  # emits class_chosen
                self.search.clearFocus()
                return True
        return False

    def _edit_current(self) -> None:
        current = self.current_class()
        if current is not None:
            self.edit_class(current)

    def edit_class(self, class_id: int) -> None:
        if self.palette is None:
            return
        dialog = ClassDialog(self.palette[class_id], self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.replace_class(dialog.edited())

    def replace_class(self, edited: ClassDef) -> bool:
        """Swap one class for its edited form; a name clash is refused with a message."""
        if self.palette is None:
            return False
        classes = [edited if c.id == edited.id else c for c in self.palette]
        try:
            palette = Palette(self.palette.name, classes, self.palette.void_color)
        except PaletteError as error:
            notice(self, QMessageBox.Icon.Warning, "Cannot change the class", str(error))
            return False
        self._emit(palette)
        return True

    def _confirm_load(self) -> None:
        name = self.builtin.currentText()
        answer = QMessageBox.question(
            self,
            "Load a built-in palette",
            f"Replace the project's classes with the {name!r} palette?\n"
            "Labels keep their class ids, which may then mean other classes.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.load_builtin(name)

    def load_builtin(self, name: str) -> None:
        self._emit(builtin_palette(name))

    def _emit(self, palette: Palette) -> None:
        self.set_palette(palette)
        self.palette_edited.emit(palette)
