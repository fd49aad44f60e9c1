"""The application and tool icons shipped in ``segstudio.resources/icons`` (drawn for segstudio).

The window icon is built from the rendered PNG sizes (made by ``resources/icons/render_icons.py``
from the SVG), so it shows even where Qt's SVG icon engine is missing; tool icons are SVGs, drawn
by Qt's SVG icon engine at whatever size the toolbar asks.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QAction, QIcon

APP_ID = "org.segstudio.SegStudio"
APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def icons_dir() -> Path:
    return Path(str(resources.files("segstudio.resources") / "icons"))


def app_icon() -> QIcon:
    """segstudio's icon at every rendered size, for the window and the taskbar."""
    icon = QIcon()
    for size in APP_ICON_SIZES:
        icon.addFile(str(icons_dir() / f"{APP_ID}-{size}.png"), QSize(size, size))
    return icon


def tool_icon_path(tool_name: str) -> Path:
    """The SVG of a tool (``Tool.name``, e.g. ``"scribble eraser"`` -> ``tool-scribble-eraser.svg``)."""
    return icons_dir() / f"tool-{tool_name.replace(' ', '-')}.svg"


def tool_icon(tool_name: str) -> QIcon:
    """The toolbar icon of a tool; a null icon (the toolbar shows the name) when none is drawn."""
    path = tool_icon_path(tool_name)
    return QIcon(str(path)) if path.is_file() else QIcon()


def command_icon_path(command: str) -> Path:
    """The SVG of a toolbar command (``"open"``, ``"only unlabelled"`` -> ``command-only-unlabelled.svg``)."""
    return icons_dir() / f"command-{command.replace(' ', '-')}.svg"


def set_command_icons(actions: dict[str, QAction]) -> None:
    """Give the toolbar's commands (name -> action) their icons; the text stays the tooltip."""
    for command, action in actions.items():
        action.setIcon(QIcon(str(command_icon_path(command))))
