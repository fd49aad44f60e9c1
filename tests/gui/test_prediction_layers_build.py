"""A new prediction's overlays are filled off-screen a band per event-loop turn and shown whole:
the old ones stay until then, a label edit meanwhile is in the result, and what is shown equals a
whole-image fill. Real window and canvas; the band size is lowered so the test image takes many."""

from __future__ import annotations

import numpy as np
from gui_helpers import DOG, WIDTH, drag

from segstudio.gui.canvas import canvas as canvas_module
from segstudio.gui.canvas.layers import (
    DISAGREEMENT,
    PREDICTION,
    PREDICTION_LAYERS,
    UNCERTAINTY,
    document_layers,
)

ROWS = 10


def _new_prediction(window):
    """The document's prediction shifted by a few columns, with an uncertainty map."""
    old = window.document.prediction
    shifted = old.copy()
    shifted.category[:] = np.roll(old.category, 7, axis=1)
    levels = np.random.default_rng(1).integers(0, 256, old.shape, dtype=np.uint8)
    return shifted, levels


def _equal_to_a_whole_fill(window) -> None:
    document = window.document
    whole = document_layers(document, document.palette, window.canvas.show_background, PREDICTION_LAYERS)
    assert set(whole) == {PREDICTION, UNCERTAINTY, DISAGREEMENT}
    for name, layer in whole.items():
        assert np.array_equal(window.canvas.layers[name]._index, layer._index), name


def test_the_new_overlays_are_built_in_bands_and_shown_whole(qtbot, make_window, project_root, monkeypatch):
    monkeypatch.setattr(canvas_module, "BUILD_PIXELS", WIDTH * ROWS)
    window = make_window(project_root)
    canvas = window.canvas
    qtbot.waitUntil(lambda: PREDICTION in canvas.layers, timeout=5000)  # an opened image's: in bands too
    old = canvas.layers[PREDICTION]
    shown: list[bool] = []
    canvas.layers_changed.connect(lambda: shown.append(True))
    window.document.set_prediction(*_new_prediction(window))
    assert canvas.layers[PREDICTION] is old and UNCERTAINTY not in canvas.layers  # not yet swapped
    window.toolbox.set_tool("brush")
    window.toolbox.set_label(DOG)
    drag(qtbot, window, [(10, 5), (WIDTH - 10, 5)])  # an edit in the band already filled
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert shown == [True] and canvas.layers[PREDICTION] is not old
    assert canvas.layers[PREDICTION].scene() is canvas.scene() and old.scene() is None
    _equal_to_a_whole_fill(window)


def test_a_look_change_during_the_build_finishes_it_first(qtbot, make_window, project_root, monkeypatch):
    monkeypatch.setattr(canvas_module, "BUILD_PIXELS", WIDTH * ROWS)
    window = make_window(project_root)
    window.document.set_prediction(*_new_prediction(window))
    window.canvas.set_show_background(not window.canvas.show_background)
    assert UNCERTAINTY in window.canvas.layers  # built and shown within the call
    _equal_to_a_whole_fill(window)


def test_a_small_image_gets_its_overlays_within_the_call(make_window, project_root):
    window = make_window(project_root)
    window.document.set_prediction(*_new_prediction(window))
    assert UNCERTAINTY in window.canvas.layers
    _equal_to_a_whole_fill(window)
