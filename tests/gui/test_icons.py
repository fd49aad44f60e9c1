"""The app icon and the tool icons: drawn for segstudio, shipped as package data, on the toolbar."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QToolBar

from segstudio.gui.actions import TOOL_ACTIONS
from segstudio.gui.icons import APP_ICON_SIZES, app_icon, command_icon_path, icons_dir, tool_icon_path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _render_icons_module():
    path = REPO_ROOT / "resources" / "icons" / "render_icons.py"
    spec = importlib.util.spec_from_file_location("render_icons", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_tool_and_command_icon_is_a_valid_svg(qapp) -> None:
    paths = [tool_icon_path(name) for name, *_ in TOOL_ACTIONS]
    paths += [command_icon_path(c) for c in ("open", "save", "undo", "redo", "fit", "only unlabelled")]
    for path in paths:
        assert path.is_file(), f"no icon {path.name}"
        assert QSvgRenderer(str(path)).isValid(), f"{path.name}: QtSvg cannot read it"


def test_the_toolbar_shows_tool_icons_and_tooltips_keep_names_and_keys(make_window, project_root) -> None:
    window = make_window(project_root)
    toolbar = window.findChild(QToolBar, "main-toolbar")
    for name, text, key, _tip in TOOL_ACTIONS:
        action = window.commands.tools[name]
        assert not action.icon().isNull(), name
        assert not action.icon().pixmap(QSize(24, 24)).isNull(), f"{name}: the SVG icon engine drew nothing"
        button = toolbar.widgetForAction(action)
        assert button is not None and button.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
        assert action.toolTip().startswith(f"{text.replace('&', '')} ({key}): "), action.toolTip()
    commands = [a for a in toolbar.actions() if not a.isSeparator()]
    assert len(commands) > len(TOOL_ACTIONS)
    assert not [a.text() for a in commands if a.icon().isNull()], "toolbar commands shown as words"


def test_the_app_icon_has_every_size(qapp) -> None:
    icon = app_icon()
    sizes = {size.width() for size in icon.availableSizes()}
    assert sizes == set(APP_ICON_SIZES)
    assert icon.pixmap(QSize(48, 48)).width() == 48


def test_the_committed_pngs_are_the_svg_rendered(qapp, tmp_path: Path) -> None:
    """``resources/icons/render_icons.py`` was run after the SVG's last edit (same picture, allowing
    for anti-aliasing differences between Qt versions)."""
    render_icons = _render_icons_module()
    for size in APP_ICON_SIZES:
        out = tmp_path / f"{size}.png"
        assert render_icons.render(icons_dir() / f"{render_icons.APP_ID}.svg", size).save(str(out))
        fresh = cv2.imread(str(out), cv2.IMREAD_UNCHANGED).astype(np.int16)
        committed = cv2.imread(str(render_icons.png_path(size)), cv2.IMREAD_UNCHANGED)
        assert committed is not None and committed.shape == (size, size, 4), size
        difference = np.abs(fresh - committed)
        assert difference.mean() < 2.0 and np.percentile(difference, 99) < 40, size
