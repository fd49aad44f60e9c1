"""Picking classes from the keyboard (issue 16): type in the class search and Enter, the active
class shown with its colour in the status bar, recently used classes on Alt+1..Alt+5."""

from __future__ import annotations

from gui_helpers import BACKGROUND, CAT, DOG, PALETTE, PERSON, drag, press_key, zoomed
from PySide6.QtCore import Qt

ALT = Qt.KeyboardModifier.AltModifier


def _rgb_text(category: int) -> str:
    r, g, b = PALETTE[category].color
    return f"rgb({r},{g},{b})"


def test_typing_in_the_search_and_enter_picks_the_first_match(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    search = window.palette_panel.search
    qtbot.waitUntil(search.hasFocus)  # Ctrl+F took the keyboard to the search
    qtbot.keyClicks(search, "pers")
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert window.toolbox.settings.category == PERSON
    assert not search.hasFocus()  # the keyboard is back with the window's shortcuts
    drag(qtbot, window, [(10, 10), (20, 10)])
    assert int(window.labels.category[10, 15]) == PERSON

    search.setFocus()
    search.selectAll()
    qtbot.keyClicks(search, "o")  # "o" matches several classes: the first shown is taken
    qtbot.keyClick(search, Qt.Key.Key_Enter)
    first = next(c for c in PALETTE.classes if "o" in c.name)
    assert window.toolbox.settings.category == first.id

    search.setFocus()
    search.selectAll()
    qtbot.keyClicks(search, "zzz")  # nothing matches: nothing changes
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert window.toolbox.settings.category == first.id


def test_the_active_class_shows_with_its_colour_while_the_list_is_filtered(qtbot, make_window, project_root):
    window = make_window(project_root)
    search = window.palette_panel.search
    search.setFocus()
    qtbot.keyClicks(search, "dog")
    qtbot.keyClick(search, Qt.Key.Key_Return)
    label = window.class_picker.label
    assert "dog" in label.text() and _rgb_text(DOG) in label.text()
    assert label.isVisible()
    press_key(qtbot, window, Qt.Key.Key_9)  # key 9: the ninth class, cat, hidden by the filter
    assert window.toolbox.settings.category == CAT
    assert window.palette_panel.list.item(CAT).isHidden()
    assert "cat" in label.text() and _rgb_text(CAT) in label.text()


def test_recent_classes_have_quick_keys(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    press_key(qtbot, window, Qt.Key.Key_1)  # background
    window.palette_panel.search.setFocus()
    qtbot.keyClicks(window.palette_panel.search, "person")
    qtbot.keyClick(window.palette_panel.search, Qt.Key.Key_Return)
    press_key(qtbot, window, Qt.Key.Key_9)  # cat
    assert window.class_picker.recent[:2] == [PERSON, BACKGROUND]
    press_key(qtbot, window, Qt.Key.Key_1, ALT)  # the previous class
    assert window.toolbox.settings.category == PERSON
    press_key(qtbot, window, Qt.Key.Key_1, ALT)  # and back: Alt+1 toggles between the last two
    assert window.toolbox.settings.category == CAT
    press_key(qtbot, window, Qt.Key.Key_2, ALT)
    assert window.toolbox.settings.category == BACKGROUND
    names = [action.text() for action in window.class_picker.recent_actions[:2]]
    assert names == ["Recent: cat", "Recent: person"]  # shown in the Classes menu with their keys
    press_key(qtbot, window, Qt.Key.Key_5, ALT)  # nothing that far back: says so, changes nothing
    assert window.toolbox.settings.category == BACKGROUND
    assert "No recent class 5" in window.statusBar().currentMessage()
