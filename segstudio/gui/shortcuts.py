"""Editable keyboard shortcuts: every menu command with its keys, saved per user, applied at start-up.

Commands are known by a stable id (their object name, else a slug of their text taken at start-up,
before any text changes, e.g. class actions renamed after the palette). Only shortcuts that differ
from the defaults are stored, so a later release's new defaults reach users who never changed them.
Two commands on one key would make Qt fire neither ("ambiguous shortcut"), so the dialog reports
such conflicts and will not accept them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QKeySequenceEdit,
    QLabel,
    QMenuBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

SETTINGS_GROUP = "shortcuts"
PORTABLE = QKeySequence.SequenceFormat.PortableText
NATIVE = QKeySequence.SequenceFormat.NativeText
Keys = list[QKeySequence]


def command_id(action: QAction) -> str:
    """The action's stable id: its object name, set from its text the first time it is asked."""
    if not action.objectName():
        action.setObjectName(re.sub(r"[^a-z0-9]+", "-", action.text().replace("&", "").lower()).strip("-"))
    return action.objectName()


def menu_commands(menu_bar: QMenuBar) -> list[QAction]:
    """The menus' commands in order: no separators, no submenus (Open recent's entries come and go)."""
    commands: list[QAction] = []
    for top in menu_bar.actions():
        menu = top.menu()
        if menu is None:
            continue
        commands.extend(a for a in menu.actions() if not a.isSeparator() and a.menu() is None)
    return commands


def conflicts(assignment: Mapping[str, Keys]) -> dict[str, list[str]]:
    """Key sequence (portable text) -> the ids of the commands sharing it, where more than one does."""
    users: dict[str, list[str]] = defaultdict(list)
    for command, keys in assignment.items():
        for key in keys:
            if not key.isEmpty():
                users[key.toString(PORTABLE)].append(command)
    return {key: ids for key, ids in users.items() if len(ids) > 1}


class ShortcutMap:
    """Commands with their default and current shortcuts; ``settings`` None keeps changes in memory."""

    def __init__(self, actions: list[QAction], settings: QSettings | None = None) -> None:
        self.actions: dict[str, QAction] = {}
        for action in actions:
            self.actions.setdefault(command_id(action), action)
        self.defaults: dict[str, Keys] = {name: a.shortcuts() for name, a in self.actions.items()}
        self.settings = settings

    def current(self) -> dict[str, Keys]:
        return {name: action.shortcuts() for name, action in self.actions.items()}

    def apply_saved(self) -> None:
        """Give the commands the shortcuts saved in the settings (unknown ids are ignored)."""
        if self.settings is None:
            return
        self.settings.beginGroup(SETTINGS_GROUP)
        try:
            saved = {key: str(self.settings.value(key, "")) for key in self.settings.childKeys()}
        finally:
            self.settings.endGroup()
        for name, text in saved.items():
            if name in self.actions:
                self.actions[name].setShortcuts(QKeySequence.listFromString(text, PORTABLE))

    def assign(self, assignment: Mapping[str, Keys]) -> None:
        """Apply ``assignment`` (id -> keys) and save what differs from the defaults."""
        for name, keys in assignment.items():
            self.actions[name].setShortcuts(list(keys))
        if self.settings is None:
            return
        self.settings.beginGroup(SETTINGS_GROUP)
        try:
            for name, keys in self.current().items():
                if _same(keys, self.defaults[name]):
                    self.settings.remove(name)
                else:
                    self.settings.setValue(name, QKeySequence.listToString(keys, PORTABLE))
        finally:
            self.settings.endGroup()
        self.settings.sync()


def _same(a: Keys, b: Keys) -> bool:
    return [k.toString(PORTABLE) for k in a] == [k.toString(PORTABLE) for k in b]


class ShortcutsDialog(QDialog):
    """A table of every command with two editable shortcuts (main and alternate, as Redo has
    Ctrl+Y and Ctrl+Shift+Z); conflicts are named and block OK."""

    COMMAND, KEYS, ALTERNATE, DEFAULT = range(4)

    def __init__(self, shortcuts: ShortcutMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.shortcuts = shortcuts
        self.editing: dict[str, Keys] = shortcuts.current()
        self.editors: dict[str, QKeySequenceEdit] = {}
        """The main shortcut's editor of each command."""
        self.alternates: dict[str, QKeySequenceEdit] = {}
        self.table = QTableWidget(len(shortcuts.actions), 4, self)
        self.table.setHorizontalHeaderLabels(["Command", "Shortcut", "Alternate", "Default"])
        self.table.verticalHeader().setVisible(False)
        for row, (name, action) in enumerate(shortcuts.actions.items()):
            self._add_row(row, name, action)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c0392b")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, parent=self
        )
        self.reset_button = QPushButton("Reset to defaults")
        self.buttons.addButton(self.reset_button, QDialogButtonBox.ButtonRole.ResetRole)
        self.reset_button.clicked.connect(self.reset)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.resize(680, 520)
        self._check()

    def _add_row(self, row: int, name: str, action: QAction) -> None:
        command = QTableWidgetItem(action.text().replace("&", ""))
        command.setFlags(command.flags() & ~Qt.ItemFlag.ItemIsEditable)
        command.setToolTip(action.statusTip() or action.toolTip())
        command.setData(Qt.ItemDataRole.UserRole, name)
        self.table.setItem(row, self.COMMAND, command)
        for column, editors in ((self.KEYS, self.editors), (self.ALTERNATE, self.alternates)):
            editor = QKeySequenceEdit(self._slot(self.editing[name], column - self.KEYS))
            editor.setClearButtonEnabled(True)
            editor.setMaximumSequenceLength(1)  # one key combination, taken at once (no chord timeout)
            editor.keySequenceChanged.connect(lambda keys, n=name: self._edited(n))
            self.table.setCellWidget(row, column, editor)
            editors[name] = editor
        default = QTableWidgetItem(QKeySequence.listToString(self.shortcuts.defaults[name], NATIVE))
        default.setFlags(default.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.table.setItem(row, self.DEFAULT, default)

    @staticmethod
    def _slot(keys: Keys, index: int) -> QKeySequence:
        return keys[index] if len(keys) > index else QKeySequence()

    def _edited(self, name: str) -> None:
        """A command's main or alternate key changed: it now has the keys its two editors show
        (the same key twice counts once; keys beyond two are dropped)."""
        keys: Keys = []
        for editor in (self.editors[name], self.alternates[name]):
            key = editor.keySequence()
            if not key.isEmpty() and all(key != k for k in keys):
                keys.append(key)
        self.editing[name] = keys
        self._check()

    def reset(self) -> None:
        """Every command back to its default keys (applied on OK)."""
        for name in self.editors:
            self.editing[name] = list(self.shortcuts.defaults[name])
            for index, editor in enumerate((self.editors[name], self.alternates[name])):
                editor.blockSignals(True)
                editor.setKeySequence(self._slot(self.editing[name], index))
                editor.blockSignals(False)
        self._check()

    def conflicts(self) -> dict[str, list[str]]:
        return conflicts(self.editing)

    def _check(self) -> None:
        found = self.conflicts()
        texts = {name: a.text().replace("&", "") for name, a in self.shortcuts.actions.items()}
        lines = [
            f"{QKeySequence(key).toString(NATIVE)} is used by " + " and ".join(texts[n] for n in names)
            for key, names in sorted(found.items())
        ]
        self.problem.setText("\n".join(lines))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not found)
        clashing = {name for names in found.values() for name in names}
        for row in range(self.table.rowCount()):
            item = self.table.item(row, self.COMMAND)
            bad = item.data(Qt.ItemDataRole.UserRole) in clashing
            item.setForeground(Qt.GlobalColor.red if bad else self.palette().text())

    def accept(self) -> None:
        if self.conflicts():
            return
        self.shortcuts.assign(self.editing)
        super().accept()
