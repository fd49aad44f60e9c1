"""Menus, toolbar and keyboard shortcuts of the main window, in one table-like place.

Every command is a QAction with its shortcut, so menus show the keys. The actions call the
window's commands (:class:`WindowCommands`), the tool box, the canvas, the scribbles and the
dataset exchange they are given; none of them holds logic of its own. A tool's tooltip names
its key and follows the shortcut (edited, reset, or restored from the settings at start-up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from segstudio.gui.canvas.canvas import Canvas
from segstudio.gui.exchange.dataset_exchange import ExchangeControl
from segstudio.gui.icons import set_command_icons, tool_icon
from segstudio.gui.panels.palette_panel import CLASS_KEYS
from segstudio.gui.recent import RecentProjects, fill_menu
from segstudio.gui.tools.class_picker import ClassPicker
from segstudio.gui.tools.sam_tool import ClickSegment
from segstudio.gui.tools.scribble_tools import ScribbleBrush, ScribbleEraser
from segstudio.gui.tools.scribbles import ScribbleController
from segstudio.gui.tools.toolbox import ToolBox
from segstudio.gui.tools.tools import (
    BoxCut,
    Brush,
    ColourFill,
    Eraser,
    Fill,
    Picker,
    Polygon,
    SuperpixelBrush,
)
from segstudio.io.project import ImageState

OBJECTS = (
    "A thing class's stroke joins the object it touches, else starts a new one; "
    "N: new anyway; Ctrl held at the press: into the object under the cursor"
)

TOOL_ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    (Brush.name, "&Brush", "B", f"Paint; [ and ] change the size. {OBJECTS}"),
    (Eraser.name, "&Eraser", "E", "Erase to unlabelled; [ and ] change the size"),
    (
        SuperpixelBrush.name,
        "&Superpixels",
        "S",
        f"Paint the superpixels the brush touches; [ and ] size. {OBJECTS}",
    ),
    (
        Polygon.name,
        "&Polygon",
        "P",
        "Click corners; double-click or Enter fills, Backspace undoes a corner, Esc cancels. "
        "Each polygon is a new object (Ctrl at the first corner: into the object under it)",
    ),
    (
        Fill.name,
        "Label &fill",
        "G",
        f"Fill the connected region of equal labels under the click (labels, not colours). {OBJECTS}",
    ),
    (
        ColourFill.name,
        "Colour fill (magic &wand)",
        "W",
        "Label the connected pixels whose colour is within the tolerance of the clicked one; "
        f"[ and ] change the tolerance. {OBJECTS}",
    ),
    (BoxCut.name, "Box to mask", "R", "Drag a box around an object; GrabCut labels it as a new object"),
    (Picker.name, "P&ick", "I", "Take the class and object under the click; strokes continue that object"),
    (
        ClickSegment.name,
        "Click to se&gment",
        "M",
        "SAM 2.1: click an object (right or Alt+click removes, drag a box); Enter keeps the mask as a "
        "new object, never over your labels (Shift+Enter: over them too); Esc clears",
    ),
    (
        ScribbleBrush.name,
        "S&cribble",
        "K",
        "Scribble classes; the pixel classifier labels the image after each pause (Ctrl+Z undoes a scribble)",
    ),
    (ScribbleEraser.name, "Scribble eraser", "Shift+K", "Erase scribbles; the labels stay"),
)


TOOL_GROUPS: tuple[tuple[str, ...], ...] = (
    (Brush.name, Eraser.name, SuperpixelBrush.name),
    (Polygon.name, BoxCut.name, ClickSegment.name),
    (Fill.name, ColourFill.name, Picker.name),
    (ScribbleBrush.name, ScribbleEraser.name),
)
"""The toolbar's and the Tools menu's groups (paint, outline an object, fill and pick, scribble);
a tool in no group goes last."""


def grouped_tools(tools: dict[str, QAction]) -> list[list[QAction]]:
    """The tool actions in their groups, in group order."""
    groups = [[tools[name] for name in group if name in tools] for group in TOOL_GROUPS]
    grouped = {name for group in TOOL_GROUPS for name in group}
    rest = [action for name, action in tools.items() if name not in grouped]
    return [group for group in [*groups, rest] if group]


class WindowCommands(Protocol):
    """The window's own commands that menus and keys call (opening, saving, editing)."""

    def choose_folder(self) -> None: ...
    def choose_image(self) -> None: ...
    def open_path(self, path: Path) -> bool: ...
    def save(self, state: ImageState | None = None) -> bool: ...
    def mark_reviewed(self) -> bool: ...
    def set_save_on_leave(self, on: bool) -> None: ...
    def step_image(self, step: int, to_label_only: bool = False) -> bool: ...
    def undo(self) -> None: ...
    def redo(self) -> None: ...
    def accept_prediction(self, current_class_only: bool) -> None: ...
    def delete_object_under_cursor(self) -> bool: ...
    def edit_shortcuts(self) -> object: ...
    def pick_class(self, position: int) -> None: ...
    def refine_with_sam(self) -> None: ...


@dataclass(frozen=True)
class Parts:
    """The window's parts whose commands the menus and the toolbar offer."""

    toolbox: ToolBox
    canvas: Canvas
    scribbles: ScribbleController
    exchange: ExchangeControl
    recent: RecentProjects
    class_picker: ClassPicker


@dataclass
class Actions:
    """The actions the window updates after creation (checked state, texts)."""

    tools: dict[str, QAction] = field(default_factory=dict)
    classes: list[QAction] = field(default_factory=list)
    only_unlabelled: QAction | None = None
    replace_human: QAction | None = None
    save_on_leave: QAction | None = None
    view_menu: QMenu | None = None
    recent_menu: QMenu | None = None


def _action(
    window: QMainWindow,
    text: str,
    slot: Callable[..., object] | None,
    shortcut: str | QKeySequence | list[QKeySequence] | None = None,
    checkable: bool = False,
) -> QAction:
    action = QAction(text, window)
    if isinstance(shortcut, list):
        action.setShortcuts(shortcut)
    elif shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    if slot is not None:
        (action.toggled if checkable else action.triggered).connect(slot)
    return action


def _follow_shortcut(action: QAction, tip: str) -> None:
    """Tooltip "Name (key): tip", rebuilt whenever the action changes (setShortcuts emits
    ``changed``), so it shows the key the user bound; setting the same text emits nothing."""

    def update() -> None:
        name = action.text().replace("&", "")
        key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{name} ({key}): {tip}" if key else f"{name}: {tip}")

    update()
    action.changed.connect(update)


def build(window: QMainWindow, commands: WindowCommands, parts: Parts) -> Actions:
    """Create the menus and the toolbar of ``window`` calling ``commands`` and ``parts``; returns
    the actions the window updates later."""
    actions = Actions()
    tools, canvas, scribbles, exchange = parts.toolbox, parts.canvas, parts.scribbles, parts.exchange
    menus = window.menuBar()

    file_menu = menus.addMenu("&File")
    open_project = _action(
        window, "&Open project or image folder…", commands.choose_folder, QKeySequence.StandardKey.Open
    )
    open_image = _action(window, "Open &image…", commands.choose_image, "Ctrl+Shift+O")
    save = _action(window, "&Save labels", lambda: commands.save(), QKeySequence.StandardKey.Save)
    reviewed = _action(window, "Save as &reviewed", commands.mark_reviewed, "Ctrl+R")
    quit_action = _action(window, "&Quit", window.close, "Ctrl+Q")
    file_menu.addActions([open_project, open_image])
    recent_menu = actions.recent_menu = file_menu.addMenu("Open &recent")
    recent_menu.aboutToShow.connect(lambda: fill_menu(recent_menu, parts.recent, commands.open_path))
    file_menu.addSeparator()
    actions.save_on_leave = _action(
        window, "Save when &leaving an image", commands.set_save_on_leave, checkable=True
    )
    actions.save_on_leave.setToolTip(
        "Save the labels when moving to another image or project, or quitting, without asking (as labelme)"
    )
    file_menu.addActions([save, reviewed, actions.save_on_leave])
    file_menu.addSeparator()
    keys = QKeySequence.listFromString
    file_menu.addActions(
        [
            _action(window, "&Next image", lambda: commands.step_image(1), keys("D; PgDown")),
            _action(window, "&Previous image", lambda: commands.step_image(-1), keys("Shift+D; PgUp")),
            _action(window, "Next image to &label", lambda: commands.step_image(1, to_label_only=True), "U"),
        ]
    )
    file_menu.addSeparator()
    file_menu.addAction(_action(window, "&Import dataset…", exchange.open_import, "Ctrl+I"))
    file_menu.addAction(_action(window, "&Export dataset…", exchange.open_export, "Ctrl+E"))
    file_menu.addSeparator()
    file_menu.addAction(quit_action)

    edit_menu = menus.addMenu("&Edit")
    undo = _action(window, "&Undo", commands.undo, "Ctrl+Z")
    redo = _action(window, "&Redo", commands.redo, [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    accept_all = _action(
        window, "Accept the &prediction", lambda: commands.accept_prediction(False), "Shift+A"
    )
    accept_class = _action(
        window, "Accept the prediction of the &current class", lambda: commands.accept_prediction(True), "A"
    )
    actions.replace_human = _action(window, "Accepting &replaces human labels", None, checkable=True)
    delete_text = "&Delete the object under the cursor"
    delete_object = _action(window, delete_text, commands.delete_object_under_cursor, keys("Del; Backspace"))
    edit_menu.addActions([undo, redo, delete_object])
    edit_menu.addSeparator()
    refine_text = "Refine the prediction's objects with &SAM"
    refine = _action(window, refine_text, commands.refine_with_sam)
    edit_menu.addActions([accept_all, accept_class, actions.replace_human, refine])
    edit_menu.addSeparator()
    edit_menu.addAction(_action(window, "&Keyboard shortcuts…", commands.edit_shortcuts))

    tool_menu = menus.addMenu("&Tools")
    group = QActionGroup(window)
    for name, text, key, tip in TOOL_ACTIONS:
        action = _action(window, text, lambda on, n=name: on and tools.set_tool(n), key, checkable=True)
        _follow_shortcut(action, tip)
        action.setStatusTip(tip)
        action.setIcon(tool_icon(name))
        group.addAction(action)
        actions.tools[name] = action
    actions.tools[tools.active.name].setChecked(True)
    for group_actions in grouped_tools(actions.tools):
        tool_menu.addActions(group_actions)
        tool_menu.addSeparator()
    actions.only_unlabelled = _action(
        window, "Only paint &unlabelled pixels", tools.set_only_unlabelled, "L", checkable=True
    )
    new_instance = _action(window, "&New instance", tools.new_instance, "N")
    _follow_shortcut(new_instance, "the next object is new even where it touches one of its class")
    tool_menu.addActions(
        [
            _action(window, "Bigger brush", tools.grow_brush, "]"),
            _action(window, "Smaller brush", tools.shrink_brush, "["),
            new_instance,
            actions.only_unlabelled,
        ]
    )
    tool_menu.addSeparator()
    tool_menu.addActions(
        [
            _action(window, "&Train the scribble classifier now", scribbles.train_now, "Ctrl+K"),
            _action(window, "&Clear the scribbles of this image", scribbles.clear),
        ]
    )

    label_menu = menus.addMenu("&Classes")
    for position, key in enumerate(CLASS_KEYS):
        action = _action(window, f"Class {key}", lambda _=False, p=position: commands.pick_class(p), key)
        actions.classes.append(action)
    label_menu.addActions(actions.classes)
    label_menu.addSeparator()
    label_menu.addActions(parts.class_picker.actions())

    view_menu = menus.addMenu("&View")
    fit = _action(window, "&Fit to window", canvas.fit, "F")
    view_menu.addActions(
        [
            fit,
            _action(window, "&Actual size (1:1)", canvas.actual_size, "Ctrl+1"),
            _action(window, "Zoom &in", lambda: canvas.zoom(1.25), QKeySequence.StandardKey.ZoomIn),
            _action(window, "Zoom &out", lambda: canvas.zoom(0.8), QKeySequence.StandardKey.ZoomOut),
        ]
    )
    view_menu.addSeparator()
    actions.view_menu = view_menu

    set_command_icons({"open": open_project, "save": save, "undo": undo, "redo": redo, "fit": fit})
    set_command_icons({"only unlabelled": actions.only_unlabelled})
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("main-toolbar")
    toolbar.addActions([open_project, save, undo, redo])
    for group_actions in grouped_tools(actions.tools):
        toolbar.addSeparator()
        toolbar.addActions(group_actions)
    toolbar.addSeparator()
    toolbar.addActions([actions.only_unlabelled, fit])
    return actions
