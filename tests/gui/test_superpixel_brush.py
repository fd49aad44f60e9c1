"""The superpixel brush paints whole superpixels as one undoable stroke and shows their boundaries."""

from __future__ import annotations

import numpy as np
from gui_helpers import DOG, drag, press_key, zoomed
from PySide6.QtCore import Qt

from segstudio.core.labels import VOID


def _adjacent_pair(segments: np.ndarray, rows: range) -> tuple[int, int]:
    """(x, y) of a pixel whose right neighbour lies in another superpixel, within ``rows``."""
    for y in rows:
        for x in range(5, segments.shape[1] - 6):
            if segments[y, x] != segments[y, x + 1]:
                return x, y
    raise AssertionError("no superpixel boundary found")


def test_key_s_picks_the_tool_and_shows_the_boundaries_while_active(qtbot, make_window, project_root):
    window = make_window(project_root)
    tool = window.toolbox.tools["superpixel"]
    assert not tool.layer.visible
    press_key(qtbot, window, Qt.Key.Key_S)
    assert window.toolbox.active is tool and window.commands.tools["superpixel"].isChecked()
    qtbot.waitUntil(lambda: tool.layer.visible, timeout=10000)  # SLIC ran on the worker
    assert tool.layer.item.scene() is window.canvas.scene()
    assert tool.layer.item.pixmap().width() == window.document.shape[1]
    window.open_image("plain")  # another image: its own superpixels
    assert not tool.layer.visible  # not the previous image's boundaries while the new ones compute
    qtbot.waitUntil(lambda: tool.layer.visible, timeout=10000)
    assert tool.layer._drawn_for is tool.layer.of(window.document)
    press_key(qtbot, window, Qt.Key.Key_B)
    assert not tool.layer.visible


def test_a_drag_over_two_superpixels_labels_exactly_their_pixels_and_undo_restores(
    qtbot, make_window, project_root
):
    window = zoomed(make_window(project_root))
    window.toolbox.set_tool("superpixel")
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(0.5)  # the brush touches one pixel per sample
    segments = window.toolbox.tools["superpixel"].layer.of(window.document).segments
    x, y = _adjacent_pair(segments, range(20, 60))
    before = window.labels.copy()
    drag(qtbot, window, [(x + 0.5, y + 0.5), (x + 1.5, y + 0.5)])
    expected = (segments == segments[y, x]) | (segments == segments[y, x + 1])
    changed = (window.labels.category != before.category) | (window.labels.instance != before.instance)
    changed |= window.labels.provenance != before.provenance
    assert np.array_equal(changed, expected)
    assert (window.labels.category[expected] == DOG).all()
    window.undo()
    assert np.array_equal(window.labels.category, before.category)
    assert np.array_equal(window.labels.provenance, before.provenance)


def test_only_unlabelled_lock_keeps_labelled_pixels_of_a_painted_superpixel(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    window.toolbox.set_tool("superpixel")
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(0.5)
    window.commands.only_unlabelled.setChecked(True)
    segments = window.toolbox.tools["superpixel"].layer.of(window.document).segments
    void = window.labels.category == VOID
    mixed = [s for s in np.unique(segments[void]) if (~void[segments == s]).any()]
    assert mixed, "the test image should have a superpixel across the unlabelled strip's edge"
    ys, xs = np.nonzero((segments == mixed[0]) & void)
    window.canvas.centerOn(float(xs[0]), float(ys[0]))
    before = window.labels.copy()
    drag(qtbot, window, [(xs[0] + 0.5, ys[0] + 0.5)])
    superpixel = segments == mixed[0]
    assert np.array_equal(window.labels.category != before.category, superpixel & void)
