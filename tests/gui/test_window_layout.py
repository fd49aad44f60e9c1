"""The window's layout (issue 16): docks that share a side are tabbed and keep sensible sizes,
the toolbar hides nothing at 1024 px, the status bar names the class once. The real window,
driven through its menus and keys with real mouse and keyboard events."""

from __future__ import annotations

from gui_helpers import MODELS_WAIT_MS, choose, press_key, saves_landed, settled, view_point, zoomed
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QTabBar, QToolBar, QToolButton, QWidget

from segstudio.core.palette import builtin_palette
from segstudio.gui.actions import TOOL_GROUPS
from segstudio.gui.main_window import MainWindow
from segstudio.gui.modelling.model_backend import FIRST_DOWNLOAD
from segstudio.gui.panels.palette_panel import MIN_VISIBLE_CLASSES
from segstudio.io.project import Project

SMALL_SCREEN = (1024, 700)
"""A 1024x768 screen less the desktop's panels and the window's frame."""


def visible_rows(window: MainWindow) -> int:
    """Rows of the class list on screen whole."""
    view = window.palette_panel.list
    inside = view.viewport().rect()
    return sum(inside.contains(view.visualItemRect(view.item(row))) for row in range(view.count()))


def on_screen(widget: QWidget) -> bool:
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def small(qtbot, window: MainWindow) -> MainWindow:
    window.resize(*SMALL_SCREEN)
    qtbot.waitUntil(lambda: window.width() == SMALL_SCREEN[0])
    QApplication.processEvents()
    return window


def test_opening_the_models_and_depth_docks_keeps_the_class_list(qtbot, make_window, project_root) -> None:
    window = small(qtbot, make_window(project_root))
    assert visible_rows(window) >= MIN_VISIBLE_CLASSES
    models = window.models.models_dock
    choose(qtbot, window, "View", "Models")
    qtbot.waitUntil(models.isVisible)
    assert window.iou_dock in window.tabifiedDockWidgets(models)  # a tab beside the IoU, not a row
    assert visible_rows(window) >= MIN_VISIBLE_CLASSES
    assert models.widget().height() >= 250 and models.widget().width() >= 290

    choose(qtbot, window, "View", "Depth stream")
    qtbot.waitUntil(window.depth_dock.isVisible)
    assert window.iou_dock in window.tabifiedDockWidgets(window.depth_dock)
    QApplication.processEvents()
    assert visible_rows(window) >= MIN_VISIBLE_CLASSES
    preview = window.depth_view.canvas
    assert preview.width() >= 340 and preview.height() >= 200  # not a 250x110 strip
    choose(qtbot, window, "View", "Depth stream")  # hidden again: the stream stops
    qtbot.waitUntil(lambda: not window.depth_dock.isVisible())


def test_the_docks_beside_the_iou_are_tabs_chosen_by_a_click(qtbot, make_window, project_root) -> None:
    window = small(qtbot, make_window(project_root))
    choose(qtbot, window, "View", "Models")
    qtbot.waitUntil(lambda: on_screen(window.models.models_panel))  # in front of the IoU
    assert not on_screen(window.iou_panel)
    bar = next(b for b in window.findChildren(QTabBar) if b.isVisible() and b.count() > 1)
    assert _tab_texts(bar) == ["IoU", "Models"]  # Train and Depth stream: closed, so no tab
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(0).center())
    qtbot.waitUntil(lambda: on_screen(window.iou_panel))
    assert not on_screen(window.models.models_panel)


def _tab_texts(bar) -> list[str]:
    return [bar.tabText(i) for i in range(bar.count())]


def test_the_toolbar_hides_nothing_at_1024_px_and_groups_the_tools(qtbot, make_window, project_root) -> None:
    window = small(qtbot, make_window(project_root))
    toolbar = window.findChild(QToolBar, "main-toolbar")
    extension = [b for b in toolbar.findChildren(QToolButton) if b.objectName() == "qt_toolbar_ext_button"]
    assert not any(button.isVisible() for button in extension)  # no » with tools behind it
    for action in toolbar.actions():
        if action.isSeparator():
            continue
        button = toolbar.widgetForAction(action)
        assert button.isVisible() and toolbar.rect().contains(button.geometry()), action.text()
        assert (
            not button.icon().isNull() and button.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
        )
        assert action.toolTip()  # an icon says what it is when pointed at
    # the tools come in their groups, a separator between groups
    items = toolbar.actions()
    tools = {action: name for name, action in window.commands.tools.items()}
    runs: list[list[str]] = [[]]
    for action in items:
        if action.isSeparator():
            runs.append([])
        elif action in tools:
            runs[-1].append(tools[action])
    assert [tuple(run) for run in runs if run] == list(TOOL_GROUPS)


def test_the_status_bar_names_the_class_once(qtbot, make_window, project_root) -> None:
    window = make_window(project_root)
    press_key(qtbot, window, Qt.Key.Key_2)  # VOC's "aeroplane", a thing class
    texts = [label.text() for label in window.statusBar().findChildren(QLabel) if label.isVisible()]
    assert sum("aeroplane" in text for text in texts) == 1
    assert "aeroplane" in window.class_picker.label.text()
    assert window.tool_label.text().startswith("brush")
    assert "(new or touched)" in window.tool_label.text()  # the next object, beside the class


def test_commands_with_nothing_to_act_on_say_why(qtbot, make_window, tmp_path) -> None:
    empty = tmp_path / "empty"
    Project.create(empty, builtin_palette("voc"), name="empty")
    window = make_window(empty)
    assert window.document is None
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert "nothing to save" in window.statusBar().currentMessage()
    choose(qtbot, window, "Models", "Cancel pre-labelling")
    assert window.statusBar().currentMessage() == "No pre-labelling batch is running"


def test_the_models_dock_needs_no_sideways_scrolling_at_1024_px(qtbot, make_window, project_root) -> None:
    """The model list's long entries ("lraspp_mobilenet_v3_large  (semantic, 21 classes, weights
    missing)") are elided in the closed list, not widening the dock past its place."""
    window = small(qtbot, make_window(project_root))
    window.size_docks()
    choose(qtbot, window, "View", "Models")
    qtbot.waitUntil(lambda: window.models.catalog.loaded, timeout=MODELS_WAIT_MS)
    panel = window.models.models_panel
    for name in (FIRST_DOWNLOAD, max((m.name for m in window.models.catalog.models), key=len)):
        panel.select_model(name)
        QApplication.processEvents()
        scroll = window.models.models_dock.widget()
        assert not scroll.horizontalScrollBar().isVisible(), name
        assert panel.width() <= scroll.viewport().width()
        assert len(panel.model_combo.currentText()) > 40  # the whole entry is still there (elided on screen)


def test_a_long_status_message_is_shown_whole_at_1024_px(qtbot, make_window, project_root) -> None:
    """The tool and cursor readouts make room for a message they would cut; the class stays."""
    window = small(qtbot, zoomed(make_window(project_root)))
    bar = window.statusBar()
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 30, 30))  # a cursor readout to show
    qtbot.waitUntil(lambda: window.cursor_label.text() != "")
    press_key(qtbot, window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # a short message
    saves_landed(qtbot, window)  # "Saved" when the write has landed
    assert bar.currentMessage().startswith("Saved") and window.cursor_label.isVisible()
    for _ in range(2):  # the second time there is nothing left to accept
        press_key(qtbot, window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
        settled(qtbot, window)
    message = bar.currentMessage()
    assert message.startswith("Nothing to accept") and "Edit > Accepting" in message
    QApplication.processEvents()
    assert not window.cursor_label.isVisible() and not window.tool_label.isVisible()
    assert window.class_picker.label.isVisible()
    room = window.class_picker.label.geometry().left()  # the message is drawn left of the swatch
    assert bar.fontMetrics().horizontalAdvance(message) < room
    bar.clearMessage()
    assert window.cursor_label.isVisible() and window.tool_label.isVisible()


def test_another_image_forgets_the_last_images_cursor_readout(qtbot, make_window, project_root) -> None:
    """No stale "x, y, class" of the image just left, and Delete does not act at that point."""
    window = make_window(project_root)
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 100, 40))
    qtbot.waitUntil(lambda: "cat" in window.cursor_label.text())
    press_key(qtbot, window, Qt.Key.Key_D)  # the next image, saved on the way
    qtbot.waitUntil(lambda: window.image_name == "plain")
    assert window.cursor_label.text() == ""
    press_key(qtbot, window, Qt.Key.Key_Delete)
    assert window.statusBar().currentMessage().startswith("Point at an object")
