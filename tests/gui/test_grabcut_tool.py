"""Box to mask: GrabCut runs on the worker thread and its result is one undo step on the GUI thread."""

from __future__ import annotations

import numpy as np
from gui_helpers import HEIGHT, PERSON, WIDTH, drag, scene_image

from segstudio.gui.tools.tools import BoxCut

WAIT_MS = 10000


def _disc() -> np.ndarray:
    rgb = scene_image()
    return np.all(rgb == (230, 200, 40), axis=2)


def test_box_to_mask_runs_on_the_worker_and_is_one_undo_step(qtbot, make_window, project_root) -> None:
    window = make_window(project_root)
    document = window.document
    before = document.labels.category.copy()
    window.toolbox.set_tool(BoxCut.name)
    window.toolbox.set_label(PERSON)
    radius = min(HEIGHT, WIDTH) // 4
    cx, cy = WIDTH / 2, HEIGHT / 2
    drag(qtbot, window, [(cx - radius - 4, cy - radius - 4), (cx, cy), (cx + radius + 4, cy + radius + 4)])
    # The release only queued the job: the labels change when its result comes back to this thread.
    assert len(window.toolbox.jobs.pending()) == 1
    assert np.array_equal(document.labels.category, before)
    qtbot.waitUntil(lambda: not window.toolbox.jobs.pending(), timeout=WAIT_MS)
    person = document.labels.category == PERSON
    disc = _disc()
    iou = np.count_nonzero(person & disc) / np.count_nonzero(person | disc)
    assert iou > 0.9, iou
    document.undo()
    assert np.array_equal(document.labels.category, before)


def test_a_result_for_an_image_left_meanwhile_is_not_written(qtbot, make_window, project_root) -> None:
    window = make_window(project_root)
    scene = window.document
    before = scene.labels.category.copy()
    window.toolbox.set_tool(BoxCut.name)
    window.toolbox.set_label(PERSON)
    drag(qtbot, window, [(20, 20), (WIDTH - 20, HEIGHT - 20)])
    assert window.open_image("plain")
    qtbot.waitUntil(lambda: not window.toolbox.jobs.pending(), timeout=WAIT_MS)
    assert np.array_equal(scene.labels.category, before)
    assert not np.any(window.document.labels.category == PERSON)
