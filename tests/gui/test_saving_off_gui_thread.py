"""Saving labels on the writer thread (``gui.document.label_saves``), driven through the real window:
real files, the real SQLite project, the real writer thread. The document counts as saved only when
the write lands; whatever reads the file next waits for it; a failed write keeps the edits."""

from __future__ import annotations

import shutil
import threading

import numpy as np
from gui_helpers import (
    CAT,
    DOG,
    PERSON,
    brush_stroke,
    export_from_menu,
    open_boxes,
    press_key,
    saves_landed,
    zoomed,
)
from PySide6.QtCore import Qt

from segstudio.core.labels import LabelMap
from segstudio.io.export import ExportFormat
from segstudio.io.project import ImageState, Project
from segstudio.io.semantic_png import read_label_values

HOLD_S = 10.0
WAIT_MS = 20000


def _held_saves(window) -> tuple[threading.Event, list[threading.Thread]]:
    """Make the project's label saves wait for the returned event (then write for real), noting
    the thread each ran on; a GUI thread that waited for one would hang until ``HOLD_S``."""
    project, release, threads = window.project, threading.Event(), []
    save_labels = project.save_labels

    def held(image_id: str, labels: LabelMap, state: ImageState = ImageState.EDITED) -> None:
        threads.append(threading.current_thread())
        release.wait(HOLD_S)
        save_labels(image_id, labels, state)

    project.save_labels = held
    return release, threads


def _save_key(qtbot, window) -> None:
    press_key(qtbot, window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def _painted_and_saving(qtbot, window) -> tuple[threading.Event, list[threading.Thread], LabelMap]:
    """A stroke, then Ctrl+S with the write held (``_held_saves``); the labels as saved."""
    release, threads = _held_saves(window)
    brush_stroke(qtbot, window)
    painted = window.labels.copy()
    _save_key(qtbot, window)
    return release, threads, painted


def _release_soon(release: threading.Event) -> None:
    """Let the held write go on in 0.2 s, from another thread: the GUI thread may be waiting for it."""
    timer = threading.Timer(0.2, release.set)
    timer.daemon = True
    timer.start()


def _saved_category(root) -> np.ndarray:
    return Project.open(root).load_labels("scene").category


def test_save_returns_at_once_and_marks_saved_only_when_the_write_lands(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    release, threads, painted = _painted_and_saving(qtbot, window)
    qtbot.waitUntil(lambda: bool(threads))  # the write runs, held, on another thread
    assert threads[0] is not threading.main_thread()
    assert window.document.dirty and window.windowTitle().startswith("scene*")  # not landed yet
    assert window.image_list.state_text("scene").endswith("(unsaved)")
    release.set()
    saves_landed(qtbot, window)
    assert not window.document.dirty and window.windowTitle().startswith("scene —")
    assert window.image_list.state_text("scene") == "edited"
    assert np.array_equal(_saved_category(project_root), painted.category)


def test_save_navigate_and_come_back_shows_the_saved_labels(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    release, _, painted = _painted_and_saving(qtbot, window)
    press_key(qtbot, window, Qt.Key.Key_D)  # to "plain" while the save is still held
    assert window.image_name == "plain" and window.session.saves.pending("scene") is not None
    _release_soon(release)  # lands while coming back waits for it
    assert window.open_image("scene")
    assert window.image_name == "scene" and not window.document.dirty
    for name in ("category", "instance", "provenance"):
        assert np.array_equal(getattr(window.labels, name), getattr(painted, name))
    assert window.image_list.state_text("scene") == "edited"


def test_save_then_close_loses_nothing(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    release, _, painted = _painted_and_saving(qtbot, window)
    _release_soon(release)
    assert window.close()  # waits for the save to land
    assert not window.isVisible()
    assert np.array_equal(_saved_category(project_root), painted.category)
    assert not (project_root / ".autosave" / "scene.npz").exists()


def test_an_edit_right_after_saving_stays_unsaved_and_the_file_holds_the_saved_copy(
    qtbot, make_window, project_root
):
    window = zoomed(make_window(project_root))
    window.session.autosave_timer.setInterval(50)
    release, _ = _held_saves(window)
    brush_stroke(qtbot, window)
    saved = window.labels.copy()
    _save_key(qtbot, window)
    brush_stroke(qtbot, window, CAT, ((10, 60), (60, 60)))  # while the save is on its way
    after = window.labels.copy()
    release.set()
    saves_landed(qtbot, window)
    assert window.document.dirty and window.windowTitle().startswith("scene*")
    assert window.image_list.state_text("scene").endswith("(unsaved)")
    assert np.array_equal(_saved_category(project_root), saved.category)
    journal = project_root / ".autosave" / "scene.npz"
    qtbot.waitUntil(journal.exists)  # journaling goes on once the save landed
    window.session.journal.settle(keep_waiting=True)
    assert np.array_equal(Project.open(project_root).recover("scene").category, after.category)


def test_two_saves_in_a_row_the_later_wins(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    release, _ = _held_saves(window)
    brush_stroke(qtbot, window)
    assert window.save()
    brush_stroke(qtbot, window, PERSON, ((10, 40), (70, 40)))
    assert window.save()
    assert window.document.dirty
    latest = window.labels.copy()
    release.set()
    saves_landed(qtbot, window)
    assert not window.document.dirty
    assert np.array_equal(_saved_category(project_root), latest.category)


def test_mark_reviewed_then_save_keeps_the_reviewed_state(qtbot, make_window, project_root):
    window = make_window(project_root)
    release, _ = _held_saves(window)
    press_key(qtbot, window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    _save_key(qtbot, window)  # nothing new: the reviewed save on its way already holds it
    release.set()
    saves_landed(qtbot, window)
    assert Project.open(project_root).entry("scene").state is ImageState.REVIEWED
    assert window.image_list.state_text("scene") == "reviewed"


def _block_the_labels_file(project_root):
    """Replace the saved labels file by a folder: the rename onto it fails."""
    target = project_root / "labels" / "scene.npz"
    target.unlink()
    target.mkdir()
    (target / "keep").write_text("a folder where the labels file should be")
    return target


def test_a_failed_save_keeps_the_edits_says_why_and_a_later_save_succeeds(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    target = _block_the_labels_file(project_root)
    brush_stroke(qtbot, window)
    painted = window.labels.copy()
    _save_key(qtbot, window)
    qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
    box = open_boxes(window)[0]
    assert box.windowTitle() == "Cannot save"
    assert str(target) in box.text() and "journal" in box.text()
    box.close()
    assert window.document.dirty and window.windowTitle().startswith("scene*")
    assert np.array_equal(Project.open(project_root).recover("scene").category, painted.category)

    shutil.rmtree(target)  # the user fixes the folder and saves again
    _save_key(qtbot, window)
    saves_landed(qtbot, window)
    assert not open_boxes(window)
    assert not window.document.dirty
    assert np.array_equal(_saved_category(project_root), painted.category)
    assert not (project_root / ".autosave" / "scene.npz").exists()


def test_a_failed_save_on_leaving_brings_the_edits_back_from_the_journal(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    _block_the_labels_file(project_root)
    brush_stroke(qtbot, window)
    painted = window.labels.copy()
    press_key(qtbot, window, Qt.Key.Key_D)  # saves on leaving, off the GUI thread
    assert window.image_name == "plain"
    qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
    box = open_boxes(window)[0]
    assert "scene" in box.text()
    box.close()
    assert window.image_list.state_text("scene") != "edited"
    assert window.open_image("scene")
    assert window.document.dirty  # from the journal, not from the old file
    assert np.array_equal(window.labels.category, painted.category)


def test_closing_when_the_save_fails_keeps_the_window_open(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    _block_the_labels_file(project_root)
    brush_stroke(qtbot, window)
    assert not window.close()
    assert window.isVisible() and window.document.dirty
    qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
    open_boxes(window)[0].close()


def test_export_right_after_a_save_sees_the_saved_labels(qtbot, make_window, project_root, tmp_path):
    window = zoomed(make_window(project_root))
    release, _ = _held_saves(window)
    brush_stroke(qtbot, window, DOG, ((5, 5), (30, 5)))
    _save_key(qtbot, window)
    out = tmp_path / "export"
    _release_soon(release)
    with qtbot.waitSignal(window.exchange.job.done, timeout=WAIT_MS):
        export_from_menu(qtbot, window, ExportFormat.SEMANTIC_PNG, out)
    assert not window.document.dirty
    values = read_label_values(out / "scene.png")
    assert (values[5, 5:30] == DOG).all()
    for box in open_boxes(window):
        box.close()


def test_an_edit_before_the_writer_copied_the_labels_copies_them_first(qtbot, make_window, project_root):
    """The writer is still busy with the image left when the next one is saved and edited again:
    the edit copies the labels for that save first, so the file holds what was saved."""
    window = zoomed(make_window(project_root))
    release, threads = _held_saves(window)
    brush_stroke(qtbot, window)
    press_key(qtbot, window, Qt.Key.Key_D)  # "scene" saved on leaving: held on the writer thread
    qtbot.waitUntil(lambda: bool(threads))
    brush_stroke(qtbot, window, PERSON)
    saved = window.labels.copy()
    _save_key(qtbot, window)  # waits behind the held save, its copy not taken yet
    brush_stroke(qtbot, window, CAT, ((10, 60), (60, 60)))
    assert not np.array_equal(window.labels.category, saved.category)
    release.set()
    saves_landed(qtbot, window)
    assert np.array_equal(Project.open(project_root).load_labels("plain").category, saved.category)
    assert window.document.dirty
