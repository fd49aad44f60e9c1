"""File > Export dataset…: choose a format and a new folder; the export runs on the worker.

The dialog only gathers the choice (format, options, an output folder that does not exist yet);
:class:`DatasetExporter` runs ``io.export.export_project`` as a BATCH job that reads the project
from disk, reporting per image; Cancel stops it between images and leaves no output folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from segstudio.gui.job_client import Handlers, JobClient
from segstudio.gui.worker import Job, JobContext, Priority
from segstudio.io.exchange import ImageMode
from segstudio.io.export import FORMAT_TITLES, ExportFormat, ExportOptions, export_project

EXPORT_KIND = "export"
IMAGE_MODE_TITLES = {
    ImageMode.NONE: "Leave the photos out",
    ImageMode.COPY: "Copy the photos into images/",
    ImageMode.LINK: "Link the photos into images/ (symlinks)",
}


@dataclass(frozen=True)
class ExportRequest:
    """What to export where."""

    root: Path
    fmt: ExportFormat
    out: Path
    options: ExportOptions


def free_folder(parent: Path, stem: str) -> Path:
    """``parent/stem``, or ``stem-2``, ``stem-3``… the first that does not exist."""
    candidate, number = parent / stem, 1
    while candidate.exists():
        number += 1
        candidate = parent / f"{stem}-{number}"
    return candidate


class ExportDialog(QDialog):
    """Format, its options and the output folder; OK only for a folder that does not exist."""

    def __init__(self, root: Path, project_name: str, home: Path, parent: QWidget | None = None) -> None:
        """``home``: the folder the export goes in unless the user browses elsewhere."""
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        self.root, self.project_name, self.home = root, project_name, home
        self.format = QComboBox()
        for fmt, title in FORMAT_TITLES.items():
            self.format.addItem(title, fmt)
        self.images = QComboBox()
        for mode, title in IMAGE_MODE_TITLES.items():
            self.images.addItem(title, mode)
        self.polygons = QCheckBox("Polygons instead of RLE (crowd regions keep RLE)")
        self.grey = QCheckBox("Plain 8-bit grey PNGs instead of indexed colour")
        self.out = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c0392b")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, parent=self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Photos", self.images)
        form.addRow("", self.polygons)
        form.addRow("", self.grey)
        form.addRow("New folder", out_row)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Exports every labelled image (the open image's edits are saved first)."))
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.out.textChanged.connect(self._check)
        self._format_changed()
        self.resize(620, self.sizeHint().height())

    @property
    def chosen_format(self) -> ExportFormat:
        return ExportFormat(self.format.currentData())

    def request(self) -> ExportRequest:
        options = ExportOptions(
            images=ImageMode(self.images.currentData()),
            polygons=self.polygons.isChecked(),
            grey=self.grey.isChecked(),
        )
        return ExportRequest(self.root, self.chosen_format, Path(self.out.text().strip()), options)

    def browse(self) -> None:
        start = str(Path(self.out.text()).parent) if self.out.text() else str(self.home)
        folder = QFileDialog.getExistingDirectory(self, "Folder to put the export in", start)
        if folder:
            self.out.setText(str(free_folder(Path(folder), Path(self.out.text()).name or self.project_name)))

    def _format_changed(self) -> None:
        fmt = self.chosen_format
        self.images.setEnabled(fmt is ExportFormat.COCO_PANOPTIC)
        self.polygons.setVisible(fmt is ExportFormat.COCO_INSTANCES)
        self.grey.setVisible(fmt is ExportFormat.SEMANTIC_PNG)
        current = Path(self.out.text().strip()) if self.out.text().strip() else None
        parent = current.parent if current is not None else self.home
        self.out.setText(str(free_folder(parent, f"{self.project_name}-{fmt.value}")))
        self._check()

    def _check(self) -> None:
        text = self.out.text().strip()
        problem = ""
        if not text:
            problem = "Choose a folder for the export"
        elif Path(text).exists():
            problem = f"{text} already exists: an export goes to a new folder"
        self.problem.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)


class DatasetExporter(QObject):
    """Runs exports on the worker, one at a time, and reports them."""

    progress = Signal(int, int)
    finished = Signal(str, int)
    """The output folder, how many images it holds."""
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, jobs: JobClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.job_id: int | None = None

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def start(self, request: ExportRequest) -> int:
        def run(context: JobContext) -> int:
            def report(done: int, total: int) -> None:
                context.token.check()  # between images: a cancel leaves no output folder
                context.progress(done, total)

            return export_project(request.root, request.fmt, request.out, request.options, report)

        job = Job(EXPORT_KIND, str(request.root), run, Priority.BATCH, f"Exporting to {request.out}")
        handlers = Handlers(
            done=lambda count: self._end(lambda: self.finished.emit(str(request.out), count)),
            failed=lambda text: self._end(lambda: self.failed.emit(text)),
            cancelled=lambda: self._end(self.cancelled.emit),
            progress=self.progress.emit,
        )
        self.job_id = self.jobs.submit(job, handlers)
        return self.job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.jobs.cancel([self.job_id])

    def _end(self, report: object) -> None:
        self.job_id = None
        report()  # type: ignore[operator]
