"""The IoU dock: per-class IoU of the prediction against the edited ground truth, as bars and a table.

The numbers come from the document's confusion matrix, which follows each edit's box; this
panel only redraws, at most once per ``REDRAW_MS`` however fast the mouse moves.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from segstudio.gui.document import Document

REDRAW_MS = 60
COLUMNS = ("Class", "IoU", "GT px", "Predicted px")
NO_PREDICTION = "No prediction for this image: there is nothing to compare the ground truth with."


def percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2%}"


class IouPanel(QWidget):
    """mIoU, pixel accuracy, human corrections; a bar per class present and a table of counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(140)
        self.plot.setYRange(0, 1)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getAxis("left").setLabel("IoU")
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.plot.addItem(self.bars)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setMinimumWidth(120)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.table, 1)
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.refresh)

    def set_document(self, document: Document | None) -> None:
        if self.document is not None:
            self.document.metrics_changed.disconnect(self._schedule)
        self.document = document
        if document is not None:
            document.metrics_changed.connect(self._schedule)
        self.refresh()

    def _schedule(self) -> None:
        """Redraw ``REDRAW_MS`` after the first change not yet shown.

        A throttle, not a debounce: restarting the timer on every change would hold the dock back
        until the mouse stops, so a long stroke would show no numbers while it is being painted.
        """
        if not self._redraw.isActive():
            self._redraw.start()

    def refresh(self) -> None:
        """Redraw from the document's current matrix (O(classes), never O(pixels))."""
        self._redraw.stop()
        document = self.document
        matrix = None if document is None else document.confusion
        self.plot.setVisible(matrix is not None)
        self.table.setVisible(matrix is not None)
        if document is None or matrix is None:
            self.summary.setText(NO_PREDICTION if document is not None else "")
            return
        iou, gt_area, pred_area = matrix.iou, matrix.gt_area, matrix.pred_area
        present = np.flatnonzero(~np.isnan(iou))
        palette = document.palette
        names = [palette[int(matrix.class_ids[i])].name for i in present]
        self.summary.setText(
            f"mIoU {percent(matrix.miou)}   pixel accuracy {percent(matrix.pixel_accuracy)}\n"
            f"Pixels changed by the human: {document.human_corrections:,}"
        )
        colors = [pg.mkBrush(*palette[int(matrix.class_ids[i])].color) for i in present]
        self.bars.setOpts(x=np.arange(len(present)), height=iou[present], width=0.8, brushes=colors)
        self.plot.getAxis("bottom").setTicks([list(enumerate(names))])
        self.plot.setXRange(-0.6, max(len(present), 1) - 0.4, padding=0)
        self.table.setRowCount(len(present))
        for row, (i, name) in enumerate(zip(present, names, strict=True)):
            cells = (name, percent(float(iou[i])), f"{int(gt_area[i]):,}", f"{int(pred_area[i]):,}")
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
