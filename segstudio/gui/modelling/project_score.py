"""Models > Score the project's predictions…: IoU and PQ of every corrected image, worst first.

The scores are ``io.project_eval``'s (the same as ``segstudio eval project``), counted on the
worker from the files after the open image is saved; double-clicking an image opens it, so the
images where the model is worst are one click away.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segstudio.gui.threads.worker import Job, JobContext, Priority
from segstudio.io.parallel import background_jobs
from segstudio.io.project_eval import ProjectScore, evaluate_project

SCORE_KIND = "project-score"
COLUMNS = ("Image", "State", "mIoU", "PQ", "SQ", "RQ")


def percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1%}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def score_job(root: Path) -> Job:
    """Scoring as a worker job (per-image progress, a stop between images)."""

    def run(context: JobContext) -> ProjectScore:
        return evaluate_project(root, context.checked_progress, jobs=background_jobs())

    return Job(SCORE_KIND, str(root), run, Priority.BATCH, "Scoring the project's predictions")


class _Number(QTableWidgetItem):
    """A table cell that sorts by its value, not its text."""

    def __init__(self, value: float) -> None:
        super().__init__(percent(value))
        self.value = -1.0 if math.isnan(value) else value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.value < getattr(other, "value", 0.0)


class ProjectScoreDialog(QDialog):
    """The scores of a project's predictions; double-click an image to open it."""

    def __init__(self, open_image: Callable[[str], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Predictions against the corrected labels")
        self.open_image = open_image
        self.summary = QLabel("Counting…")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the image names get the room
        self.table.cellDoubleClicked.connect(lambda row, column: self.open_row(row))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(QLabel("Double-click an image to open it."))
        layout.addWidget(buttons)
        self.resize(560, 480)

    def show_score(self, score: ProjectScore) -> None:
        """Fill the table, worst mIoU first, and say the project's totals."""
        quality = score.quality.all
        self.summary.setText(
            f"{len(score.images)} corrected image{_s(len(score.images))} with a prediction "
            f"({score.unscored} other{_s(score.unscored)} not scored)\n"
            f"Project: mIoU {percent(score.miou)}, pixel accuracy {percent(score.pixel_accuracy)}, "
            f"PQ {percent(quality.pq)} (SQ {percent(quality.sq)} x RQ {percent(quality.rq)})"
        )
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(score.images))
        for row, image in enumerate(score.images):
            name = QTableWidgetItem(image.image_id)
            name.setData(Qt.ItemDataRole.UserRole, image.image_id)
            cells = [name, QTableWidgetItem(image.state), _Number(image.miou)]
            overall = image.quality.all
            cells += [_Number(overall.pq), _Number(overall.sq), _Number(overall.rq)]
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        self.table.setSortingEnabled(True)
        self.table.sortItems(COLUMNS.index("mIoU"), Qt.SortOrder.AscendingOrder)

    def show_problem(self, text: str) -> None:
        self.summary.setText(f"Could not score the project: {text}")

    def image_at(self, row: int) -> str:
        return str(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole))

    def open_row(self, row: int) -> None:
        self.open_image(self.image_at(row))
