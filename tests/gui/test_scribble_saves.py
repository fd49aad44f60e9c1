"""Scribbles are saved on a writer thread, not the GUI thread, and nothing is lost for it: real
windows, real mouse drags, the real writer thread. The writer is held in a write of its own
(a gate) so that a save is really pending when the image changes, another project opens or the
window closes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from gui_helpers import BACKGROUND, CAT, drag, make_project

from segstudio.core.labels import VOID
from segstudio.gui.main_window import MainWindow
from segstudio.io.project import Project
from segstudio.io.scribble_file import scribbles_path
from segstudio.io.semantic_png import read_label_values

HOLD_S = 10.0
RELEASE_S = 0.3
"""The gate opens this long after the action that must wait for the pending save."""


def _hold_writer(window: MainWindow) -> threading.Event:
    """Keep the scribble writer busy until the returned event is set (or ``HOLD_S`` passes)."""
    entered, gate = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        gate.wait(HOLD_S)

    window.scribbles.writes.submit("gate", hold)
    assert entered.wait(HOLD_S)
    return gate


def _scribble_two_classes(qtbot, window: MainWindow) -> np.ndarray:
    """Two strokes with the scribble brush; the scribbles as drawn (category map copy)."""
    window.toolbox.set_tool("scribble")
    window.toolbox.set_radius(2.0)
    for category, points in ((BACKGROUND, [(10, 10), (60, 10)]), (CAT, [(10, 40), (60, 40)])):
        window.toolbox.set_label(category)
        drag(qtbot, window, points)
    drawn = window.document.scribbles.category.copy()
    assert set(np.unique(drawn).tolist()) == {BACKGROUND, CAT, VOID}
    return drawn


def _saved(project: Project, image_id: str) -> np.ndarray:
    """The scribble file as category ids (the file holds id + 1, 0 = none)."""
    values = read_label_values(scribbles_path(project, image_id)).astype(np.int64)
    return np.where(values == 0, VOID, values - 1).astype(np.uint16)


def test_training_hands_the_save_to_the_writer_and_the_file_reopens_intact(qtbot, make_window, project_root):
    window = make_window(project_root)
    drawn = _scribble_two_classes(qtbot, window)
    image_id, project = window.image_name, window.project
    gate = _hold_writer(window)
    assert window.scribbles.train_now() is not None  # the save and the training run are handed over
    path = scribbles_path(project, image_id)
    assert window.scribbles.writes.pending(str(path)) and not path.exists()  # not written by the GUI thread
    gate.set()
    window.scribbles.writes.settle()
    assert np.array_equal(_saved(project, image_id), drawn)
    window.close()

    reopened = make_window(project_root)
    assert reopened.image_name == image_id
    assert np.array_equal(reopened.document.scribbles.category, drawn)


def test_closing_the_window_while_a_save_is_pending_loses_nothing(qtbot, make_window, project_root):
    window = make_window(project_root)
    drawn = _scribble_two_classes(qtbot, window)
    image_id, project = window.image_name, window.project
    gate = _hold_writer(window)
    window.scribbles.train_now()
    assert window.scribbles.writes.busy
    threading.Timer(RELEASE_S, gate.set).start()
    window.close()  # waits for the pending save
    assert not window.scribbles.writes.busy
    assert np.array_equal(_saved(project, image_id), drawn)

    reopened = make_window(project_root)
    assert np.array_equal(reopened.document.scribbles.category, drawn)


def test_switching_images_saves_in_the_background_and_coming_back_reads_the_last_save(
    qtbot, make_window, project_root
):
    window = make_window(project_root)
    first = window.image_name
    drawn = _scribble_two_classes(qtbot, window)
    gate = _hold_writer(window)
    other = next(entry.id for entry in window.project.entries() if entry.id != first)
    assert window.open_image(other)  # the switch does not wait for the writer
    assert window.scribbles.writes.pending(str(scribbles_path(window.project, first)))
    assert (window.document.scribbles.category == VOID).all()
    threading.Timer(RELEASE_S, gate.set).start()
    assert window.open_image(first)  # waits for its file, then reads it
    assert np.array_equal(window.document.scribbles.category, drawn)


def test_opening_another_project_lands_the_old_projects_scribbles_first(
    qtbot, make_window, project_root, tmp_path: Path
):
    window = make_window(project_root)
    image_id, project = window.image_name, window.project
    drawn = _scribble_two_classes(qtbot, window)
    gate = _hold_writer(window)
    other = Project.open(make_project(tmp_path / "other"))
    threading.Timer(RELEASE_S, gate.set).start()
    assert window.open_project(other)
    assert not window.scribbles.writes.busy
    assert np.array_equal(_saved(project, image_id), drawn)
