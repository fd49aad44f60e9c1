"""File > Export dataset…: choose a format and a new folder; the export runs on the worker.

The dialog only gathers the choice (format, options, an output folder that does not exist yet);
:func:`export_job` runs ``io.export.export_project`` as a BATCH job that reads the project from
disk, reporting per image; Stop ends it between images and leaves no output folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from segstudio.gui.exchange.form_dialog import FormDialog
from segstudio.gui.threads.worker import Job, JobContext, Priority
from segstudio.io.exchange import ImageMode
from segstudio.io.export import FORMAT_TITLES, ExportFormat, ExportOptions, export_project
from segstudio.io.parallel import background_jobs

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


class ExportDialog(FormDialog):
    """Format, its options and the output folder; OK only for a folder that does not exist."""

    def __init__(self, root: Path, project_name: str, home: Path, parent: QWidget | None = None) -> None:
        """``home``: the folder the export goes in unless the user browses elsewhere."""
        super().__init__("Export dataset", "Export", FORMAT_TITLES, parent)
        self.root, self.project_name, self.home = root, project_name, home
        self.images = QComboBox()
        for mode, title in IMAGE_MODE_TITLES.items():
            self.images.addItem(title, mode)
        self.polygons = QCheckBox("Polygons instead of RLE (crowd regions keep RLE)")
        self.grey = QCheckBox("Plain 8-bit grey PNGs instead of indexed colour")
        self.out = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        self.form.addRow("Photos", self.images)
        self.form.addRow("", self.polygons)
        self.form.addRow("", self.grey)
        self.form.addRow("New folder", out_row)
        self.out.textChanged.connect(self._check)
        self.finish("Exports every labelled image (the open image's edits are saved first).")

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

    def problems(self) -> list[str]:
        text = self.out.text().strip()
        if not text:
            return ["Choose a folder for the export"]
        if Path(text).exists():
            return [f"{text} already exists: an export goes to a new folder"]
        return []


def export_job(request: ExportRequest) -> Job:
    """The export as a worker job: it reads the project from disk; a stop comes between images."""

    def run(context: JobContext) -> int:
        root, fmt, out, options = request.root, request.fmt, request.out, request.options
        return export_project(root, fmt, out, options, context.checked_progress, jobs=background_jobs())

    return Job(EXPORT_KIND, str(request.root), run, Priority.BATCH, f"Exporting to {request.out}")
