"""The images dock: every image of the project with its labelling state, a state filter and a search."""

from __future__ import annotations

from collections.abc import Collection

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segstudio.io.project import ImageState, Project

ALL_STATES = "all"
UNSAVED = " (unsaved)"
STATE_TEXT = {
    ImageState.UNLABELLED: "unlabelled",
    ImageState.PRELABELLED: "pre-labelled",
    ImageState.EDITED: "edited",
    ImageState.REVIEWED: "reviewed",
}


class ImageList(QWidget):
    """Emits ``image_chosen(id)`` when the user picks another image."""

    image_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._quiet = False
        self.state_filter = QComboBox()
        self.state_filter.addItem("All states", ALL_STATES)
        for state, text in STATE_TEXT.items():
            self.state_filter.addItem(text, state.value)
        self.state_filter.currentIndexChanged.connect(self._filter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search images…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Image", "State"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)  # batch pre-labelling
        self.tree.currentItemChanged.connect(self._picked)
        row = QHBoxLayout()
        row.addWidget(self.search, 1)
        row.addWidget(self.state_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.tree, 1)

    def set_project(self, project: Project) -> None:
        self._quiet = True
        try:
            self.tree.clear()
            self._items = {}
            for entry in project.images:
                item = QTreeWidgetItem([entry.id, STATE_TEXT[ImageState(entry.state)]])
                item.setData(0, Qt.ItemDataRole.UserRole, entry.id)
                item.setData(1, Qt.ItemDataRole.UserRole, ImageState(entry.state).value)
                self.tree.addTopLevelItem(item)
                self._items[entry.id] = item
        finally:
            self._quiet = False
        self.tree.resizeColumnToContents(0)
        self._filter()

    def set_state(self, image_id: str, state: ImageState, unsaved: bool = False) -> None:
        item = self._items.get(image_id)
        if item is None:
            return
        item.setText(1, STATE_TEXT[ImageState(state)] + (UNSAVED if unsaved else ""))
        item.setData(1, Qt.ItemDataRole.UserRole, ImageState(state).value)
        self._filter()

    def state_text(self, image_id: str) -> str:
        return self._items[image_id].text(1)

    def set_current(self, image_id: str | None) -> None:
        """Show ``image_id`` as the open image without emitting ``image_chosen``."""
        self._quiet = True
        try:
            self.tree.setCurrentItem(self._items.get(image_id) if image_id else None)
        finally:
            self._quiet = False

    def selected_ids(self) -> list[str]:
        """The selected images (Ctrl/Shift-click), in list order; the open one when none is."""
        chosen = [i for i, item in self._items.items() if item.isSelected() and not item.isHidden()]
        current = self.tree.currentItem()
        if not chosen and current is not None:
            chosen = [current.data(0, Qt.ItemDataRole.UserRole)]
        return chosen

    def visible_ids(self) -> list[str]:
        return [image_id for image_id, item in self._items.items() if not item.isHidden()]

    def neighbour(self, image_id: str | None, step: int, states: Collection[str] | None = None) -> str | None:
        """The image ``step`` (+1 next, -1 previous) from ``image_id`` among the listed ones (the
        filter applies), skipping those whose state is not in ``states``; None past either end."""
        order = list(self._items)
        shown = set(self.visible_ids())
        at = order.index(image_id) if image_id in self._items else (-1 if step > 0 else len(order))
        position = at + step
        while 0 <= position < len(order):
            candidate = order[position]
            state = self._items[candidate].data(1, Qt.ItemDataRole.UserRole)
            if candidate in shown and (states is None or state in states):
                return candidate
            position += step
        return None

    def _picked(self, item: QTreeWidgetItem | None) -> None:
        if item is not None and not self._quiet:
            self.image_chosen.emit(item.data(0, Qt.ItemDataRole.UserRole))

    def _filter(self) -> None:
        wanted = self.state_filter.currentData()
        needle = self.search.text().strip().casefold()
        for image_id, item in self._items.items():
            state = item.data(1, Qt.ItemDataRole.UserRole)
            shown = (wanted == ALL_STATES or state == wanted) and needle in image_id.casefold()
            item.setHidden(not shown)
