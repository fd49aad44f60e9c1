"""What a training run takes from the GUI thread, kept up box by box, is what the whole map says:
real mouse strokes, the eraser, undo, redo, clearing, reopening; and the labels snapshot is copied
again exactly when the labels changed."""

from __future__ import annotations

import numpy as np
from gui_helpers import BACKGROUND, CAT, DOG, HEIGHT, WIDTH, drag, press_key
from PySide6.QtCore import Qt

from segstudio.gui.main_window import MainWindow


def _holds(window: MainWindow) -> None:
    """The tally equals a whole recount of the document's scribbles."""
    tally, scribbles = window.scribbles.tally, window.document.scribbles
    values = tally.values()
    assert np.array_equal(values, scribbles.values())
    assert tally.counts() == scribbles.counts()


def test_values_and_counts_follow_strokes_erasing_undo_redo_clear_and_reopening(
    qtbot, make_window, project_root
):
    window = make_window(project_root)
    window.toolbox.set_tool("scribble")
    window.toolbox.set_radius(3.0)
    _holds(window)  # nothing scribbled yet
    rng = np.random.default_rng(5)
    for stroke in range(6):
        window.toolbox.set_label((BACKGROUND, CAT, DOG)[stroke % 3])
        points = [(float(rng.uniform(5, WIDTH - 5)), float(rng.uniform(5, HEIGHT - 5))) for _ in range(4)]
        drag(qtbot, window, points)
        if stroke % 2:
            _holds(window)  # sometimes two strokes pass between two runs
    _holds(window)
    window.toolbox.set_tool("scribble eraser")
    drag(qtbot, window, [(5, HEIGHT / 2), (WIDTH - 5, HEIGHT / 2)])
    _holds(window)
    for _ in range(2):  # undo the erasing and the last stroke
        press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _holds(window)
    press_key(
        qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    _holds(window)
    drawn, counts = window.document.scribbles.category.copy(), window.scribbles.tally.counts()
    assert len(counts) == 3

    window.scribbles.flush()
    other = next(entry.id for entry in window.project.entries() if entry.id != window.image_name)
    first = window.image_name
    assert window.open_image(other)
    _holds(window)
    assert window.scribbles.tally.counts() == {}
    assert window.open_image(first)  # its scribbles read back from the file
    assert np.array_equal(window.document.scribbles.category, drawn)
    _holds(window)
    assert window.scribbles.tally.counts() == counts

    window.scribbles.clear()
    _holds(window)
    assert window.scribbles.tally.counts() == {}


def test_the_labels_snapshot_is_copied_again_only_after_a_label_edit(qtbot, make_window, project_root):
    window = make_window(project_root)
    controller, document = window.scribbles, window.document
    first = controller._labels_snapshot(document)
    window.toolbox.set_tool("scribble")
    window.toolbox.set_label(CAT)
    drag(qtbot, window, [(10, 10), (40, 10)])  # scribbles leave the labels as they are
    assert controller._labels_snapshot(document) is first
    window.toolbox.set_tool("brush")
    window.toolbox.set_label(DOG)
    drag(qtbot, window, [(10, 30), (40, 30)])
    renewed = controller._labels_snapshot(document)
    assert renewed is not first and renewed.revision == document.revision
    assert np.array_equal(renewed.category, document.labels.category)
    assert not np.array_equal(renewed.category, first.category)
