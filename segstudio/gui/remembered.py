"""What the window remembers between sessions, in the user's settings (``gui.settings``).

- The window's geometry and its layout (which docks are shown, where, their sizes and tabs,
  the toolbar): Qt's ``saveGeometry``/``saveState``, written when the window closes and restored
  when the next one is built. ``LAYOUT_VERSION`` is bumped when the docks change, so an old
  layout is dropped instead of restored half-right.
- The brush size, for every project.
- Per project (keyed by its folder): the last tool and class, restored when it opens again.

A dock with heavy work behind it (the Models dock's list imports torch, the depth stream loads its
forest and reads frames) that a layout brings back stays idle until the user turns to it
(:func:`hold_until_used`): start-up stays quick and quiet whatever was open at the last close.

A window built without settings (tests, benchmarks) remembers nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QWidget

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


USER_INPUT = frozenset(
    {
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.KeyPress,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)


class UntilUsed(QObject):
    """Calls ``release`` once the user turns to ``docks`` restored by a layout: a click, key or
    wheel inside one of them, its View menu toggle, or one coming to the front after the user did
    anything at all (a click on its tab). Showing the window at start-up is none of these."""

    def __init__(self, docks: Sequence[QDockWidget], release: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self.docks, self._release = list(docks), release
        self.user_acted = False
        """An input event reached the application since the hold began (the window is up)."""
        self.released = False
        for dock in self.docks:
            dock.toggleViewAction().triggered.connect(self._toggled)
            dock.visibilityChanged.connect(self._visible)
        app = QApplication.instance()
        assert app is not None
        app.installEventFilter(self)  # removed at release: no cost for the rest of the session

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in USER_INPUT:
            self.user_acted = True
            if isinstance(watched, QWidget) and any(dock.isAncestorOf(watched) for dock in self.docks):
                self.release()
        return False

    def _toggled(self, shown: bool) -> None:
        if shown:
            self.release()

    def _visible(self, visible: bool) -> None:
        if visible and self.user_acted:
            self.release()

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        for dock in self.docks:
            dock.toggleViewAction().triggered.disconnect(self._toggled)
            dock.visibilityChanged.disconnect(self._visible)
        self._release()


def hold_until_used(
    window: QMainWindow, docks: Sequence[QDockWidget], hold: Callable[[], None], release: Callable[[], None]
) -> UntilUsed | None:
    """After :func:`restore_layout`: if it brought back one of ``docks``, ``hold`` their feature
    (it does nothing heavy when shown) and ``release`` it when the user turns to them."""
    if all(dock.isHidden() for dock in docks):
        return None
    hold()
    return UntilUsed(docks, release, window)


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
