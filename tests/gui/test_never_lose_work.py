"""Saving, reopening, bad files, autosave and recovery, and the unsaved-work prompt, with real dialogs."""

from __future__ import annotations

import numpy as np
from gui_helpers import DOG, PERSON, answer_modal, drag, press_key, saves_landed, zoomed
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from segstudio.io.project import ImageState, Project

Button = QMessageBox.StandardButton


def _paint(qtbot, window, points=((10, 10), (40, 20))) -> None:
    window.toolbox.set_tool("brush")
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(4)
    drag(qtbot, window, list(points))


def test_save_close_reopen_gives_the_same_labels(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    _paint(qtbot, window)
    assert window.windowTitle().startswith("scene*")
    assert window.image_list.state_text("scene").endswith("(unsaved)")
    press_key(qtbot, window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saves_landed(qtbot, window)  # written on the writer thread
    assert not window.document.dirty and window.windowTitle().startswith("scene —")
    assert window.image_list.state_text("scene") == "edited"
    painted = window.labels.copy()
    window.close()
    assert not window.isVisible()

    again = make_window(project_root)
    assert again.image_name == "scene"
    for name in ("category", "instance", "provenance"):
        assert np.array_equal(getattr(again.labels, name), getattr(painted, name))


def test_save_as_reviewed_records_the_state(qtbot, make_window, project_root):
    window = make_window(project_root)
    press_key(qtbot, window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    saves_landed(qtbot, window)
    assert Project.open(project_root).entry("scene").state is ImageState.REVIEWED
    assert window.image_list.state_text("scene") == "reviewed"
    window.image_list.state_filter.setCurrentIndex(window.image_list.state_filter.findData("unlabelled"))
    assert window.image_list.visible_ids() == ["plain"]
    window.image_list.search.setText("sce")
    assert window.image_list.visible_ids() == []


def test_corrupt_label_file_shows_an_error_naming_it_and_the_window_goes_on(qtbot, make_window, project_root):
    window = make_window(project_root)
    bad = project_root / "labels" / "plain.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip file")
    window.open_image("plain")  # read on the loader thread: refused when it arrives
    box = window.findChild(QMessageBox)
    assert box is not None and "plain.npz" in box.text()
    assert box.windowModality() == Qt.WindowModality.WindowModal  # open(), not exec(): nothing blocks
    box.close()
    assert window.image_name == "scene"
    assert window.image_list.current_id() == "scene"
    before = window.labels.category.copy()
    _paint(qtbot, zoomed(window))  # still usable
    assert (window.labels.category != before).any()


def test_corrupt_image_file_shows_an_error_and_the_window_goes_on(qtbot, make_window, project_root):
    window = make_window(project_root)
    (project_root / "images" / "plain.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    rows = window.image_list.rows
    window.image_list.view.setCurrentIndex(rows.index(rows.row_of("plain"), 0))  # the user clicks it
    box = window.findChild(QMessageBox)
    assert box is not None and "plain.png" in box.text()
    box.close()
    assert window.image_name == "scene"


def test_corrupt_prediction_is_reported_and_the_image_opens_without_it(qtbot, make_window, project_root):
    (project_root / "predictions" / "scene.npz").write_bytes(b"garbage")
    window = make_window(project_root)
    assert window.image_name == "scene" and window.document.prediction is None
    box = window.findChild(QMessageBox)
    assert box is not None and "scene.npz" in box.text()
    box.close()


def test_autosave_then_recovery_after_the_window_is_dropped_unsaved(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    window.session.autosave_timer.setInterval(50)
    _paint(qtbot, window)
    journal = project_root / ".autosave" / "scene.npz"
    qtbot.waitUntil(journal.exists)
    edited = window.labels.copy()
    saved_before = Project.open(project_root).load_labels("scene")
    assert not np.array_equal(saved_before.category, edited.category)
    window.document.mark_saved()  # simulate a crash: drop the window, no prompt, no save
    window.hide()

    seen: list[str] = []
    answer_modal(Button.Yes, seen)  # "Recover"
    again = make_window(project_root, offer_recovery=True)
    qtbot.waitUntil(lambda: again.document.dirty)
    assert "scene" in seen[0]
    assert np.array_equal(again.labels.category, edited.category)
    assert again.windowTitle().startswith("scene*")
    assert again.save()
    saves_landed(qtbot, again)
    assert not journal.exists()
    assert np.array_equal(Project.open(project_root).load_labels("scene").category, edited.category)


def test_discarding_recovery_deletes_the_journal(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    _paint(qtbot, window)
    window.session.autosave_now()
    window.document.mark_saved()
    window.hide()
    journal = project_root / ".autosave" / "scene.npz"
    assert journal.exists()
    answer_modal(Button.Discard)
    again = make_window(project_root, offer_recovery=True)
    qtbot.waitUntil(lambda: not journal.exists())
    assert not again.document.dirty


def _asking(window):
    """Switch off File > Save when leaving an image: leaving unsaved work asks again."""
    window.commands.save_on_leave.trigger()
    assert not window.save_on_leave
    return window


def test_leaving_an_image_saves_it_without_asking_by_default(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    assert window.save_on_leave
    _paint(qtbot, window)
    painted = window.labels.category.copy()
    press_key(qtbot, window, Qt.Key.Key_D)  # next image: no dialog (the watchdog fails the test on one)
    assert window.image_name == "plain"
    saves_landed(qtbot, window)  # the save of "scene" lands on the writer thread
    assert window.image_list.state_text("scene") == "edited"
    assert np.array_equal(Project.open(project_root).load_labels("scene").category, painted)
    _paint(qtbot, window)
    press_key(qtbot, window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)  # quitting saves too
    assert not window.isVisible()
    assert (Project.open(project_root).load_labels("plain").category == DOG).any()


def test_the_save_on_leave_choice_is_remembered(qtbot, make_window, project_root):
    _asking(make_window(project_root))
    again = make_window(project_root)
    assert not again.save_on_leave


def test_quit_with_unsaved_work_asks_cancel_keeps_the_window_save_saves(qtbot, make_window, project_root):
    window = _asking(zoomed(make_window(project_root)))
    _paint(qtbot, window)
    seen: list[str] = []
    answer_modal(Button.Cancel, seen)
    press_key(qtbot, window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert seen and "scene" in seen[0]
    assert window.isVisible() and window.document.dirty

    answer_modal(Button.Save)
    assert window.close()
    assert not window.isVisible()
    assert np.array_equal(Project.open(project_root).load_labels("scene").category, window.labels.category)


def test_quit_and_discard_drops_edits_and_journal(qtbot, make_window, project_root):
    window = _asking(zoomed(make_window(project_root)))
    saved = window.labels.category.copy()
    _paint(qtbot, window)
    window.session.autosave_now()
    answer_modal(Button.Discard)
    assert window.close()
    assert not (project_root / ".autosave" / "scene.npz").exists()
    assert np.array_equal(Project.open(project_root).load_labels("scene").category, saved)


def test_switching_images_with_unsaved_work_asks_first(qtbot, make_window, project_root):
    window = _asking(zoomed(make_window(project_root)))
    _paint(qtbot, window)
    answer_modal(Button.Cancel)
    assert window.open_image("plain") is False
    assert window.image_name == "scene" and window.document.dirty
    assert window.image_list.current_id() == "scene"
    answer_modal(Button.Save)
    assert window.open_image("plain") is True
    assert window.image_name == "plain" and not window.document.dirty
    saves_landed(qtbot, window)
    assert window.image_list.state_text("scene") == "edited"
    window.toolbox.set_label(PERSON)
    assert window.open_image("scene")
    assert (window.labels.category == DOG).any()


def test_unreadable_autosave_is_reported_and_kept_aside(qtbot, make_window, project_root):
    """A damaged journal entry is not dropped in silence: a box names it, and its bytes are kept."""
    (project_root / ".autosave").mkdir(exist_ok=True)
    journal = project_root / ".autosave" / "scene.npz"
    journal.write_bytes(b"half a journal")
    window = make_window(project_root, offer_recovery=True)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None)
    box = window.findChild(QMessageBox)
    assert box.windowTitle() == "Unreadable autosave"
    assert "scene.npz" in box.informativeText() and "kept as scene.npz.damaged" in box.informativeText()
    assert (project_root / ".autosave" / "scene.npz.damaged").read_bytes() == b"half a journal"
    assert not journal.exists() and not window.document.dirty
    box.close()


def test_error_boxes_show_file_names_as_plain_escaped_text(qtbot, make_window, project_root):
    """A file name with markup or control characters is shown as it is, never formatted or raw."""
    window = make_window(project_root)
    box = window.show_error("Cannot open", "<b>bold</b>\x1b[31m.png: not an image")
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert box.text() == "<b>bold</b>\\x1b[31m.png: not an image"
    box.close()
