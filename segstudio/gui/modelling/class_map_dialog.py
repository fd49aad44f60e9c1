"""The "Class mapping…" dialog: which palette class each of a model's classes becomes (issue 5).

One row per model class, with a combo box of the palette's classes plus "(unlabelled)", prefilled
with the current mapping (the by-name rule, edited by the project's class-map file). OK writes
``PROJECT/models/class-maps/MODEL.json`` (``segstudio.io.class_map``), keeping only the rows that
differ from the by-name rule, so later changes to that rule still reach the other classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segstudio.core.palette import Palette
from segstudio.gui.notices import notice
from segstudio.io.class_map import (
    ClassMap,
    ClassMapError,
    class_map_path,
    palette_names,
    project_class_map,
    write_class_map,
)

UNLABELLED = "(unlabelled)"


class ClassMapDialog(QDialog):
    """Edit and save a project's class map of one model."""

    def __init__(
        self,
        project_root: Path,
        model: str,
        class_names: Sequence[str],
        palette: Palette,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Class mapping of {model}")
        self.project_root, self.model = Path(project_root), model
        self.class_names, self.palette = tuple(class_names), palette
        self.path = class_map_path(project_root, model)
        self.by_name = palette_names(self.class_names, palette)
        note = ""
        try:
            existing = project_class_map(project_root, model, palette)
        except ClassMapError as error:  # a broken file: start from the by-name rule, say why
            existing, note = None, f"{error}\nSaving replaces it."
        current = palette_names(self.class_names, palette, existing.map if existing else None)
        self.table = QTableWidget(len(self.class_names), 2)
        self.table.setHorizontalHeaderLabels(["Model class", "Palette class"])
        self.table.verticalHeader().setVisible(False)
        self.combos: list[QComboBox] = []
        choices = [UNLABELLED, *(c.name for c in palette)]
        for row, (name, target) in enumerate(zip(self.class_names, current, strict=True)):
            item = QTableWidgetItem(name)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 0, item)
            combo = QComboBox()
            combo.addItems(choices)
            combo.setCurrentIndex(choices.index(target) if target in choices else 0)
            self.table.setCellWidget(row, 1, combo)
            self.combos.append(combo)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Palette {palette.name!r}; saved to {self.path}"))
        if note:
            warning = QLabel(note)
            warning.setWordWrap(True)
            layout.addWidget(warning)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        self.resize(480, 520)

    def choices(self) -> dict[str, str | None]:
        """Model class name -> the palette class chosen (None: unlabelled), every row."""
        return {
            name: None if combo.currentText() == UNLABELLED else combo.currentText()
            for name, combo in zip(self.class_names, self.combos, strict=True)
        }

    def class_map(self) -> ClassMap:
        """The rows that differ from the by-name rule."""
        edits = {
            name: target
            for (name, target), default in zip(self.choices().items(), self.by_name, strict=True)
            if target != default
        }
        return ClassMap(self.model, edits)

    def accept(self) -> None:
        try:
            write_class_map(self.path, self.class_map(), self.palette)
        except (OSError, ClassMapError) as error:
            notice(self, QMessageBox.Icon.Warning, "Class mapping", f"Could not save the class map: {error}")
            return
        super().accept()
