"""The Train dock: fine-tune an architecture on the project's saved labels, with a live loss/mIoU plot.

Training is one BATCH job on the shared worker, so pre-labelling the open image still runs at its
check points. Points of the curve arrive through the job's ``update`` (at most ``PLOT_HZ`` per
second); the checkpoint goes to ``PROJECT/models/NAME.pt`` (written atomically by the models
half) and is registered as a model, which the Models dock then offers. The plot (pyqtgraph, a few
hundred milliseconds to import) is built the turn after its slot first paints (the dock shown), or
when asked for (`gui/chart_slot.py`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segstudio.core.model_records import checkpoint_path
from segstudio.gui.chart_slot import ChartSlot
from segstudio.gui.modelling.model_backend import LazyBackend, TrainPoint, TrainSettings, TrainSummary
from segstudio.gui.modelling.model_jobs import ModelCatalog
from segstudio.gui.threads.job_client import Handlers, JobClient
from segstudio.gui.threads.worker import Job, JobContext, Priority
from segstudio.io.project import Project

if TYPE_CHECKING:
    import pyqtgraph as pg

TRAIN_KIND = "train"
DEFAULT_ARCHITECTURE = "unet-small"
PLOT_HZ = 10.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def default_name(project: Project, architecture: str) -> str:
    """A file-safe model name: the project's name and the architecture."""
    return _UNSAFE.sub("-", f"{project.name}-{architecture}").strip("-.") or architecture


class TrainPanel(QWidget):
    """Settings, Train/Cancel, progress and the curves; emits ``trained(name)`` with the new model."""

    trained = Signal(str)
    problem = Signal(str)

    def __init__(
        self,
        jobs: JobClient,
        backend: LazyBackend,
        catalog: ModelCatalog,
        project: Callable[[], Project | None],
        save_open_image: Callable[[], bool] = lambda: True,
        parent: QWidget | None = None,
    ) -> None:
        """``save_open_image`` saves the open image's unsaved edits (False: saving failed, do
        not train), so training learns from the corrections on screen too."""
        super().__init__(parent)
        self.jobs, self.backend, self.catalog, self._project = jobs, backend, catalog, project
        self._save_open_image = save_open_image
        self.job_id: int | None = None
        self.points: list[TrainPoint] = []
        self.summary: TrainSummary | None = None
        self.architecture = QComboBox()
        self.architecture.currentIndexChanged.connect(self._suggest_name)
        self.name = QLineEdit()
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(30)
        self.time_limit = QSpinBox()
        self.time_limit.setRange(0, 24 * 3600)
        self.time_limit.setValue(180)
        self.time_limit.setSuffix(" s")
        self.time_limit.setSpecialValueText("no limit")
        self.train_button = QPushButton("Train on this project")
        self.train_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.result = QLabel("Trains on the labelled images (the open image's edits are saved first)")
        self.result.setWordWrap(True)
        self._curves: tuple[pg.PlotWidget, pg.PlotDataItem, pg.PlotDataItem] | None = None
        self.plot_slot = ChartSlot(self._plot_parts)

        form = QFormLayout()
        form.addRow("Architecture", self.architecture)
        form.addRow("Model name", self.name)
        form.addRow("Epochs", self.epochs)
        form.addRow("Time budget", self.time_limit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button, 1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.plot_slot, 1)
        layout.addWidget(self.result)
        catalog.changed.connect(self._fill)
        self._set_running(False)

    @property
    def plot(self) -> pg.PlotWidget:
        """The loss/mIoU plot (built now if it was not yet)."""
        return self._plot_parts()[0]

    @property
    def loss_curve(self) -> pg.PlotDataItem:
        return self._plot_parts()[1]

    @property
    def miou_curve(self) -> pg.PlotDataItem:
        return self._plot_parts()[2]

    def _plot_parts(self) -> tuple[pg.PlotWidget, pg.PlotDataItem, pg.PlotDataItem]:
        if self._curves is None:
            import pyqtgraph as pg

            plot = pg.PlotWidget()
            plot.setMinimumHeight(140)
            plot.addLegend(offset=(-10, 10))
            plot.getAxis("bottom").setLabel("step")
            loss = plot.plot([], [], pen=pg.mkPen((220, 80, 60), width=2), name="loss")
            miou = plot.plot([], [], pen=pg.mkPen((60, 120, 220), width=2), name="mIoU")
            self.plot_slot.put(plot)
            self._curves = (plot, loss, miou)
            self._redraw()
        return self._curves

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def settings(self) -> TrainSettings:
        limit = self.time_limit.value()
        return TrainSettings(epochs=self.epochs.value(), time_limit=float(limit) if limit else None)

    def start(self) -> int | None:
        """Submit the training job (one at a time); returns its id."""
        project = self._project()
        architecture = self.architecture.currentData()
        name = self.name.text().strip()
        if project is None or self.running:
            return None
        if architecture is None or not name or _UNSAFE.search(name):
            self.result.setText("Choose an architecture and a name of letters, digits, '-', '_' or '.'")
            return None
        if not self._save_open_image():
            self.result.setText("The open image could not be saved; training not started")
            return None
        backend, root, settings = self.backend, project.root, self.settings()
        out = checkpoint_path(root, name)
        last = [0.0]

        def run(context: JobContext) -> TrainSummary:
            def step(point: TrainPoint) -> None:
                context.progress(point.step, point.steps)
                now = time.monotonic()
                if now - last[0] >= 1 / PLOT_HZ or point.step == point.steps:
                    last[0] = now
                    context.update(point)

            return backend.get().train(root, architecture, out, settings, context.token, step)

        self.points = []
        self.summary = None
        self._redraw()
        self.result.setText(f"Training {name} from {architecture}…")
        job = Job(TRAIN_KIND, str(root), run, Priority.BATCH, f"Training {name}")
        self.job_id = self.jobs.submit(
            job,
            Handlers(
                done=self._done,
                failed=self._failed,
                cancelled=self._cancelled,
                progress=self._progress,
                update=self._point,
                message=self.result.setText,
            ),
        )
        self._set_running(True)
        return self.job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.jobs.cancel([self.job_id])

    def _point(self, point: TrainPoint) -> None:
        self.points.append(point)
        self._redraw()

    def _redraw(self) -> None:
        steps = [p.step for p in self.points]
        self.loss_curve.setData(steps, [p.loss for p in self.points])
        self.miou_curve.setData(steps, [p.miou for p in self.points])

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _done(self, summary: TrainSummary) -> None:
        self._set_running(False)
        self.summary = summary
        miou = "n/a" if summary.val_miou is None else f"{summary.val_miou:.1%}"
        self.result.setText(
            f"{summary.name}: {summary.epochs} epochs in {summary.seconds:.0f} s "
            f"(stopped by {summary.stopped_by}), held-out mIoU {miou}\nSaved {summary.checkpoint}"
        )
        self.trained.emit(summary.name)

    def _failed(self, text: str) -> None:
        self._set_running(False)
        self.result.setText("Training failed")
        self.problem.emit(text)

    def _cancelled(self) -> None:
        self._set_running(False)
        self.result.setText("Training cancelled; nothing was saved")

    def _set_running(self, running: bool) -> None:
        if not running:
            self.job_id = None
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _fill(self) -> None:
        wanted = self.architecture.currentData() or DEFAULT_ARCHITECTURE
        self.architecture.blockSignals(True)
        self.architecture.clear()
        for info in self.catalog.models:
            if info.trainable:
                self.architecture.addItem(info.name, info.name)
        index = self.architecture.findData(wanted)
        self.architecture.setCurrentIndex(max(0, index))
        self.architecture.blockSignals(False)
        self._suggest_name()

    def _suggest_name(self) -> None:
        project, architecture = self._project(), self.architecture.currentData()
        if project is not None and architecture is not None:
            self.name.setText(default_name(project, architecture))
