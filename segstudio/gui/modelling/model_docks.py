"""The model half of the main window: the Models and Train docks and the Models menu, wired.

Kept out of ``main_window.py`` so the window only creates this and closes the worker. Both docks
start hidden and the model list is asked for the first time one is shown (or a model command
runs), so start-up never loads the model backend (torch). A remembered layout that shows one at
start-up holds the list (:meth:`ModelDocks.hold`) until the user turns to the dock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QMenu, QScrollArea

from segstudio.gui.document.session import Session
from segstudio.gui.host import Host
from segstudio.gui.modelling.device_menu import DeviceMenu
from segstudio.gui.modelling.model_backend import LazyBackend
from segstudio.gui.modelling.model_jobs import ModelCatalog, PreLabeller
from segstudio.gui.modelling.models_panel import ModelsPanel
from segstudio.gui.modelling.train_panel import TrainPanel
from segstudio.gui.modelling.weights_download import WeightsDownloader
from segstudio.gui.threads.job_client import JobClient, SoloJob
from segstudio.io.project import ImageState, Project

if TYPE_CHECKING:  # Models > Score project imports its evaluation when asked (not at start-up)
    from segstudio.gui.modelling.project_score import ProjectScoreDialog

STATUS_MS = 5000
HELD_PLACEHOLDER = "The model list loads when you use this dock"
LOADING_PLACEHOLDER = "Loading the model list…"
MIN_DOCK_SIZE = (300, 260)
"""A model dock's least size: the model choice, the pre-label buttons and the progress in view
(the rest scrolls); the window tabs it with the IoU dock, so it never squeezes the classes."""


class ModelHost(Host, Protocol):
    """The window as the model docks see it: a :class:`Host` that also opens an image (from the
    score list), shows the prediction layer and an image's new state in the image list."""

    def open_image(self, image_id: str) -> bool: ...

    def show_prediction(self) -> None:
        """Make the prediction layer visible (hidden by default, under the ground truth)."""
        ...

    def show_image_state(self, image_id: str, state: ImageState) -> None:
        """The image list shows ``image_id`` in ``state`` (unsaved edits marked as such)."""
        ...


class ModelDocks(QObject):
    """Creates the model docks and menu in ``window`` and connects them to the session and worker.

    ``window`` receives the docks and the Models menu (and their toggles in ``view_menu``);
    ``host`` is what the docks ask of it; ``selected_images`` the image list's selection.
    """

    def __init__(
        self,
        window: QMainWindow,
        host: ModelHost,
        *,
        session: Session,
        jobs: JobClient,
        backend: LazyBackend,
        selected_images: Callable[[], list[str]],
        view_menu: QMenu | None = None,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(window)
        self.window, self.host, self.backend = window, host, backend
        self._session = session
        self._view_menu = view_menu
        self._settings = settings
        self.score_dialog: ProjectScoreDialog | None = None
        self.held = False
        """Shown by a restored layout, not by the user: showing a dock asks for no list yet."""
        self.jobs = jobs
        self.catalog = ModelCatalog(self.jobs, backend, self)
        self.prelabeller = PreLabeller(self.jobs, backend, session, host.show_image_state, self)
        self.downloader = WeightsDownloader(self.jobs, backend, self)
        self.models_panel = ModelsPanel(self.catalog, self.prelabeller, selected_images, self.downloader)
        self.train_panel = TrainPanel(self.jobs, backend, self.catalog, lambda: host.project, host.save_edits)
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.models_dock = self._dock("Models", self.models_panel, right)
        self.train_dock = self._dock("Train", self.train_panel, right)
        window.tabifyDockWidget(self.models_dock, self.train_dock)  # one place for the model work
        self._menu()
        self._connect(session)

    def _dock(self, title: str, widget: object, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"{title.lower()}-dock")
        scroll = QScrollArea()  # wrapped texts keep their height in a short dock; it scrolls instead
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(widget)  # type: ignore[arg-type]
        # as wide as the panel's least width beside a vertical scroll bar: it never scrolls sideways
        least = widget.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()  # type: ignore[attr-defined]
        scroll.setMinimumSize(max(MIN_DOCK_SIZE[0], least), MIN_DOCK_SIZE[1])
        dock.setWidget(scroll)
        self.window.addDockWidget(area, dock)
        dock.hide()  # shown on demand: no model backend is loaded until then
        # shown, even behind another tab (visibilityChanged says only whether it is in front)
        dock.toggleViewAction().toggled.connect(lambda shown: shown and not self.held and self.ensure_list())
        if self._view_menu is not None:
            self._view_menu.addAction(dock.toggleViewAction())
        return dock

    def _menu(self) -> None:
        menu = self.window.menuBar().addMenu("&Models")
        panel = self.models_panel
        entries = (
            ("Pre-label the &current image", self._show_models(panel.prelabel_current), "Ctrl+Shift+P"),
            ("Pre-label the &selected images", self._show_models(panel.selected_button.click), None),
            ("Pre-label &all images", self._show_models(panel.all_button.click), None),
            ("Pre-label the &unlabelled images", self._show_models(panel.unlabelled_button.click), None),
            ("Ca&ncel pre-labelling", self.cancel_prelabelling, None),
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

    def _connect(self, session: Session) -> None:
        host, panel = self.host, self.models_panel
        show_status = host.show_status
        self.catalog.problem.connect(lambda text: host.show_error("Models", text))
        self.catalog.problem.connect(panel.say)  # kept in the dock (e.g. what the models need)
        self.prelabeller.problem.connect(lambda text: host.show_error("Pre-labelling failed", text))
        self.prelabeller.status.connect(lambda text: show_status(text, STATUS_MS))
        panel.message.connect(lambda text: show_status(text, STATUS_MS))
        self.train_panel.problem.connect(lambda text: host.show_error("Training failed", text))
        self.train_panel.trained.connect(self._trained)
        self.prelabeller.filed.connect(self._filed)
        self.catalog.changed.connect(lambda: self.catalog.device and panel.show_device(self.catalog.device))
        self.device_menu.described.connect(panel.show_device)
        self.device_menu.status.connect(lambda text: show_status(text, STATUS_MS))
        self.downloader.problem.connect(lambda name, text: host.show_error("Download failed", text))
        self.downloader.finished.connect(self._downloaded)
        session.project_opened.connect(self._project_opened)

    def _filed(self, image_id: str) -> None:
        """The image on screen got a prediction: show that layer."""
        document = self._session.document
        if document is not None and image_id == document.image_id:
            self.host.show_prediction()

    @staticmethod
    def _raise(dock: QDockWidget) -> None:
        """Show ``dock`` in front of the dock it shares tabs with."""
        dock.show()
        dock.raise_()

    def cancel_prelabelling(self) -> None:
        """Models > Cancel pre-labelling; says so when there is nothing to cancel."""
        if not self.prelabeller.batch_running:
            self.host.show_status("No pre-labelling batch is running", STATUS_MS)
            return
        self.prelabeller.cancel_batch()

    def hold(self) -> None:
        """Ask for no model list when a dock shows (start-up with a remembered layout): the
        backend (torch) loads when the user turns to the dock (:meth:`release`) or runs a command."""
        self.held = True
        self.models_panel.model_combo.setPlaceholderText(HELD_PLACEHOLDER)

    def release(self) -> None:
        """The user turned to a model dock: the list as when it is shown."""
        self.held = False
        self.models_panel.model_combo.setPlaceholderText(LOADING_PLACEHOLDER)
        if self.models_dock.toggleViewAction().isChecked() or self.train_dock.toggleViewAction().isChecked():
            self.ensure_list()

    def ensure_list(self) -> None:
        """Ask for the model list once (later: on project change or on request)."""
        project = self.host.project
        self.catalog.ensure(None if project is None else project.root)

    def refresh(self) -> None:
        project = self.host.project
        self.catalog.refresh(None if project is None else project.root)

    def _project_opened(self, project: Project) -> None:
        self.prelabeller.cancel_batch()
        if self.catalog.loaded:
            self.refresh()  # the new project's own checkpoints

    def score_project(self) -> ProjectScoreDialog | None:
        """IoU and PQ of every corrected image's prediction (saved first), in a dialog."""
        host, project = self.host, self.host.project
        if project is None:
            host.show_status("Open a project to score its predictions", STATUS_MS)
            return None
        if not host.save_edits():
            return None
        from segstudio.gui.modelling.project_score import ProjectScoreDialog, score_job

        dialog = ProjectScoreDialog(host.open_image, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        scoring = SoloJob(self.jobs, dialog)
        scoring.done.connect(dialog.show_score)
        scoring.failed.connect(dialog.show_problem)
        dialog.rejected.connect(scoring.cancel)
        scoring.start(score_job(project.root))
        dialog.open()
        self.score_dialog = dialog
        return dialog

    def _downloaded(self, name: str, path: str) -> None:
        self.refresh()  # the model's weights are present now
        self.host.show_status(f"Downloaded the weights of {name}: {path}", STATUS_MS)

    def _trained(self, name: str) -> None:
        self.models_panel.select_model(name)
        self.refresh()
        self.host.show_status(f"Trained {name}; it is now in the model list", STATUS_MS)
