"""The window's export: File > Export dataset…, a progress bar with Stop in the status bar, and
a message when done. Kept out of ``main_window.py``; the dialog and the job are ``export_dialog``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QProgressBar, QPushButton, QWidget

from segstudio.gui.export_dialog import DatasetExporter, ExportDialog
from segstudio.gui.job_client import JobClient
from segstudio.gui.projects import PROJECT_SUBFOLDER

if TYPE_CHECKING:
    from segstudio.gui.main_window import MainWindow


def export_home(root: Path, data_dir: Path) -> Path:
    """Where exports of the project at ``root`` go by default: beside the project folder (beside
    the image folder for a project kept inside it), the home folder for one kept in app data."""
    root = root.resolve()
    if root.is_relative_to(data_dir.resolve()):
        return Path.home()
    return root.parent.parent if root.name == PROJECT_SUBFOLDER else root.parent


class ExportControl(QObject):
    """Opens the export dialog for the window's project and runs the export it asks for."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.exporter = DatasetExporter(JobClient(lambda: window.worker, self), self)
        self.dialog: ExportDialog | None = None
        self.status = QWidget()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.bar.setFormat("export %p%")
        self.stop_button = QPushButton("Stop export")
        self.stop_button.clicked.connect(self.exporter.cancel)
        row = QHBoxLayout(self.status)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.stop_button)
        window.statusBar().addPermanentWidget(self.status)
        self.status.hide()
        self.exporter.progress.connect(self._progress)
        self.exporter.finished.connect(self._finished)
        self.exporter.failed.connect(self._failed)
        self.exporter.cancelled.connect(self._cancelled)

    def open_dialog(self) -> ExportDialog | None:
        """File > Export dataset…: the dialog (window-modal, not blocking), or None when nothing
        can be exported now (no project, an export running, or the open image would not save)."""
        window, project = self.window, self.window.project
        if project is None:
            window.statusBar().showMessage("Open a project to export it", 5000)
            return None
        if self.exporter.running:
            window.statusBar().showMessage("An export is running", 5000)
            return None
        document = window.document
        window.toolbox.finish()
        if document is not None and document.dirty and not window.save():
            return None
        home = export_home(project.root, window.data_dir)
        name = project.root.parent.name if project.root.name == PROJECT_SUBFOLDER else project.root.name
        dialog = self.dialog = ExportDialog(project.root, name, home, window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.exporter.start(dialog.request()))
        dialog.accepted.connect(self._started)
        dialog.open()
        return dialog

    def _started(self) -> None:
        self.bar.setRange(0, 0)
        self.status.show()

    def _progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)

    def _ended(self) -> None:
        self.status.hide()

    def _finished(self, out: str, count: int) -> None:
        self._ended()
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Export finished",
            f"Exported {count} labelled image{'s' if count != 1 else ''} to\n{out}",
            QMessageBox.StandardButton.Ok,
            self.window,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _failed(self, text: str) -> None:
        self._ended()
        self.window.show_error("Export failed", text)

    def _cancelled(self) -> None:
        self._ended()
        self.window.statusBar().showMessage("Export stopped; nothing was written", 5000)
