"""Models > Score the project's predictions…: the real window scores on the worker, the dialog lists
the corrected images worst first, and a double-click opens one."""

from __future__ import annotations

from gui_helpers import DOG, drag, zoomed

from segstudio.gui.modelling.project_score import ProjectScoreDialog, percent
from segstudio.io.project_eval import evaluate_project

WAIT_MS = 20000


def _score(window) -> ProjectScoreDialog:
    title = "&Score the project's predictions…"
    action = next(a for a in window.shortcuts.actions.values() if a.text() == title)
    action.trigger()
    dialog = window.models.score_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_scores_follow_the_saved_corrections_and_open_the_image(qtbot, make_window, project_root) -> None:
    window = zoomed(make_window(project_root))
    window.toolbox.set_label(DOG)  # correct the ground truth where the model saw a dog
    window.toolbox.set_radius(5)
    drag(qtbot, window, [(0, 3), (24, 3), (24, 9), (0, 9), (0, 15), (24, 15)])
    dialog = _score(window)
    assert not window.document.dirty  # saved first: the scores are of what is on screen
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=WAIT_MS)
    expected = evaluate_project(project_root)
    assert dialog.image_at(0) == "scene"
    assert dialog.table.item(0, 2).text() == percent(expected.images[0].miou)
    assert dialog.table.item(0, 3).text() == percent(expected.quality.all.pq)
    summary = dialog.summary.text()
    assert f"mIoU {percent(expected.miou)}" in summary and "1 other not scored" in summary
    dialog.reject()

    assert window.open_image("plain")
    dialog = _score(window)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=WAIT_MS)
    dialog.open_row(0)
    assert window.image_name == "scene"
    dialog.reject()
