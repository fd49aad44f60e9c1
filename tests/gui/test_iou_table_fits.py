"""The IoU dock's table fits the dock at the default layout (issue 16): no column cut off, no
horizontal scrolling, on 1024 px windows and larger. The real window, sized as at start-up."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QStyle

from segstudio.gui.main_window import DEFAULT_SIZE, MainWindow
from segstudio.gui.panels.iou_panel import COLUMN_TIPS, COLUMNS, short_count

SIZES = [(1024, 700), DEFAULT_SIZE, (1920, 1040)]
"""A 1024x768 screen less its panels, the default window, a full-HD screen."""


def laid_out(qtbot, window: MainWindow, size: tuple[int, int]) -> MainWindow:
    """The window at ``size`` with its docks shared out as at start-up."""
    window.resize(*size)
    qtbot.waitUntil(lambda: window.size().toTuple() == size)
    window.size_docks()
    QApplication.processEvents()
    window.iou_panel.refresh()
    QApplication.processEvents()
    return window


@pytest.mark.parametrize("size", SIZES)
def test_no_column_of_the_iou_table_is_cut(qtbot, make_window, project_root, size) -> None:
    window = laid_out(qtbot, make_window(project_root), size)
    table = window.iou_panel.table
    qtbot.waitUntil(lambda: table.rowCount() == 3)
    header = table.horizontalHeader()
    width = table.viewport().width()
    assert not table.horizontalScrollBar().isVisible()
    assert header.length() <= width
    margin = 2 * table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 2
    for column, title in enumerate(COLUMNS):
        left = header.sectionViewportPosition(column)
        assert left >= 0 and left + header.sectionSize(column) <= width, title
        texts = [table.item(row, column).text() for row in range(table.rowCount())]
        if column:  # the numbers are shown whole; the class name may be elided, its tooltip has it all
            needed = max(table.fontMetrics().horizontalAdvance(text) for text in texts) + margin
            assert header.sectionSize(column) >= needed, (title, texts)
        header_text = header.fontMetrics().horizontalAdvance(title)
        assert header.sectionSize(column) >= header_text, title  # the header itself is not cut
    assert header.sectionSize(0) >= table.fontMetrics().horizontalAdvance("background")


def test_the_short_headers_and_cells_explain_themselves(qtbot, make_window, project_root) -> None:
    window = make_window(project_root)
    table = window.iou_panel.table
    qtbot.waitUntil(lambda: table.rowCount() == 3)
    for column, title in enumerate(COLUMNS):
        assert table.horizontalHeaderItem(column).toolTip() == COLUMN_TIPS[title]
    gt = COLUMNS.index("GT px")
    cat_row = next(row for row in range(table.rowCount()) if table.item(row, 0).text() == "cat")
    exact = int((window.labels.category == 8).sum())
    assert table.item(cat_row, gt).toolTip() == f"{exact:,} px"
    assert table.item(cat_row, gt).text() == short_count(exact)


def test_pixel_counts_stay_within_five_characters() -> None:
    shown = {980: "980", 9_870: "9,870", 12_345: "12.3k", 99_960: "100k", 999_600: "1.0M", 10**8: "100M"}
    for count, text in shown.items():
        assert short_count(count) == text
    counts = [10**k + j for k in range(12) for j in (-1, 0, 1, 49_999)]
    assert max(len(short_count(count)) for count in counts) <= 5
