"""The smaller items of issue 16: a rounded brush radius, the IoU dock's counts defined where they
are shown, and no image-like files in an image folder's ``.segstudio``."""

from __future__ import annotations

from pathlib import Path

from gui_helpers import BACKGROUND, CAT, HEIGHT, WIDTH, drag, press_key, scene_image, write_png, zoomed
from PySide6.QtCore import Qt

from segstudio.gui.document.projects import IMAGE_SUFFIXES, PROJECT_SUBFOLDER
from segstudio.gui.panels.iou_panel import COLUMNS, HUMAN_DIFFERS


def test_the_status_bar_shows_the_radius_rounded(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    window.toolbox.set_radius(8)
    for _ in range(3):
        press_key(qtbot, window, Qt.Key.Key_BracketRight)  # 8 -> 10 -> 12.5 -> 15.625
    assert window.toolbox.settings.radius == 15.625
    assert "r 15.6" in window.tool_label.text().split("  ")


def test_the_iou_dock_says_what_its_counts_count(qtbot, make_window, project_root):
    window = make_window(project_root)
    panel = window.iou_panel
    qtbot.waitUntil(lambda: panel.table.rowCount() == 3)
    assert HUMAN_DIFFERS in panel.summary.text() and "Pixels changed" not in panel.summary.text()
    assert "Not a running total" in panel.summary.toolTip() and "person labelled" in panel.summary.toolTip()
    column = COLUMNS.index("Pred px")
    header = panel.table.horizontalHeaderItem(column)
    assert "where the ground truth is labelled" in header.toolTip()
    rows = {
        panel.table.item(r, 0).text(): panel.table.item(r, column).toolTip()
        for r in range(panel.table.rowCount())
    }
    predicted_cat = (window.document.prediction.category == CAT) & (window.labels.category != 0xFFFF)
    assert rows["cat"] == f"{int(predicted_cat.sum()):,} px"
    assert int((window.document.prediction.category == CAT).sum()) > predicted_cat.sum()  # the strip left out


def test_an_image_folder_gains_no_image_like_files(qtbot, make_window, tmp_path: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_png(folder / "street.png", scene_image())
    window = zoomed(make_window(folder))
    window.toolbox.set_radius(2)
    press_key(qtbot, window, Qt.Key.Key_K)
    window.toolbox.set_label(BACKGROUND)
    drag(qtbot, window, [(5, 5), (30, 5)])
    window.toolbox.set_label(CAT)
    drag(qtbot, window, [(WIDTH - 5, HEIGHT - 20), (WIDTH - 30, HEIGHT - 20)])
    window.scribbles.flush()
    project_files = [p for p in (folder / PROJECT_SUBFOLDER).rglob("*") if p.is_file()]
    assert any(p.parent.name == "scribbles" for p in project_files)  # the scribbles were saved
    assert not [p for p in project_files if p.suffix.lower() in IMAGE_SUFFIXES]
