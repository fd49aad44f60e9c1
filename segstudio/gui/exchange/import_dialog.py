"""File > Import dataset…: a dataset in another tool's format becomes a new project, then opens.

The dialog gathers a :class:`~segstudio.io.dataset_import.DatasetSource` (the fields change with
the format, as the CLI's options do) and a new project folder; :func:`import_job` runs
``io.dataset_import.import_dataset`` as a BATCH job with per-image progress and Stop (nothing is
left behind by a stopped or failed import).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from segstudio.core.palette import BUILTIN_PALETTES
from segstudio.gui.exchange.form_dialog import FormDialog
from segstudio.gui.threads.worker import Job, JobContext, Priority
from segstudio.io.dataset_import import IMPORT_TITLES, DatasetSource, ImportFormat, import_dataset
from segstudio.io.parallel import background_jobs
from segstudio.io.semantic_png import SEMANTIC_VOID

IMPORT_KIND = "import"
JSON_FILTER = "JSON (*.json);;All files (*)"
JSON_FORMATS = (ImportFormat.COCO_PANOPTIC, ImportFormat.COCO_INSTANCES)
"""The formats whose JSON names its files (absolute names are only followed when asked)."""
ANNOTATION_LABELS = {
    ImportFormat.COCO_PANOPTIC: "Panoptic JSON",
    ImportFormat.COCO_INSTANCES: "Instances JSON",
    ImportFormat.SEMANTIC_PNG: "Mask folder",
    ImportFormat.LABELME: "labelme folder",
    ImportFormat.CITYSCAPES: "gtFine folder",
}


class PathField(QWidget):
    """A path line edit with a Browse… button for a file or a folder."""

    def __init__(self, title: str, folder: bool, file_filter: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.title, self.folder, self.file_filter = title, folder, file_filter
        self.edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

    @property
    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text) if text else None

    def browse(self) -> None:
        start = self.edit.text() or str(Path.home())
        if self.folder:
            chosen = QFileDialog.getExistingDirectory(self, self.title, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self.title, start, self.file_filter)
        if chosen:
            self.edit.setText(chosen)


class ImportDialog(FormDialog):
    """Format, what to read, and the new project's folder; Import only when they make sense."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Import dataset", "Import", IMPORT_TITLES, parent)
        self.annotations_json = PathField("Annotation JSON", folder=False, file_filter=JSON_FILTER)
        self.annotations_folder = PathField("Annotation folder", folder=True)
        self.images = PathField("Folder of the photos", folder=True)
        self.masks = PathField("Folder of the panoptic PNGs", folder=True)
        self.masks.edit.setPlaceholderText("default: the JSON path without .json")
        self.palette = QComboBox()
        self.palette.setEditable(True)
        self.palette.addItems(sorted(BUILTIN_PALETTES))
        self.palette.setCurrentText("voc")  # VOC-style class-value PNGs are the common case
        self.palette.setToolTip("A built-in palette, or the path of a palette JSON file")
        self.void = QSpinBox()
        self.void.setRange(0, 65535)
        self.void.setValue(SEMANTIC_VOID)
        self.project = PathField("New project folder", folder=True)
        self.allow_absolute = QCheckBox("Follow absolute file names in the JSON")
        self.allow_absolute.setToolTip(
            "Off: every photo and mask must lie inside the folders chosen here, as a shared dataset "
            "cannot then read files elsewhere on this computer. '..' is refused either way."
        )
        self.form.addRow(ANNOTATION_LABELS[ImportFormat.COCO_PANOPTIC], self.annotations_json)
        self.form.addRow(ANNOTATION_LABELS[ImportFormat.SEMANTIC_PNG], self.annotations_folder)
        self.form.addRow("PNG folder", self.masks)
        self.form.addRow("Photos", self.images)
        self.form.addRow("Palette", self.palette)
        self.form.addRow("Unlabelled value", self.void)
        self.form.addRow("", self.allow_absolute)
        self.form.addRow("New project", self.project)
        for field in (self.annotations_json, self.annotations_folder, self.images, self.project):
            field.edit.textChanged.connect(self._check)
        self.palette.currentTextChanged.connect(self._check)
        self.finish()

    @property
    def chosen_format(self) -> ImportFormat:
        return ImportFormat(self.format.currentData())

    def _annotations(self) -> PathField:
        return self.annotations_json if self.chosen_format in JSON_FORMATS else self.annotations_folder

    def source(self) -> DatasetSource:
        fmt = self.chosen_format
        palette = self.palette.currentText().strip() or None
        return DatasetSource(
            fmt,
            self._annotations().path or Path(),
            self.images.path,
            masks=self.masks.path if fmt is ImportFormat.COCO_PANOPTIC else None,
            palette=palette if fmt in (ImportFormat.SEMANTIC_PNG, ImportFormat.LABELME) else None,
            void=self.void.value(),
            allow_absolute=self.allow_absolute.isChecked() and fmt in JSON_FORMATS,
        )

    def project_root(self) -> Path:
        return self.project.path or Path()

    def _show(self, widget: QWidget, visible: bool, label: str | None = None) -> None:
        self.form.setRowVisible(widget, visible)
        if label is not None and visible:
            self.form.labelForField(widget).setText(label)  # type: ignore[union-attr]

    def _format_changed(self) -> None:
        fmt = self.chosen_format
        annotations = self._annotations()
        self._show(self.annotations_json, annotations is self.annotations_json, ANNOTATION_LABELS[fmt])
        self._show(self.annotations_folder, annotations is self.annotations_folder, ANNOTATION_LABELS[fmt])
        self._show(self.masks, fmt is ImportFormat.COCO_PANOPTIC)
        self._show(self.palette, fmt in (ImportFormat.SEMANTIC_PNG, ImportFormat.LABELME))
        self._show(self.void, fmt is ImportFormat.SEMANTIC_PNG)
        self._show(self.allow_absolute, fmt in JSON_FORMATS)
        labelme = fmt is ImportFormat.LABELME
        self.images.edit.setPlaceholderText("default: the labelme folder" if labelme else "")
        if labelme and self.palette.currentText() in BUILTIN_PALETTES:
            self.palette.setEditText("")  # labelme: a palette from the label names unless one is chosen
        self._check()

    def problems(self) -> list[str]:
        """What stops the import now (empty: it may run)."""
        fmt, found = self.chosen_format, []
        annotations = self._annotations().path
        if annotations is None:
            found.append(f"Choose the {ANNOTATION_LABELS[fmt].lower()}")
        elif not annotations.exists():
            found.append(f"{annotations} does not exist")
        if fmt is not ImportFormat.LABELME and self.images.path is None:
            found.append("Choose the folder of the photos")
        if fmt is ImportFormat.SEMANTIC_PNG and not self.palette.currentText().strip():
            found.append("Semantic PNGs need a palette: their values are class ids")
        root = self.project.path
        if root is None:
            found.append("Choose a folder for the new project")
        elif root.exists():
            found.append(f"{root} already exists: an import makes a new project folder")
        return found


def import_job(source: DatasetSource, project_root: Path) -> Job:
    """The import as a worker job returning the reader's warnings; a stop comes between images."""

    def run(context: JobContext) -> list[str]:
        return import_dataset(source, project_root, context.checked_progress, background_jobs())[1]

    return Job(IMPORT_KIND, str(project_root), run, Priority.BATCH, f"Importing into {project_root}")
