"""Recently opened projects: newest first, at most ten, no duplicates, missing paths pruned.

Kept in the user's settings when the window has some (see ``settings``), else in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from segstudio.gui.document.projects import PROJECT_SUBFOLDER
from segstudio.gui.settings import string_list

MAX_RECENT = 10
SETTINGS_KEY = "recent/projects"


class RecentProjects:
    """The recent-projects list; ``settings`` None keeps it for this session only."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings
        self._paths = [Path(p) for p in string_list(settings.value(SETTINGS_KEY) if settings else None)]

    def paths(self) -> list[Path]:
        """The recent paths that still exist, newest first (vanished ones are forgotten)."""
        existing = [path for path in self._paths if path.exists()]
        if existing != self._paths:
            self._store(existing)
        return existing

    def last(self) -> Path | None:
        paths = self.paths()
        return paths[0] if paths else None

    def add(self, path: Path) -> None:
        """Put ``path`` first (moving it up if already listed)."""
        path = Path(path).resolve()
        self._store([path, *(p for p in self._paths if p != path)][:MAX_RECENT])

    def clear(self) -> None:
        self._store([])

    def _store(self, paths: list[Path]) -> None:
        self._paths = paths
        if self.settings is not None:
            self.settings.setValue(SETTINGS_KEY, [str(p) for p in paths])
            self.settings.sync()


def fill_menu(menu: QMenu, recent: RecentProjects, open_path: Callable[[Path], object]) -> None:
    """Rebuild File > Open Recent from ``recent`` (called just before the menu shows)."""
    menu.clear()
    paths = recent.paths()
    for number, path in enumerate(paths, start=1):
        label = path.parent.name if path.name == PROJECT_SUBFOLDER else path.name
        action = QAction(f"&{number % 10} {label or path}", menu)
        action.setToolTip(str(path))
        action.setStatusTip(str(path))
        action.triggered.connect(lambda _=False, p=path: open_path(p))
        menu.addAction(action)
    if not paths:
        menu.addAction("No recent projects").setEnabled(False)
        return
    menu.addSeparator()
    menu.addAction("Clear the list", recent.clear)
