"""Downloading a model's published weights from the GUI, on the shared worker, with progress.

The download is the models' own resumable, verified one (``models.weights.download_file``, via
the backend): a BATCH job whose byte progress is also a cancel point and a yield point, so
pre-labelling the image on screen never waits for a download. Cancelling keeps the ``.part``
file; the next download of the same model resumes from it. One download per model at a time (a
second request for the same model supersedes the first, which then resumes from its ``.part``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from segstudio.gui.modelling.model_backend import LazyBackend, ModelInfo
from segstudio.gui.threads.job_client import Handlers, JobClient
from segstudio.gui.threads.worker import Job, JobContext, Priority

DOWNLOAD_KIND = "download"
KIB_PER_MB = 1024
STOPPED_TEXT = "Download stopped; what came is kept and the next download resumes from it"
FAILED_TEXT = "Download failed; trying again resumes from what came"


def size_text(done_kib: int, total_kib: int) -> str:
    """``"12.3 of 97.8 MB"`` (or ``"12.3 MB"`` when the server gave no size)."""
    if total_kib > 0:
        return f"{done_kib / KIB_PER_MB:.1f} of {total_kib / KIB_PER_MB:.1f} MB"
    return f"{done_kib / KIB_PER_MB:.1f} MB"


class WeightsDownloader(QObject):
    """Runs weight downloads on the worker and reports them (see the module notes)."""

    progress = Signal(str, int, int)
    """Model name, KiB so far, total KiB (0 when unknown)."""
    finished = Signal(str, str)
    """Model name, the weights file now on disk."""
    cancelled = Signal(str)
    problem = Signal(str, str)
    """Model name, what went wrong (names the file or address)."""

    def __init__(self, jobs: JobClient, backend: LazyBackend, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs, self.backend = jobs, backend
        self._running: dict[str, int] = {}
        """Model name -> job id of its download."""

    def running(self, name: str | None = None) -> bool:
        """Whether ``name``'s download (any download, for None) is on its way."""
        return bool(self._running) if name is None else name in self._running

    def start(self, name: str) -> int:
        """Download ``name``'s weights; the panel hears through the signals."""
        backend = self.backend

        def run(context: JobContext) -> Path:
            return backend.get().download_weights(name, context.token, context.progress)

        job = Job(DOWNLOAD_KIND, name, run, Priority.BATCH, f"Downloading the weights of {name}")
        job_id = self.jobs.submit(job, lambda new_id: self._handlers(name, new_id))
        self._running[name] = job_id
        return job_id

    def cancel(self, name: str | None = None) -> None:
        """Stop ``name``'s download (every download, for None); what came is kept to resume."""
        names = list(self._running) if name is None else [name]
        self.jobs.cancel([self._running[n] for n in names if n in self._running])

    def _handlers(self, name: str, job_id: int) -> Handlers:
        def ended() -> bool:
            if self._running.get(name) != job_id:
                return False  # superseded by a newer download of the same model
            del self._running[name]
            return True

        def done(path: Path) -> None:
            if ended():
                self.finished.emit(name, str(path))

        def failed(text: str) -> None:
            if ended():
                self.problem.emit(name, text)

        def cancelled() -> None:
            if ended():
                self.cancelled.emit(name)

        def progress(done_kib: int, total_kib: int) -> None:
            if self._running.get(name) == job_id:
                self.progress.emit(name, done_kib, total_kib)

        return Handlers(done=done, failed=failed, cancelled=cancelled, progress=progress)


class DownloadBar(QWidget):
    """The Models dock's row for the chosen model's missing weights: Download, progress, Stop.

    Shown only for a model whose published weights are missing (or are being downloaded)."""

    def __init__(self, downloader: WeightsDownloader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.downloader = downloader
        self.model: str | None = None
        self.button = QPushButton("Download weights")
        self.button.clicked.connect(self.start)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the download; what came is kept and the next download resumes")
        self.stop_button.clicked.connect(lambda: self.model and downloader.cancel(self.model))
        self.label = QLabel("")
        self.label.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.bar, 1)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.label)
        downloader.progress.connect(self._progress)
        downloader.finished.connect(lambda name, path: self._ended(name, f"Downloaded {Path(path).name}"))
        downloader.cancelled.connect(lambda name: self._ended(name, STOPPED_TEXT))
        downloader.problem.connect(lambda name, text: self._ended(name, FAILED_TEXT))
        self.show_model(None)

    def show_model(self, info: ModelInfo | None) -> None:
        """Follow the chosen model: offer its download, or show the one running."""
        name = None if info is None else info.name
        if name != self.model:
            self.label.setText("")
            self.bar.reset()
        self.model = name
        running = name is not None and self.downloader.running(name)
        self.setVisible(running or (info is not None and info.downloadable))
        self._set_running(running)

    def start(self) -> None:
        if self.model is not None and not self.downloader.running(self.model):
            self.downloader.start(self.model)
            self.bar.setRange(0, 0)  # busy until the first progress tells the size
            self.label.setText("Connecting…")
            self._set_running(True)

    def _progress(self, name: str, done_kib: int, total_kib: int) -> None:
        if name != self.model:
            return
        if total_kib > 0:
            self.bar.setRange(0, total_kib)
            self.bar.setValue(min(done_kib, total_kib))
        self.label.setText(f"Downloading: {size_text(done_kib, total_kib)}")

    def _ended(self, name: str | None, text: str) -> None:
        if name != self.model or name is None:
            return
        self._set_running(False)
        if text:
            self.label.setText(text)
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)  # leave the busy state

    def _set_running(self, running: bool) -> None:
        self.button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.bar.setVisible(running or self.bar.value() > 0)
