"""Picking classes by keyboard beyond keys 1-9/0: recently used classes on Alt+1..Alt+5, the
class search on Ctrl+F, and the active class always shown with its colour in the status bar.

It follows the tool box (``settings_changed``), whatever chose the class (a key, the list, the
picker, the search), so the recent list and the status bar never disagree with what paints.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QWidget

from segstudio.gui.tools.toolbox import ToolBox

RECENT_KEYS = ("Alt+1", "Alt+2", "Alt+3", "Alt+4", "Alt+5")
"""Alt+1 is the class used before the current one, Alt+2 the one before that, and so on."""
SEARCH_KEY = "Ctrl+F"
RECENT_TIP = "Recently used classes: Alt+1 the previous class, Alt+2 the one before, up to Alt+5"


class ActiveClassLabel(QLabel):
    """The class the next stroke paints: a colour swatch and its name (shown even when the
    classes list is filtered or its dock is closed)."""

    def set_class(self, name: str, color: tuple[int, int, int] | None) -> None:
        if color is None:
            self.setText(f"Class: {name}")
            return
        r, g, b = color
        self.setText(
            f'<span style="background-color: rgb({r},{g},{b}); color: rgb({r},{g},{b})">'
            f"&nbsp;&nbsp;&nbsp;&nbsp;</span>&nbsp;{_escape(name)}"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ClassPicker(QObject):
    """Recently used classes (most recent first, the current class excluded) and their actions."""

    recent_changed = Signal()

    def __init__(self, toolbox: ToolBox, focus_search: Callable[[], None], parent: QWidget) -> None:
        super().__init__(parent)
        self.toolbox = toolbox
        self.label = ActiveClassLabel()
        self.label.setToolTip(f"The class that is painted. {RECENT_TIP}; {SEARCH_KEY} searches the classes")
        self.recent: list[int] = []
        """Classes used before the current one, most recent first."""
        self._current: int | None = None
        self.recent_actions: list[QAction] = []
        for position, key in enumerate(RECENT_KEYS):
            action = QAction(f"Recent class {position + 1}", parent)
            action.setShortcut(QKeySequence(key))
            action.triggered.connect(lambda _=False, p=position: self.pick_recent(p))
            self.recent_actions.append(action)
        self.search_action = QAction("&Search classes…", parent)
        self.search_action.setShortcut(QKeySequence(SEARCH_KEY))
        self.search_action.setToolTip("Type part of a class name, Enter picks the first match")
        self.search_action.triggered.connect(focus_search)
        toolbox.settings_changed.connect(self._follow)
        self._follow()

    def actions(self) -> list[QAction]:
        """For the Classes menu: the search, then the recent classes."""
        return [self.search_action, *self.recent_actions]

    def pick_recent(self, position: int) -> bool:
        """Paint the ``position``-th most recently used class (0: the previous one)."""
        if position >= len(self.recent):
            self.toolbox.message.emit(f"No recent class {position + 1} yet: {RECENT_TIP}")
            return False
        self.toolbox.set_label(self.recent[position])
        return True

    def _follow(self) -> None:
        palette, category = self.toolbox.palette, self.toolbox.settings.category
        known = category in palette
        self.label.set_class(
            palette[category].name if known else "–", palette[category].color if known else None
        )
        self.recent = [c for c in self.recent if c in palette]
        if not known or category == self._current:
            self._update_actions()
            return
        if self._current is not None and self._current in palette:
            self.recent = [self._current, *(c for c in self.recent if c not in (self._current, category))]
        else:
            self.recent = [c for c in self.recent if c != category]
        del self.recent[len(RECENT_KEYS) :]
        self._current = category
        self._update_actions()
        self.recent_changed.emit()

    def _update_actions(self) -> None:
        palette = self.toolbox.palette
        for position, action in enumerate(self.recent_actions):
            shown = position < len(self.recent)
            action.setText(
                f"Recent: {palette[self.recent[position]].name}" if shown else f"Recent class {position + 1}"
            )
