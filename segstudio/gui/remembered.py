"""What the window remembers between sessions, in the user's settings (``gui.settings``).

- The window's geometry and its layout (which docks are shown, where, their sizes and tabs,
  the toolbar): Qt's ``saveGeometry``/``saveState``, written when the window closes and restored
  when the next one is built. ``LAYOUT_VERSION`` is bumped when the docks change, so an old
  layout is dropped instead of restored half-right.
- The brush size, for every project.
- Per project (keyed by its folder): the last tool and class, restored when it opens again.

A window built without settings (tests, benchmarks) remembers nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QSettings
from PySide6.QtWidgets import QMainWindow

from segstudio.gui.tools.toolbox import ToolBox

GEOMETRY_KEY = "window/geometry"
STATE_KEY = "window/state"
LAYOUT_VERSION = 2
"""1: the layout before the docks were tabbed (issue 16); never restored."""
RADIUS_KEY = "tools/brush-radius"
PROJECTS_GROUP = "projects"


def restore_layout(window: QMainWindow, settings: QSettings | None) -> bool:
    """Give ``window`` the geometry and layout it had when it last closed; False when there is none
    (or it is from an older layout): the window keeps its defaults."""
    if settings is None:
        return False
    geometry, state = settings.value(GEOMETRY_KEY), settings.value(STATE_KEY)
    if not isinstance(geometry, QByteArray) or not isinstance(state, QByteArray):
        return False
    return window.restoreGeometry(geometry) and window.restoreState(state, LAYOUT_VERSION)


def save_layout(window: QMainWindow, settings: QSettings | None) -> None:
    if settings is not None:
        settings.setValue(GEOMETRY_KEY, window.saveGeometry())
        settings.setValue(STATE_KEY, window.saveState(LAYOUT_VERSION))


def project_key(root: Path) -> str:
    """The settings group of a project folder: a digest of its resolved path (any characters)."""
    digest = hashlib.sha1(str(Path(root).resolve()).encode("utf-8")).hexdigest()[:16]
    return f"{PROJECTS_GROUP}/{digest}"


class ToolMemory(QObject):
    """Keeps the brush size and, for the project open, its tool and class as they change."""

    def __init__(self, toolbox: ToolBox, settings: QSettings | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.toolbox, self.settings = toolbox, settings
        self._project: str | None = None
        """The open project's settings group; None while none is open (or one is being opened)."""
        self._written: dict[str, object] = {}
        if settings is not None:
            radius = settings.value(RADIUS_KEY, None)
            try:
                if radius is not None:
                    toolbox.set_radius(float(radius))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                pass  # an unreadable setting: the default size
        toolbox.settings_changed.connect(self._changed)
        toolbox.tool_changed.connect(self._changed)

    def leave_project(self) -> None:
        """Stop recording for the project open now (another is being opened: its palette and
        tool arrive before :meth:`open_project`)."""
        self._project = None

    def open_project(self, root: Path) -> None:
        """Record for the project at ``root`` from now on, after choosing its last tool and class
        (those it still has)."""
        settings, toolbox = self.settings, self.toolbox
        if settings is None:
            return
        group = project_key(root)
        tool = settings.value(f"{group}/tool", "", type=str)
        category = settings.value(f"{group}/class", -1, type=int)
        if tool in toolbox.tools and tool != toolbox.active.name:
            toolbox.set_tool(tool)  # type: ignore[arg-type]
        if category in toolbox.palette and category != toolbox.settings.category:
            toolbox.set_label(category)  # type: ignore[arg-type]
        self._project = group
        settings.setValue(f"{group}/folder", str(Path(root).resolve()))
        self._changed()

    def _changed(self) -> None:
        settings = self.settings
        if settings is None:
            return
        self._put(RADIUS_KEY, float(self.toolbox.settings.radius))
        if self._project is not None:
            self._put(f"{self._project}/tool", self.toolbox.active.name)
            if self.toolbox.settings.category in self.toolbox.palette:
                self._put(f"{self._project}/class", int(self.toolbox.settings.category))

    def _put(self, key: str, value: object) -> None:
        """Write only what changed (the tool box says "changed" at every stroke)."""
        assert self.settings is not None
        if self._written.get(key) != value:
            self._written[key] = value
            self.settings.setValue(key, value)
