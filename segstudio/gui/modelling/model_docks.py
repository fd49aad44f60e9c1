"""The model half of the main window: the Models and Train docks and the Models menu, wired.

Kept out of ``main_window.py`` so the window only creates this and closes the worker. Both docks
start hidden and the model list is asked for the first time one is shown (or a model command
runs), so start-up never loads the model backend (torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea

from segstudio.gui.canvas.layers import PREDICTION
from segstudio.gui.modelling.device_menu import DeviceMenu
from segstudio.gui.modelling.model_backend import LazyBackend
from segstudio.gui.modelling.model_jobs import ModelCatalog, PreLabeller
from segstudio.gui.modelling.models_panel import ModelsPanel
from segstudio.gui.modelling.project_score import ProjectScoreDialog, score_job
from segstudio.gui.modelling.train_panel import TrainPanel
from segstudio.gui.modelling.weights_download import WeightsDownloader
from segstudio.gui.threads.job_client import JobClient, SoloJob
from segstudio.io.project import ImageState, Project

if TYPE_CHECKING:
    from segstudio.gui.main_window import MainWindow

STATUS_MS = 5000
DOCK_HEIGHT_SHARE = 0.55
"""Of the window's height, for a model dock the first time it is shown."""


class ModelDocks(QObject):
    """Creates the model panels of ``window`` and connects them to its session, list and worker."""

    def __init__(self, window: MainWindow, backend: LazyBackend, settings: QSettings | None = None) -> None:
        super().__init__(window)
        self.window, self.backend = window, backend
        self._settings = settings
        self._sized: set[QDockWidget] = set()
        """Docks already given their first height."""
        self.score_dialog: ProjectScoreDialog | None = None
        self.jobs = JobClient(lambda: window.worker, self)
        self.catalog = ModelCatalog(self.jobs, backend, self)
        self.prelabeller = PreLabeller(self.jobs, backend, window.session, self._set_state, self)
        self.downloader = WeightsDownloader(self.jobs, backend, self)
        self.models_panel = ModelsPanel(
            self.catalog, self.prelabeller, window.image_list.selected_ids, self.downloader
        )
        self.train_panel = TrainPanel(
            self.jobs, backend, self.catalog, lambda: window.project, window.save_edits
        )
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.models_dock = self._dock("Models", self.models_panel, right)
        self.train_dock = self._dock("Train", self.train_panel, right)
        window.tabifyDockWidget(self.models_dock, self.train_dock)  # one place for the model work
        self._menu()
        self._connect()

    def _dock(self, title: str, widget: object, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"{title.lower()}-dock")
        scroll = QScrollArea()  # wrapped texts keep their height in a short dock; it scrolls instead
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(widget)  # type: ignore[arg-type]
        dock.setWidget(scroll)
        self.window.addDockWidget(area, dock)
        dock.hide()  # shown on demand: no model backend is loaded until then
        dock.visibilityChanged.connect(lambda visible: visible and self._shown(dock))
        view_menu = self.window.commands.view_menu
        if view_menu is not None:
            view_menu.addAction(dock.toggleViewAction())
        return dock

    def _menu(self) -> None:
        menu = self.window.menuBar().addMenu("&Models")
        panel = self.models_panel
        entries = (
            ("Pre-label the &current image", self._show_models(panel.prelabel_current), "Ctrl+Shift+P"),
            ("Pre-label the &selected images", self._show_models(panel.selected_button.click), None),
            ("Pre-label &all images", self._show_models(panel.all_button.click), None),
            ("Pre-label the &unlabelled images", self._show_models(panel.unlabelled_button.click), None),
            ("Ca&ncel pre-labelling", self.prelabeller.cancel_batch, None),
            ("&Train on this project…", lambda: self._raise(self.train_dock), None),
            ("&Score the project's predictions…", self.score_project, None),
            ("&Refresh the model list", self.refresh, None),
        )
        for text, slot, shortcut in entries:
            action = QAction(text, self.window)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            menu.addAction(action)
        menu.addSeparator()
        self.device_menu = DeviceMenu(menu, self.jobs, self.backend, self._settings, self)
        self.menu = menu

    def _show_models(self, command: object) -> object:
        def run() -> None:
            self._raise(self.models_dock)
            self.ensure_list()
            command()  # type: ignore[operator]

        return run

    def _connect(self) -> None:
        window, panel = self.window, self.models_panel
        show_status = window.statusBar().showMessage
        self.catalog.problem.connect(lambda text: window.show_error("Models", text))
        self.catalog.problem.connect(panel.say)  # kept in the dock (e.g. what the models need)
        self.prelabeller.problem.connect(lambda text: window.show_error("Pre-labelling failed", text))
        self.prelabeller.status.connect(lambda text: show_status(text, STATUS_MS))
        panel.message.connect(lambda text: show_status(text, STATUS_MS))
        self.train_panel.problem.connect(lambda text: window.show_error("Training failed", text))
        self.train_panel.trained.connect(self._trained)
        self.prelabeller.filed.connect(self._filed)
        self.catalog.changed.connect(lambda: self.catalog.device and panel.show_device(self.catalog.device))
        self.device_menu.described.connect(panel.show_device)
        self.device_menu.status.connect(lambda text: show_status(text, STATUS_MS))
        self.downloader.problem.connect(lambda name, text: window.show_error("Download failed", text))
        self.downloader.finished.connect(self._downloaded)
        window.session.project_opened.connect(self._project_opened)

    def _filed(self, image_id: str) -> None:
        """The image on screen got a prediction: show that layer (hidden by default, under the GT)."""
        if image_id == self.window.image_name:
            self.window.layers_panel.visible[PREDICTION].setChecked(True)

    @staticmethod
    def _raise(dock: QDockWidget) -> None:
        """Show ``dock`` in front of the dock it shares tabs with."""
        dock.show()
        dock.raise_()

    def _shown(self, dock: QDockWidget) -> None:
        """First time shown: take a good share of the height (docks beside it keep the rest)."""
        if dock not in self._sized:
            self._sized.add(dock)
            height = self.window.height()
            neighbours = [
                d
                for d in self.window.findChildren(QDockWidget)
                if d.isVisible()
                and d not in (self.models_dock, self.train_dock)
                and self.window.dockWidgetArea(d) == self.window.dockWidgetArea(dock)
            ]
            rest = int(height * (1 - DOCK_HEIGHT_SHARE)) // max(1, len(neighbours))
            self.window.resizeDocks(
                [*neighbours, dock],
                [rest] * len(neighbours) + [int(height * DOCK_HEIGHT_SHARE)],
                Qt.Orientation.Vertical,
            )
        self.ensure_list()

    def ensure_list(self) -> None:
        """Ask for the model list once (later: on project change or on request)."""
        project = self.window.project
        self.catalog.ensure(None if project is None else project.root)

    def refresh(self) -> None:
        project = self.window.project
        self.catalog.refresh(None if project is None else project.root)

    def _project_opened(self, project: Project) -> None:
        self.prelabeller.cancel_batch()
        if self.catalog.loaded:
            self.refresh()  # the new project's own checkpoints

    def score_project(self) -> ProjectScoreDialog | None:
        """IoU and PQ of every corrected image's prediction (saved first), in a dialog."""
        window = self.window
        if window.project is None:
            window.statusBar().showMessage("Open a project to score its predictions", STATUS_MS)
            return None
        if not window.save_edits():
            return None
        dialog = ProjectScoreDialog(window.open_image, window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        scoring = SoloJob(self.jobs, dialog)
        scoring.done.connect(dialog.show_score)
        scoring.failed.connect(dialog.show_problem)
        dialog.rejected.connect(scoring.cancel)
        scoring.start(score_job(window.project.root))
        dialog.open()
        self.score_dialog = dialog
        return dialog

    def _downloaded(self, name: str, path: str) -> None:
        self.refresh()  # the model's weights are present now
        self.window.statusBar().showMessage(f"Downloaded the weights of {name}: {path}", STATUS_MS)

    def _trained(self, name: str) -> None:
        self.models_panel.select_model(name)
        self.refresh()
        self.window.statusBar().showMessage(f"Trained {name}; it is now in the model list", STATUS_MS)

    def _set_state(self, image_id: str, state: ImageState) -> None:
        document = self.window.document
        unsaved = document is not None and document.image_id == image_id and document.dirty
        self.window.image_list.set_state(image_id, state, unsaved)

    def close(self) -> None:
        """Stop the running jobs (the window stops the worker itself)."""
        self.prelabeller.cancel_batch()
        self.downloader.cancel()
        self.train_panel.cancel()
