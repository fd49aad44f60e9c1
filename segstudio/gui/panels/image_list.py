"""The images dock: every image of the project with its labelling state, a state filter and a search.

Built for 100k images: the rows are two columns held in Python lists and a numpy array of state
codes, read from the index in one query, shown through a ``QAbstractTableModel`` (no item per
image); filtering computes the shown rows with numpy and resets the model once. A photo missing
from disk is found when its row is painted (only rows on screen are looked at) and marked. States
written by another process (a batch job on the same project) show up within ``POLL_MS``: the
index's ``changes_seen`` number is checked on a timer and the list reloaded when it moved.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from segstudio.io.project import ImageState, Project, ProjectError

ALL_STATES = "all"
UNSAVED = " (unsaved)"
MISSING = " (photo missing)"
POLL_MS = 2000
STATE_TEXT = {
    ImageState.UNLABELLED: "unlabelled",
    ImageState.PRELABELLED: "pre-labelled",
    ImageState.EDITED: "edited",
    ImageState.REVIEWED: "reviewed",
}
_CODES = {state.value: code for code, state in enumerate(ImageState)}
_STATES = list(ImageState)
_MISSING_COLOUR = QColor(200, 40, 40)


class ImageRows(QAbstractTableModel):
    """The project's images (id, state) and which of them the filter shows, as table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.project: Project | None = None
        self.ids: list[str] = []
        self.folded: list[str] = []  # case-folded ids, for the search
        self.codes = np.zeros(0, np.int8)  # state code per image
        self.position: dict[str, int] = {}
        self.shown = np.zeros(0, np.int64)  # positions of the shown images, ascending
        self.unsaved: set[str] = set()
        self._missing: dict[str, bool] = {}

    def load(self, project: Project | None) -> None:
        """Read every id and state from the index (one query); the filter is applied by the caller."""
        ids, states = project.id_states() if project is not None else ([], [])
        self.beginResetModel()
        self.project, self.ids = project, ids
        self.folded = [image_id.casefold() for image_id in ids]
        self.codes = np.fromiter((_CODES[s] for s in states), np.int8, len(states))
        self.position = {image_id: n for n, image_id in enumerate(ids)}
        self.shown = np.arange(len(ids))
        self.unsaved &= set(self.position)
        self._missing.clear()
        self.endResetModel()

    def show_only(self, wanted: str, needle: str) -> None:
        """Show the images in state ``wanted`` (or all) whose id contains ``needle`` (case-folded)."""
        mask = np.ones(len(self.ids), bool) if wanted == ALL_STATES else self.codes == _CODES[wanted]
        if needle:
            mask &= np.fromiter((needle in folded for folded in self.folded), bool, len(self.folded))
        self.beginResetModel()
        self.shown = np.flatnonzero(mask)
        self.endResetModel()

    def row_of(self, image_id: str | None) -> int | None:
        """The row showing ``image_id``, or None when it is not listed or filtered out."""
        at = self.position.get(image_id) if image_id is not None else None
        if at is None:
            return None
        row = int(np.searchsorted(self.shown, at))
        return row if row < len(self.shown) and self.shown[row] == at else None

    def id_at(self, row: int) -> str:
        return self.ids[self.shown[row]]

    def state_of(self, image_id: str) -> ImageState:
        return _STATES[self.codes[self.position[image_id]]]

    def set_state(self, image_id: str, state: ImageState, unsaved: bool) -> None:
        self.codes[self.position[image_id]] = _CODES[ImageState(state).value]
        (self.unsaved.add if unsaved else self.unsaved.discard)(image_id)
        row = self.row_of(image_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, 1))

    def missing(self, image_id: str) -> bool:
        """Whether the photo (or depth map) is not on disk; looked at once, when first shown."""
        found = self._missing.get(image_id)
        if found is None and self.project is not None:
            try:
                found = bool(self.project.missing_files(image_id))
            except ProjectError:
                found = True
            self._missing[image_id] = found
        return bool(found)

    def state_text(self, image_id: str) -> str:
        text = STATE_TEXT[self.state_of(image_id)] + (UNSAVED if image_id in self.unsaved else "")
        return text + (MISSING if self.missing(image_id) else "")

    # -- QAbstractTableModel ------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent is not None and parent.isValid() else len(self.shown)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else 2

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        image_id = self.id_at(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return image_id if index.column() == 0 else self.state_text(image_id)
        if role == Qt.ItemDataRole.UserRole:
            return image_id if index.column() == 0 else self.state_of(image_id).value
        if role == Qt.ItemDataRole.ForegroundRole and self.missing(image_id):
            return QBrush(_MISSING_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole and self.missing(image_id):
            return "The photo of this image is missing from disk"
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ("Image", "State")[section]
        return None


class ImageList(QWidget):
    """Emits ``image_chosen(id)`` when the user picks another image."""

    image_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._quiet = False
        self._seen: int | None = None
        self.rows = ImageRows()
        self.state_filter = QComboBox()
        self.state_filter.addItem("All states", ALL_STATES)
        for state, text in STATE_TEXT.items():
            self.state_filter.addItem(text, state.value)
        self.state_filter.currentIndexChanged.connect(self._filter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search images…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.view = QTableView()  # a table, not a tree: its layout never walks every row
        self.view.setModel(self.rows)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # batch pre-labelling
        rows = self.view.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)
        columns = self.view.horizontalHeader()
        columns.setHighlightSections(False)
        columns.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        columns.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        # the common states fit; a rarer longer one is elided (the column can be widened), so the
        # names keep most of a narrow dock
        self.view.setColumnWidth(1, self.fontMetrics().horizontalAdvance("edited (unsaved)") + 12)
        self.view.selectionModel().currentChanged.connect(self._picked)
        row = QHBoxLayout()
        row.addWidget(self.search, 1)
        row.addWidget(self.state_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.refresh_if_changed)
        self._poll.start()

    def set_project(self, project: Project) -> None:
        """List ``project``'s images (the open one, selection and unsaved marks are kept)."""
        self._reload(project)

    def refresh_if_changed(self) -> bool:
        """Reload the list when another process wrote to the project since it was read."""
        project = self.rows.project
        if project is None:
            return False
        try:
            changed = project.changes_seen() != self._seen
        except ProjectError:
            return False
        if changed:
            self._reload(project)
        return changed

    def _reload(self, project: Project) -> None:
        current, selected = self.current_id(), self.selected_ids()
        self._seen = project.changes_seen()
        self._quiet = True
        try:
            self.rows.load(project)
        finally:
            self._quiet = False
        self._filter(keep=(current, selected))

    def set_state(self, image_id: str, state: ImageState, unsaved: bool = False) -> None:
        if image_id not in self.rows.position:
            return
        was = self.rows.state_of(image_id)
        self.rows.set_state(image_id, state, unsaved)
        if ImageState(state) is not was and self.state_filter.currentData() != ALL_STATES:
            self._filter()

    def state_text(self, image_id: str) -> str:
        return self.rows.state_text(image_id)

    def current_id(self) -> str | None:
        index = self.view.currentIndex()
        return self.rows.id_at(index.row()) if index.isValid() else None

    def set_current(self, image_id: str | None) -> None:
        """Show ``image_id`` as the open image without emitting ``image_chosen``."""
        row = self.rows.row_of(image_id)
        self._quiet = True
        try:
            if row is None:
                self.view.selectionModel().clearCurrentIndex()
                self.view.clearSelection()
            else:
                self.view.setCurrentIndex(self.rows.index(row, 0))
        finally:
            self._quiet = False

    def select(self, image_ids: Collection[str]) -> None:
        """Select these images (those shown), as Ctrl/Shift-clicks would."""
        selection = QItemSelection()
        for row in sorted(r for r in map(self.rows.row_of, image_ids) if r is not None):
            selection.select(self.rows.index(row, 0), self.rows.index(row, 1))
        self.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def selected_ids(self) -> list[str]:
        """The selected images (Ctrl/Shift-click), in list order; the open one when none is."""
        rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        chosen = [self.rows.id_at(row) for row in rows]
        current = self.current_id()
        return chosen if chosen or current is None else [current]

    def visible_ids(self) -> list[str]:
        return [self.rows.ids[at] for at in self.rows.shown]

    def neighbour(self, image_id: str | None, step: int, states: Collection[str] | None = None) -> str | None:
        """The image ``step`` (+1 next, -1 previous) from ``image_id`` among the listed ones (the
        filter applies), skipping those whose state is not in ``states``; None past either end."""
        rows = self.rows
        candidates = rows.shown
        if states is not None:
            codes = [_CODES[ImageState(s).value] for s in states]
            candidates = candidates[np.isin(rows.codes[candidates], codes)]
        at = rows.position.get(image_id) if image_id is not None else None
        if at is None:
            at = -1 if step > 0 else len(rows.ids)
        if step > 0:
            found = int(np.searchsorted(candidates, at, side="right")) + step - 1
        else:
            found = int(np.searchsorted(candidates, at, side="left")) + step
        return rows.ids[candidates[found]] if 0 <= found < len(candidates) else None

    def _picked(self, index: QModelIndex) -> None:
        if index.isValid() and not self._quiet:
            self.image_chosen.emit(self.rows.id_at(index.row()))

    def _filter(self, *_: object, keep: tuple[str | None, list[str]] | None = None) -> None:
        current, selected = keep if keep is not None else (self.current_id(), self.selected_ids())
        self._quiet = True
        try:
            self.rows.show_only(self.state_filter.currentData(), self.search.text().strip().casefold())
        finally:
            self._quiet = False
        self.set_current(current)
        if len(selected) > 1:
            self.select(selected)
