"""The window's dataset exchange: File > Import dataset… and File > Export dataset…, one at a
time on the worker, with a progress bar and Stop in the status bar and a message when done.
Kept out of ``main_window.py``; the dialogs and the jobs are ``import_dialog`` and ``export_dialog``,
imported when first opened (the dataset formats behind them take ~0.15 s to import: not at start-up).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from segstudio.gui.document.projects import PROJECT_SUBFOLDER
from segstudio.gui.host import Host
from segstudio.gui.notices import notice
from segstudio.gui.threads.job_client import JobClient, SoloJob
from segstudio.gui.threads.worker import Job

if TYPE_CHECKING:
    from segstudio.gui.exchange.export_dialog import ExportDialog
    from segstudio.gui.exchange.import_dialog import ImportDialog

STATUS_MS = 5000
MAX_WARNINGS = 30


def export_home(root: Path, data_dir: Path) -> Path:
    """Where exports of the project at ``root`` go by default: beside the project folder (beside
    the image folder for a project kept inside it), the home folder for one kept in app data."""
    root = root.resolve()
    if root.is_relative_to(data_dir.resolve()):
        return Path.home()
    return root.parent.parent if root.name == PROJECT_SUBFOLDER else root.parent


class ExchangeHost(Host, Protocol):
    """The window as the exchange sees it: a :class:`Host` that opens the imported project."""

    def open_path(self, path: Path) -> bool:
        """Open a project folder (the new one); False when it did not open (the error was shown)."""
        ...


class ExchangeControl(QObject):
    """Opens the import and export dialogs and runs what they ask for (one exchange at a time).

    ``window`` parents the dialogs and shows the progress in its status bar; ``host`` is what the
    exchange asks of it; ``data_dir`` holds projects kept in app data (not a place for exports).
    """

    def __init__(self, window: QMainWindow, jobs: JobClient, host: ExchangeHost, data_dir: Path) -> None:
        super().__init__(window)
        self.window, self.host, self.data_dir = window, host, data_dir
        self.job = SoloJob(jobs, self)
        self._done: Callable[[object], None] = lambda result: None
        self._what = ""
        """"import" or "export", while one runs."""
        self.status = QWidget()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.job.cancel)
        row = QHBoxLayout(self.status)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.stop_button)
        window.statusBar().addPermanentWidget(self.status)
        self.status.hide()
        self.job.progress.connect(self._progress)
        self.job.done.connect(self._finished)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(self._cancelled)

    def _busy(self) -> bool:
        if self.job.running:
            self.host.show_status("An import or export is running", STATUS_MS)
        return self.job.running

    # -- export --------------------------------------------------------------------------------

    def open_export(self) -> ExportDialog | None:
        """File > Export dataset…: the dialog (window-modal, not blocking), or None when nothing
        can be exported now (no project, an exchange running, or the open image would not save)."""
        project = self.host.project
        if project is None:
            self.host.show_status("Open a project to export it", STATUS_MS)
            return None
        if self._busy():
            return None
        if not self.host.save_edits():
            return None
        from segstudio.gui.exchange.export_dialog import ExportDialog, export_job

        name = project.root.parent.name if project.root.name == PROJECT_SUBFOLDER else project.root.name
        dialog = ExportDialog(project.root, name, export_home(project.root, self.data_dir), self.window)

        def start() -> None:
            request = dialog.request()
            self._start("export", export_job(request), lambda count: self._exported(request.out, count))

        dialog.accepted.connect(start)
        self._open(dialog)
        return dialog

    def _exported(self, out: Path, count: object) -> None:
        plural = "s" if count != 1 else ""
        self._tell("Export finished", f"Exported {count} labelled image{plural} to\n{out}")

    # -- import --------------------------------------------------------------------------------

    def open_import(self) -> ImportDialog | None:
        """File > Import dataset…: the dialog, or None while an exchange runs."""
        if self._busy():
            return None
        from segstudio.gui.exchange.import_dialog import ImportDialog, import_job

        dialog = ImportDialog(self.window)

        def start() -> None:
            root = dialog.project_root()
            job = import_job(dialog.source(), root)
            self._start("import", job, lambda warnings: self._imported(root, warnings))

        dialog.accepted.connect(start)
        self._open(dialog)
        return dialog

    def _imported(self, root: Path, warnings: object) -> None:
        """Open the new project; say what the reader skipped (at most ``MAX_WARNINGS`` lines)."""
        lines = list(warnings) if isinstance(warnings, list) else []
        if self.host.open_path(root) and lines:
            more = f"\n… and {len(lines) - MAX_WARNINGS} more" if len(lines) > MAX_WARNINGS else ""
            self._tell("Imported with warnings", "\n".join(lines[:MAX_WARNINGS]) + more)

    # -- running -------------------------------------------------------------------------------

    @staticmethod
    def _open(dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _start(self, what: str, job: Job, done: Callable[[object], None]) -> None:
        self._done, self._what = done, what
        self.bar.setFormat(f"{what} %p%")
        self.bar.setRange(0, 0)  # busy until the first progress
        self.status.show()
        self.job.start(job)

    def _finished(self, result: object) -> None:
        self._ended()
        self._done(result)

    def _progress(self, done: int, total: int) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(done)

    def _ended(self) -> None:
        self.status.hide()

    def _failed(self, text: str) -> None:
        self._ended()
        self.host.show_error(f"{self._what.capitalize()} failed", text)

    def _cancelled(self) -> None:
        self._ended()
        self.host.show_status("Stopped; nothing was written", STATUS_MS)

    def _tell(self, title: str, text: str) -> None:
        notice(self.window, QMessageBox.Icon.Information, title, text)
