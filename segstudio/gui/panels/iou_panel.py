"""The IoU dock: per-class IoU and PQ of the prediction against the edited ground truth.

IoU comes from the document's confusion matrix, which follows each edit's box; this panel only
redraws, at most once per ``REDRAW_MS`` however fast the mouse moves, and a document just shown in
the event-loop turn after the one that shows its photo. PQ comes from
``gui.panels.pq_live`` (recounted on the worker) through :meth:`IouPanel.set_quality`.

The bar chart is pyqtgraph's, which takes a few hundred milliseconds to import: it is built in the
event-loop turn after its place was first painted (the window's first paint is not held back), or
when it is asked for (``plot``, ``bars``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from segstudio.core.label_pq import PanopticQuality, Quality
from segstudio.gui.chart_slot import ChartSlot
from segstudio.gui.document.document import Document

if TYPE_CHECKING:
    import pyqtgraph as pg

REDRAW_MS = 60
COLUMNS = ("Class", "IoU", "PQ", "GT px", "Pred px")
"""Short headers, so the table fits the dock at its default width (1024 px windows); each says
what it counts in its tooltip."""
COLUMN_TIPS = {
    "Class": "The classes in the ground truth or the prediction (the full name in each cell's tooltip)",
    "IoU": "Intersection over union of the prediction with the ground truth, per class",
    "PQ": "Panoptic quality of the class's segments (COCO): SQ x RQ",
    "GT px": "Ground-truth pixels of the class (the exact count in each cell's tooltip)",
    "Pred px": "Pixels predicted as the class where the ground truth is labelled: the pixels IoU "
    "is counted on (predictions over unlabelled pixels are left out)",
}

HUMAN_DIFFERS = "Human pixels unlike the prediction"
HUMAN_DIFFERS_TIP = (
    "Pixels a person labelled last whose class differs from the prediction shown now. Not a running "
    "total of edits: it falls when a new prediction (a model's or the scribble classifier's) agrees "
    "with them, and rises with each correction of the current one."
)
NO_PREDICTION = "No prediction for this image: there is nothing to compare the ground truth with."


MIN_BAR_LUMA = 90
"""Bars darker than this (Rec. 601 luma, 0..255) are lifted towards white: the plot is black."""
BAR_OUTLINE = (200, 200, 200)


def visible_on_dark(color: tuple[int, int, int], min_luma: int = MIN_BAR_LUMA) -> tuple[int, int, int]:
    """``color``, mixed with white just enough to reach ``min_luma`` (a black class becomes grey)."""
    r, g, b = color
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    if luma >= min_luma:
        return color
    mix = (min_luma - luma) / (255 - luma)
    return tuple(round(c + (255 - c) * mix) for c in color)  # type: ignore[return-value]


def percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2%}"


def short_percent(value: float) -> str:
    """A table cell's percentage: one decimal, enough to follow an edit, narrow enough to fit."""
    return "–" if math.isnan(value) else f"{value:.1%}"


def short_count(count: int) -> str:
    """A pixel count in at most five characters (``9,870``, ``12.4k``, ``310k``, ``3.1M``): a 12 MP
    photo's counts in full would widen the table past the dock; the cell's tooltip has the exact number."""
    if count < 10_000:
        return f"{count:,}"
    for unit, scale in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        value = count / scale
        if round(value, 1) < 100:
            return f"{value:.1f}{unit}"
        if round(value) < 1000:
            return f"{value:.0f}{unit}"
    return f"{count / 1e9:.0f}G"


def quality_text(quality: Quality) -> str:
    return percent(quality.pq) if quality.n else "–"


def pq_summary(quality: PanopticQuality) -> str:
    """``PQ 61.20% (SQ 80.10% x RQ 76.40%)`` and, below, PQ of things and of stuff."""
    overall = quality.all
    if not overall.n:
        return "PQ –: no segments to compare"
    return (
        f"PQ {percent(overall.pq)} (SQ {percent(overall.sq)} x RQ {percent(overall.rq)})\n"
        f"PQ things {quality_text(quality.things)}   PQ stuff {quality_text(quality.stuff)}"
    )


class IouPanel(QWidget):
    """mIoU, pixel accuracy, human corrections; a bar per class present and a table of counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.quality: PanopticQuality | None = None
        self.quality_problem = ""
        """Why the last PQ count failed ("" when it did not)."""
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setToolTip(HUMAN_DIFFERS_TIP)
        self.pq_label = QLabel("")
        self.pq_label.setWordWrap(True)
        self.pq_label.setToolTip(
            "Panoptic quality (COCO): segments of one class match when their IoU is over 0.5; "
            "PQ = SQ (mean IoU of matches) x RQ (F1 of matching)"
        )
        self._chart: tuple[pg.PlotWidget, pg.BarGraphItem] | None = None
        self.chart_slot = ChartSlot(self._chart_parts)
        self.chart_slot.setMinimumHeight(140)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in COLUMN_TIPS.items():
            self.table.horizontalHeaderItem(COLUMNS.index(column)).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # names take what is left, elided
        header.setMinimumSectionSize(24)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setMinimumWidth(120)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.pq_label)
        layout.addWidget(self.chart_slot, 1)
        layout.addWidget(self.table, 1)
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.refresh)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self.refresh)

    @property
    def redraw_due(self) -> bool:
        """A document just shown gets its numbers drawn in the next event-loop turn (not yet)."""
        return self._soon.isActive()

    @property
    def chart_built(self) -> bool:
        return self._chart is not None

    @property
    def plot(self) -> pg.PlotWidget:
        """The bar chart's plot (built now if it was not yet)."""
        return self._chart_parts()[0]

    @property
    def bars(self) -> pg.BarGraphItem:
        return self._chart_parts()[1]

    def _chart_parts(self) -> tuple[pg.PlotWidget, pg.BarGraphItem]:
        if self._chart is None:
            import pyqtgraph as pg

            plot = pg.PlotWidget()
            plot.setYRange(0, 1)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.getAxis("left").setLabel("IoU")
            bars = pg.BarGraphItem(x=[], height=[], width=0.8)
            plot.addItem(bars)
            self.chart_slot.put(plot)
            self._chart = (plot, bars)
            self.refresh()
        return self._chart

    def set_document(self, document: Document | None) -> None:
        if self.document is not None:
            self.document.metrics_changed.disconnect(self._schedule)
        self.document = document
        if document is None:
            self.refresh()
            return
        document.metrics_changed.connect(self._schedule)
        self._soon.start()  # not in the turn that shows a new photo (20-65 ms at 12 MP under load)

    def set_quality(self, quality: PanopticQuality | None) -> None:
        """The latest PQ count of the open document (None: none yet, or no prediction)."""
        self.quality, self.quality_problem = quality, ""
        self.refresh()

    def quality_failed(self, text: str) -> None:
        self.quality, self.quality_problem = None, text
        self.refresh()

    def _schedule(self) -> None:
        """Redraw ``REDRAW_MS`` after the first change not yet shown.

        A throttle, not a debounce: restarting the timer on every change would hold the dock back
        until the mouse stops, so a long stroke would show no numbers while it is being painted.
        """
        if not self._redraw.isActive():
            self._redraw.start()

    @staticmethod
    def _draw_bars(
        chart: tuple[pg.PlotWidget, pg.BarGraphItem],
        heights: np.ndarray,
        names: list[str],
        colors: list[tuple[int, int, int]],
    ) -> None:
        import pyqtgraph as pg

        plot, bars = chart
        bars.setOpts(
            x=np.arange(len(names)),
            height=heights,
            width=0.8,
            brushes=[pg.mkBrush(*visible_on_dark(color)) for color in colors],
            pen=pg.mkPen(BAR_OUTLINE),
        )
        plot.getAxis("bottom").setTicks([list(enumerate(names))])
        plot.setXRange(-0.6, max(len(names), 1) - 0.4, padding=0)

    def refresh(self) -> None:
        """Redraw from the document's current matrix (O(classes), never O(pixels))."""
        self._redraw.stop()
        self._soon.stop()
        document = self.document
        matrix = None if document is None else document.confusion
        self.chart_slot.setVisible(matrix is not None)
        self.table.setVisible(matrix is not None)
        if document is None or matrix is None:
            self.summary.setText(NO_PREDICTION if document is not None else "")
            self.pq_label.setText("")
            return
        quality = self.quality
        if self.quality_problem:
            self.pq_label.setText(f"PQ could not be counted: {self.quality_problem}")
        else:
            self.pq_label.setText("PQ: counting…" if quality is None else pq_summary(quality))
        iou, gt_area, pred_area = matrix.iou, matrix.gt_area, matrix.pred_area
        present = np.flatnonzero(~np.isnan(iou))
        palette = document.palette
        names = [palette[int(matrix.class_ids[i])].name for i in present]
        self.summary.setText(
            f"mIoU {percent(matrix.miou)}   pixel accuracy {percent(matrix.pixel_accuracy)}\n"
            f"{HUMAN_DIFFERS}: {document.human_corrections:,}"
        )
        if self._chart is not None:
            colors = [palette[int(matrix.class_ids[i])].color for i in present]
            self._draw_bars(self._chart, iou[present], names, colors)
        self.table.setRowCount(len(present))
        for row, (i, name) in enumerate(zip(present, names, strict=True)):
            class_quality = None if quality is None else quality.per_class.get(int(matrix.class_ids[i]))
            pq = math.nan if class_quality is None else class_quality.pq
            counts = (int(gt_area[i]), int(pred_area[i]))
            cells = (
                (name, name),
                *((short_percent(value), percent(value)) for value in (float(iou[i]), pq)),
                *((short_count(count), f"{count:,} px") for count in counts),
            )
            for column, (text, tip) in enumerate(cells):
                item = self.table.item(row, column)
                if item is None:
                    item = QTableWidgetItem(text)
                    if column:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(row, column, item)
                elif item.text() != text:  # only changed cells: a long edit redraws this often
                    item.setText(text)
                if item.toolTip() != tip:
                    item.setToolTip(tip)
