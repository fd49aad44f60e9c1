"""Edit > Keyboard shortcuts: every command listed, edited with real keys, conflicts refused, reset,
saved in the (test's) settings and applied when the next window starts."""

from __future__ import annotations

from gui_helpers import press_key
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QKeySequenceEdit, QToolBar

from segstudio.gui.settings import user_settings
from segstudio.gui.shortcuts import SETTINGS_GROUP, ShortcutsDialog, conflicts, menu_commands

PORTABLE = QKeySequence.SequenceFormat.PortableText


def _open_dialog(qtbot, window) -> ShortcutsDialog:
    action = next(a for a in window.shortcuts.actions.values() if a.text().startswith("&Keyboard shortcuts"))
    action.trigger()
    dialog = window.findChild(ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def _type_keys(qtbot, editor: QKeySequenceEdit, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Focus the editor and press a key combination in it, as a user would."""
    editor.clear()
    editor.setFocus()
    qtbot.keyClick(editor, key, modifier)


def _ok(dialog: ShortcutsDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_every_menu_command_is_listed_with_its_keys(qtbot, make_window, project_root):
    window = make_window(project_root)
    dialog = _open_dialog(qtbot, window)
    commands = menu_commands(window.menuBar())
    assert dialog.table.rowCount() == len(commands) == len(window.shortcuts.actions)
    texts = [dialog.table.item(row, 0).text() for row in range(dialog.table.rowCount())]
    assert "Save labels" in texts and "Superpixels" in texts and "Undo" in texts
    assert dialog.editors["superpixels"].keySequence().toString(PORTABLE) == "S"
    assert dialog.editors["save-labels"].keySequence() == QKeySequence(QKeySequence.StandardKey.Save)
    assert not conflicts(window.shortcuts.current()), "the defaults do not clash"
    dialog.reject()


def test_a_new_key_is_applied_saved_and_restored_in_the_next_window(qtbot, make_window, project_root):
    window = make_window(project_root)
    dialog = _open_dialog(qtbot, window)
    _type_keys(qtbot, dialog.editors["superpixels"], Qt.Key.Key_U, Qt.KeyboardModifier.ShiftModifier)
    assert dialog.editing["superpixels"][0].toString(PORTABLE) == "Shift+U"
    assert _ok(dialog).isEnabled()
    _ok(dialog).click()
    action = window.shortcuts.actions["superpixels"]
    assert action.shortcut().toString(PORTABLE) == "Shift+U"
    assert "Shift+U" in window.commands.tools["superpixel"].shortcut().toString(PORTABLE)
    press_key(qtbot, window, Qt.Key.Key_U, Qt.KeyboardModifier.ShiftModifier)
    assert window.toolbox.active.name == "superpixel"
    settings = user_settings()
    settings.beginGroup(SETTINGS_GROUP)
    assert settings.childKeys() == ["superpixels"]  # only what differs from the defaults
    settings.endGroup()

    again = make_window(project_root)
    assert again.shortcuts.actions["superpixels"].shortcut().toString(PORTABLE) == "Shift+U"
    assert again.shortcuts.defaults["superpixels"][0].toString(PORTABLE) == "S"


def test_a_conflict_is_named_and_blocks_ok(qtbot, make_window, project_root):
    window = make_window(project_root)
    dialog = _open_dialog(qtbot, window)
    _type_keys(qtbot, dialog.editors["superpixels"], Qt.Key.Key_B)  # the brush's key
    assert not _ok(dialog).isEnabled()
    assert "Brush" in dialog.problem.text() and "Superpixels" in dialog.problem.text()
    assert set(dialog.conflicts()["B"]) == {"brush", "superpixels"}
    dialog.accept()  # refused while in conflict
    assert dialog.isVisible()
    _type_keys(qtbot, dialog.editors["brush"], Qt.Key.Key_J)
    assert _ok(dialog).isEnabled() and dialog.problem.text() == ""
    _ok(dialog).click()
    assert window.shortcuts.actions["brush"].shortcut().toString(PORTABLE) == "J"
    assert window.shortcuts.actions["superpixels"].shortcut().toString(PORTABLE) == "B"


def test_reset_to_defaults_restores_every_key_and_clears_the_settings(qtbot, make_window, project_root):
    window = make_window(project_root)
    redo = window.shortcuts.actions["redo"]
    assert len(redo.shortcuts()) == 2
    window.shortcuts.assign(
        {"superpixels": [QKeySequence("Ctrl+Alt+S")], "redo": [QKeySequence("Ctrl+Alt+R")]}
    )
    dialog = _open_dialog(qtbot, window)
    dialog.reset_button.click()
    assert dialog.editors["superpixels"].keySequence().toString(PORTABLE) == "S"
    _ok(dialog).click()
    QApplication.processEvents()
    assert window.shortcuts.actions["superpixels"].shortcut().toString(PORTABLE) == "S"
    assert [k.toString(PORTABLE) for k in redo.shortcuts()] == ["Ctrl+Shift+Z", "Ctrl+Y"]
    settings = user_settings()
    settings.beginGroup(SETTINGS_GROUP)
    assert settings.childKeys() == []
    settings.endGroup()


def _tool_button_tip(window, tool: str) -> str:
    """The tooltip the user sees on the toolbar button of ``tool``."""
    toolbar = window.findChild(QToolBar, "main-toolbar")
    return toolbar.widgetForAction(window.commands.tools[tool]).toolTip()


def test_tool_tooltips_follow_the_bound_key(qtbot, make_window, project_root):
    window = make_window(project_root)
    assert _tool_button_tip(window, "superpixel").startswith("Superpixels (S): ")
    dialog = _open_dialog(qtbot, window)
    _type_keys(qtbot, dialog.editors["superpixels"], Qt.Key.Key_U, Qt.KeyboardModifier.ShiftModifier)
    _ok(dialog).click()
    tip = _tool_button_tip(window, "superpixel")
    assert tip.startswith("Superpixels (Shift+U): ") and "(S)" not in tip
    assert "Paint the superpixels" in tip  # the description stays

    again = make_window(project_root)  # the saved key, applied at start-up
    assert _tool_button_tip(again, "superpixel").startswith("Superpixels (Shift+U): ")

    dialog = window.edit_shortcuts()  # the menu's slot (the first dialog is closed, not yet deleted)
    dialog.reset_button.click()
    _ok(dialog).click()
    assert _tool_button_tip(window, "superpixel").startswith("Superpixels (S): ")
    window.shortcuts.assign({"brush": []})  # no key at all: no empty brackets
    assert _tool_button_tip(window, "brush").startswith("Brush: Paint")


def test_a_command_can_have_an_alternate_key(qtbot, make_window, project_root):
    window = make_window(project_root)
    dialog = _open_dialog(qtbot, window)
    redo = window.shortcuts.defaults["redo"]
    assert len(redo) >= 2  # Ctrl+Y and Ctrl+Shift+Z (more on some desktops): both are shown
    assert [dialog.editors["redo"].keySequence(), dialog.alternates["redo"].keySequence()] == redo[:2]
    _type_keys(qtbot, dialog.alternates["superpixels"], Qt.Key.Key_U, Qt.KeyboardModifier.ShiftModifier)
    assert [k.toString(PORTABLE) for k in dialog.editing["superpixels"]] == ["S", "Shift+U"]
    _type_keys(qtbot, dialog.alternates["brush"], Qt.Key.Key_B)  # the brush's own key again: once
    assert [k.toString(PORTABLE) for k in dialog.editing["brush"]] == ["B"] and _ok(dialog).isEnabled()
    _ok(dialog).click()
    shift, plain = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.NoModifier
    for key, modifier in ((Qt.Key.Key_S, plain), (Qt.Key.Key_U, shift)):
        window.toolbox.set_tool("brush")
        press_key(qtbot, window, key, modifier)
        assert window.toolbox.active.name == "superpixel"

    again = make_window(project_root)
    keys = again.shortcuts.actions["superpixels"].shortcuts()
    assert [k.toString(PORTABLE) for k in keys] == ["S", "Shift+U"]
