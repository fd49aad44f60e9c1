"""The Models dock: choose a model, pre-label the current, selected, all or unlabelled images.

A model whose weights are missing stays selectable: the panel says which file to place where,
and running it fails with that message. Batches show one overall progress bar and a Cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from segstudio.gui.modelling.class_map_dialog import ClassMapDialog
from segstudio.gui.modelling.model_backend import model_label, pick_default
from segstudio.gui.modelling.model_jobs import ModelCatalog, PreLabeller
from segstudio.gui.modelling.weights_download import DownloadBar, WeightsDownloader
from segstudio.io.class_map import ClassMapError

WEIGHTS_FILTER = "Weights (*.pt *.pth);;All files (*)"


RANDOM_WEIGHTS_WARNING = (
    "{name} has no published weights and has not been trained: it labels with random weights "
    "(noise). Train it on this project first, or choose a Weights file…"
)


class ModelsPanel(QWidget):
    """Model choice and pre-label commands; the work is the :class:`PreLabeller`'s."""

    message = Signal(str)
    """What the panel says, for the status bar too (the dock's own line may be out of view)."""

    def __init__(
        self,
        catalog: ModelCatalog,
        prelabeller: PreLabeller,
        selected_ids: Callable[[], list[str]],
        downloader: WeightsDownloader,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.catalog, self.prelabeller = catalog, prelabeller
        self._selected_ids = selected_ids
        self.weights: Path | None = None
        self.wanted: str | None = None
        """The model to choose when the list arrives (None: ``pick_default``'s choice)."""
        self.model_combo = QComboBox()
        self.model_combo.setPlaceholderText("Loading the model list…")
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.download = DownloadBar(downloader)
        self.device_label = QLabel("Device: chosen at the first model job")
        self.device_label.setToolTip("Models > Device chooses where models run")
        self.weights_label = QLabel("default weights")
        choose = QPushButton("Weights file…")
        choose.clicked.connect(self.choose_weights)
        clear = QPushButton("Default")
        clear.clicked.connect(lambda: self.set_weights(None))
        self.class_map_button = QPushButton("Class mapping…")
        self.class_map_button.setToolTip("Which palette class each of the model's classes becomes")
        self.class_map_button.clicked.connect(self.edit_class_map)
        self.current_button = QPushButton("Current image")
        self.selected_button = QPushButton("Selected images")
        self.all_button = QPushButton("All images")
        self.unlabelled_button = QPushButton("Unlabelled only")
        self.current_button.clicked.connect(self.prelabel_current)
        self.selected_button.clicked.connect(lambda: self.prelabel_batch(self._selected_ids()))
        self.all_button.clicked.connect(lambda: self.prelabel_batch(prelabeller.all_ids()))
        self.unlabelled_button.clicked.connect(lambda: self.prelabel_batch(prelabeller.unlabelled_ids()))
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(prelabeller.cancel_batch)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights_label, 1)
        weights_row.addWidget(choose)
        weights_row.addWidget(clear)
        buttons = QGridLayout()
        buttons.addWidget(self.current_button, 0, 0)
        buttons.addWidget(self.selected_button, 0, 1)
        buttons.addWidget(self.all_button, 1, 0)
        buttons.addWidget(self.unlabelled_button, 1, 1)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("Model"))
        layout.addWidget(self.model_combo)
        layout.addWidget(self.info)
        layout.addWidget(self.download)
        layout.addLayout(weights_row)
        layout.addWidget(self.class_map_button)
        layout.addWidget(QLabel("Pre-label"))
        layout.addLayout(buttons)
        layout.addLayout(progress_row)
        layout.addWidget(self.status)
        layout.addWidget(self.device_label)
        layout.addStretch(1)

        catalog.changed.connect(self._fill)
        prelabeller.batch_progress.connect(self._batch_progress)
        prelabeller.batch_ended.connect(self._batch_ended)
        prelabeller.current_progress.connect(self._batch_progress)
        prelabeller.current_ended.connect(self._current_ended)
        prelabeller.status.connect(self.status.setText)
        self._set_running(False)

    @property
    def model(self) -> str | None:
        """The chosen model's name (None until the list has arrived)."""
        return self.model_combo.currentData()

    def select_model(self, name: str) -> None:
        """Choose ``name`` now, or as soon as the list that has it arrives."""
        self.wanted = name
        index = self.model_combo.findData(name)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)

    def set_weights(self, path: Path | None) -> None:
        self.weights = path
        self.weights_label.setText("default weights" if path is None else path.name)
        self.weights_label.setToolTip("" if path is None else str(path))

    def choose_weights(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Weights for the model", "", WEIGHTS_FILTER)
        if name:
            self.set_weights(Path(name))

    def class_map_dialog(self) -> ClassMapDialog | None:
        """The class-mapping dialog of the chosen model in the open project (None: nothing to map)."""
        project = self.prelabeller.session.project
        info = self.catalog.get(self.model or "")
        if project is None or info is None:
            self.say("Open a project and choose a model to edit its class mapping")
            return None
        try:
            return ClassMapDialog(project.root, info.name, info.classes, project.palette, self)
        except ClassMapError as error:  # a model name that would lead outside the project
            self.status.setText(str(error))
            return None

    def edit_class_map(self) -> None:
        dialog = self.class_map_dialog()
        if dialog is not None and dialog.exec():
            self.say(f"Class mapping of {dialog.model} saved: {dialog.path.name}")

    def say(self, text: str) -> None:
        """Show ``text`` in the dock and the window's status bar."""
        self.status.setText(text)
        self.message.emit(text)

    def prelabel_current(self) -> None:
        """Pre-label the open image; the bar shows its run, the line under it what became of it."""
        if not self._ready():
            return
        warning = self.status.text() if self._random_weights() else ""
        if self.prelabeller.current(self.model, self.weights) is None:  # type: ignore[arg-type]
            return
        if not self.prelabeller.batch_running:
            self.progress.setRange(0, 0)  # busy until the first tiles are done
        self.status.setText(
            " ".join(filter(None, [f"Pre-labelling the current image with {self.model}…", warning]))
        )

    def _random_weights(self) -> bool:
        info = self.catalog.get(self.model or "")
        return info is not None and info.random_init and self.weights is None

    def prelabel_batch(self, image_ids: list[str]) -> None:
        if not self._ready():
            return
        if not image_ids:
            self.say("No images to pre-label")
            return
        self.prelabeller.batch(image_ids, self.model, self.weights)  # type: ignore[arg-type]
        self._set_running(True)
        self.status.setText(f"Pre-labelling {len(image_ids)} images with {self.model}")

    def _ready(self) -> bool:
        """Whether pre-labelling can start; says why not (a job that must fail is never queued)."""
        if self.model is None:
            self.say("The model list has not arrived yet")
            return False
        info = self.catalog.get(self.model)
        if info is not None and not info.weights_present and self.weights is None:
            ways = "choose a Weights file…"
            if info.download_url:
                ways = f"Download weights, or {ways}"
            self.say(f"{info.name} has no weights on this computer yet: {ways}")
            project = self.prelabeller.session.project
            self.catalog.refresh(None if project is None else project.root)  # a file placed by hand since
            return False
        if self._random_weights():
            self.say(RANDOM_WEIGHTS_WARNING.format(name=info.name))  # runs, but never unsaid
        return True

    def _fill(self) -> None:
        models = self.catalog.models
        wanted = self.wanted  # the current choice, or a model asked for before the list had it
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for info in models:
            self.model_combo.addItem(model_label(info), info.name)
        self.model_combo.blockSignals(False)
        if models:
            self.model_combo.setCurrentIndex(pick_default(models, wanted))
        self._model_changed()

    def _model_changed(self) -> None:
        info = self.catalog.get(self.model or "")
        self.download.show_model(info)
        if info is None:
            self.info.setText("")
            return
        self.wanted = info.name
        lines = [info.description] if info.description else []
        if info.random_init:
            lines.append("Warning: no published weights: it labels with random weights until trained.")
        elif not info.weights_present:
            lines.append(f"Weights missing: {info.hint}")
            if info.download_url:
                lines.append("Download weights fetches them (resumable, checked).")
        self.info.setText("\n".join(lines))
        self.info.setStyleSheet("color: #d04020;" if info.random_init else "")

    def show_device(self, text: str) -> None:
        self.device_label.setText(f"Device: {text}")

    def _batch_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _current_ended(self, image_id: str, filed: bool) -> None:
        """A finished run leaves no busy or empty bar and no earlier message behind."""
        if not self.prelabeller.batch_running:
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if filed else 0)
        if filed:
            noise = " (random weights: noise until trained)" if self._random_weights() else ""
            self.status.setText(f"Pre-labelled {image_id} with {self.model}{noise}")
        elif not self.status.text() or self.status.text().endswith("…"):
            self.status.setText(f"Pre-labelling {image_id} did not finish")

    def _batch_ended(self, labelled: int, asked: int) -> None:
        self._set_running(False)
        self.status.setText(f"Pre-labelled {labelled} of {asked} images")

    def _set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        if not running:
            self.progress.setValue(self.progress.maximum() if self.progress.value() > 0 else 0)
