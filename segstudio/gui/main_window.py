"""The main window: canvas, docks, menus and status bar around a :class:`Session`. Delegates.

It asks the user's questions (save? recover?), shows errors without blocking, and wires the
panels to the session, the tool box and the canvas; the work itself happens in those.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QGraphicsScene,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QWidget,
)

from segstudio.core.box import Box
from segstudio.core.edits import erase_object
from segstudio.core.instance_choice import InstanceMode
from segstudio.core.labels import VOID, LabelMap
from segstudio.core.palette import Palette
from segstudio.gui import actions, dialogs, remembered
from segstudio.gui.canvas.canvas import Canvas, Preview
from segstudio.gui.canvas.layers import PREDICTION
from segstudio.gui.depthview.depth_pair import DepthPair, DepthPane
from segstudio.gui.depthview.depth_view import DepthView
from segstudio.gui.document import projects
from segstudio.gui.document.document import Document
from segstudio.gui.document.session import AUTOSAVE_MS, Session
from segstudio.gui.drop import DropOpener
from segstudio.gui.exchange.dataset_exchange import ExchangeControl
from segstudio.gui.modelling.model_backend import BackendFactory, LazyBackend
from segstudio.gui.modelling.model_docks import ModelDocks
from segstudio.gui.modelling.sam_jobs import SamJobs
from segstudio.gui.modelling.sam_jobs_menu import SamModelMenu
from segstudio.gui.notices import notice
from segstudio.gui.panels.image_list import ImageList
from segstudio.gui.panels.iou_panel import IouPanel
from segstudio.gui.panels.layers_panel import LayersPanel
from segstudio.gui.panels.palette_offer import NewProjectPalette
from segstudio.gui.panels.palette_panel import PalettePanel
from segstudio.gui.panels.pq_live import LivePQ
from segstudio.gui.recent import RecentProjects
from segstudio.gui.remembered import ToolMemory
from segstudio.gui.shortcuts import ShortcutMap, ShortcutsDialog, menu_commands
from segstudio.gui.threads.gc_guard import collect_on_gui_thread
from segstudio.gui.threads.job_client import JobClient
from segstudio.gui.threads.worker import Worker
from segstudio.gui.tools.class_picker import ClassPicker
from segstudio.gui.tools.sam_tool import ClickSegment
from segstudio.gui.tools.scribbles import ScribbleController
from segstudio.gui.tools.toolbox import ToolBox
from segstudio.io.project import ImageState, Project, ProjectError

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp)"
NO_PALETTE = Palette("none", [])
INSTANCE_TIP = (
    "Objects of a thing class: a stroke or fill that touches an object of its class joins it, "
    "else it is a new object; a polygon or box is always a new object. N: the next one is new "
    "anyway; Pick (I): continue the picked object; Ctrl held when a stroke begins: paint into the "
    "object under the cursor (else the current one)."
)
SAVE_ON_LEAVE_KEY = "labels/save-on-leave"
"""User setting: save without asking when leaving an image (on unless switched off)."""
DEFAULT_SIZE = (1360, 860)
"""Window size where the screen allows (it never opens larger than the screen)."""
STATUS_SPACING = 16
"""Pixels between the status bar's message and each readout (margins and a gap)."""
DEPTH_DOCK_MINIMUM = (360, 320)
"""The depth stream dock's least size: its controls and a preview of about 340x240."""


def instance_text(instance: int, mode: InstanceMode) -> str:
    """The status bar's word on the next object of a thing class."""
    if mode is InstanceMode.NEW:
        return "object (new instance)"
    if mode is InstanceMode.PICKED:
        return f"object #{instance} (picked)"
    return f"object{f' #{instance}' if instance else ''} (new or touched)"


class MainWindow(QMainWindow):
    """Label one image at a time of a project: tools, classes, layers, IoU, images."""

    def __init__(
        self,
        data_dir: Path,
        *,
        offer_recovery: bool = True,
        autosave_ms: int = AUTOSAVE_MS,
        model_backend: BackendFactory | None = None,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``model_backend`` makes the model half (torch); called on the worker at the first model job.
        ``settings`` keeps recent projects and shortcuts; None keeps them for this window only."""
        super().__init__(parent)
        self._cursor: tuple[float, float] | None = None
        """The image pixel under the mouse (None off the image)."""
        collect_on_gui_thread()  # before the worker starts: cycles are never freed on its thread
        self.data_dir = data_dir
        self.offer_recovery = offer_recovery
        self.settings = settings
        # Built in dependency order: each part gets what it needs at construction, none later.
        self.worker = Worker(self)
        self.session = Session(autosave_ms, self)
        preview = Preview(QGraphicsScene(self))
        self.toolbox = ToolBox(preview, NO_PALETTE, self._jobs(), self)
        self.canvas = Canvas(preview, self.toolbox, self)
        self.depth_pane = DepthPane()
        self.depth_pane.hide()  # shown beside the canvas for images with a depth map
        self.depth_pair = DepthPair(self.canvas, self.depth_pane, self)
        views = QSplitter(Qt.Orientation.Horizontal, self)
        views.addWidget(self.canvas)
        views.addWidget(self.depth_pane)
        self.setCentralWidget(views)
        self.scribbles = ScribbleController(lambda: self.worker, self.session, self.toolbox, self)
        self.palette_panel = PalettePanel()
        self.class_picker = ClassPicker(self.toolbox, self.palette_panel.focus_search, self)
        self.new_palette = NewProjectPalette(settings, self.session, self.palette_panel, data_dir, self)
        self.tool_memory = ToolMemory(self.toolbox, settings, self)
        self.layers_panel = LayersPanel(self.canvas)
        self.iou_panel = IouPanel()
        self.panoptic = LivePQ(self._jobs(), self)
        self.panoptic.updated.connect(self.iou_panel.set_quality)
        self.panoptic.failed.connect(self.iou_panel.quality_failed)
        self.image_list = ImageList()
        self.depth_view = DepthView(lambda: self.project)
        self.cursor_label = QLabel("")
        self.tool_label = QLabel("")
        self.tool_label.setToolTip(INSTANCE_TIP)
        self.statusBar().addPermanentWidget(self.class_picker.label)
        self.statusBar().addPermanentWidget(self.tool_label)
        self.statusBar().addPermanentWidget(self.cursor_label)
        self.recent = RecentProjects(settings)
        self.exchange = ExchangeControl(self, self._jobs(), host=self, data_dir=data_dir)
        parts = actions.Parts(
            self.toolbox, self.canvas, self.scribbles, self.exchange, self.recent, self.class_picker
        )
        self.commands = actions.build(self, commands=self, parts=parts)
        save_on_leave = settings is None or settings.value(SAVE_ON_LEAVE_KEY, True, type=bool)
        self.commands.save_on_leave.setChecked(bool(save_on_leave))
        available = self.screen().availableGeometry().size()
        self.resize(min(DEFAULT_SIZE[0], available.width()), min(DEFAULT_SIZE[1], available.height()))
        self._add_docks()
        self.models = ModelDocks(
            self,
            host=self,
            session=self.session,
            jobs=self._jobs(),
            backend=LazyBackend(model_backend),
            selected_images=self.image_list.selected_ids,
            view_menu=self.commands.view_menu,
            settings=settings,
        )
        self.sam = SamJobs(self._jobs(), self.models.backend, self, project=lambda: self.project)
        self.sam.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        click_segment = ClickSegment(self.toolbox, self.sam)
        self.toolbox.add_tool(click_segment)
        self.sam_models = SamModelMenu(self.models.menu, self.sam, settings, click_segment.clear, self)
        self._tab_docks()
        self.shortcuts = ShortcutMap(menu_commands(self.menuBar()), settings)
        self.shortcuts.apply_saved()
        self.drop_opener = DropOpener(self, self.open_paths)
        self._connect()
        self._show_tool()
        self._update_title()
        self.layout_restored = remembered.restore_layout(self, settings)
        """The window's geometry and docks are those it had when it last closed."""
        models = self.models  # docks it brought back load nothing until the user turns to them
        remembered.hold_until_used(self, [models.models_dock, models.train_dock], models.hold, models.release)
        remembered.hold_until_used(self, [self.depth_dock], self.depth_view.hold, self.depth_view.release)

    def _jobs(self) -> JobClient:
        """A job client of the window's worker for one part (each hears only about its own jobs)."""
        return JobClient(lambda: self.worker, self)

    def _add_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self._docks: list[QDockWidget] = []
        for title, widget, area in (
            ("Images", self.image_list, left),
            ("Layers", self.layers_panel, left),
            ("Classes", self.palette_panel, right),
            ("IoU", self.iou_panel, right),
        ):
            self._docks.append(self._dock(title, f"{title.lower()}-dock", widget, area))
        self.depth_view.setMinimumSize(*DEPTH_DOCK_MINIMUM)  # a preview worth looking at, never a strip
        self.depth_dock = self._dock("Depth stream", "depth-dock", self.depth_view, right)
        self.depth_dock.hide()  # hidden by default: start-up loads no model and reads no stream
        self.iou_dock.visibilityChanged.connect(self.panoptic.set_active)  # no PQ work for a hidden dock
        self.size_docks()

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        assert self.commands.view_menu is not None
        self.commands.view_menu.addAction(dock.toggleViewAction())
        return dock

    @property
    def iou_dock(self) -> QDockWidget:
        return self._docks[3]

    def _tab_docks(self) -> None:
        """Under the Classes, one tabbed place for the IoU, the model docks and the depth stream:
        showing one of them never squeezes the class list (the tabs share that place)."""
        for dock in (self.models.models_dock, self.models.train_dock, self.depth_dock):
            self.tabifyDockWidget(self.iou_dock, dock)
        for dock in (self.iou_dock, self.models.models_dock, self.models.train_dock, self.depth_dock):
            toggle = dock.toggleViewAction()
            toggle.triggered.connect(lambda shown, d=dock: shown and d.raise_())  # shown in front of its tabs
        self.iou_dock.raise_()

    def size_docks(self) -> None:
        """Share the window between the docks and the canvas in proportion to its size."""
        images, _, classes, iou = self._docks
        width, height = self.width(), self.height()
        self.resizeDocks([images, classes], [width // 5, width // 4], Qt.Orientation.Horizontal)
        self.resizeDocks([classes, iou], [height // 2, height // 2], Qt.Orientation.Vertical)

    def _connect(self) -> None:
        session, toolbox = self.session, self.toolbox
        session.project_opened.connect(self._project_opened)
        session.document_opened.connect(self._document_opened)
        session.loading.connect(self._loading)
        session.reopened.connect(self._reopened)
        session.unreadable.connect(self._unreadable)
        session.saved.connect(self._saved)
        session.save_failed.connect(lambda _image_id, message: self.show_error("Cannot save", message))
        session.problem.connect(lambda message: self.show_error("Problem with a file", message))
        session.status.connect(lambda message: self.statusBar().showMessage(message, 3000))
        toolbox.settings_changed.connect(self._show_tool)
        toolbox.tool_changed.connect(self._tool_changed)
        toolbox.message.connect(lambda message: self.statusBar().showMessage(message, 5000))
        self.palette_panel.class_chosen.connect(toolbox.set_label)
        self.palette_panel.palette_edited.connect(self._palette_edited)
        self.image_list.image_chosen.connect(self.open_image)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.depth_pane.view.cursor_moved.connect(self._show_cursor)
        self.depth_dock.visibilityChanged.connect(self.depth_view.set_streaming)
        self.depth_view.captured.connect(self._captured)
        self.scribbles.status.connect(lambda message: self.statusBar().showMessage(message, 10000))
        self.new_palette.explained.connect(lambda message: self.statusBar().showMessage(message, 15000))
        self.scribbles.mode_entered.connect(self.show_prediction)
        self.statusBar().messageChanged.connect(self._make_room)

    # -- what is open -------------------------------------------------------------------------------

    @property
    def project(self) -> Project | None:
        return self.session.project

    @property
    def document(self) -> Document | None:
        return self.session.document

    @property
    def labels(self) -> LabelMap | None:
        return None if self.document is None else self.document.labels

    @property
    def image_name(self) -> str:
        return "" if self.document is None else self.document.image_id

    @property
    def palette(self) -> Palette:
        return NO_PALETTE if self.project is None else self.project.palette

    # -- opening ------------------------------------------------------------------------------------

    def open_path(self, path: Path) -> bool:
        """Open a project folder, an image folder or an image; errors name the file, the window goes on."""
        return self.open_paths([Path(path)])

    def open_paths(self, paths: Sequence[Path]) -> bool:
        """Open one path as ``open_path`` says, or several images of one folder together (a drop).

        A folder among several paths opens alone. What opened joins File > Open recent: a folder
        as given (reopening it lists images added since), else the project folder.
        """
        if not self.maybe_save(settle=True):
            return False
        folders = [path for path in paths if path.is_dir()]
        palette = self.new_palette.palette_for((folders or [*paths])[0])
        try:
            if folders or len(paths) == 1:
                opened = projects.open_path((folders or list(paths))[0], self.data_dir, palette)
            else:
                opened = projects.open_images(paths, self.data_dir, palette)
        except (ProjectError, OSError) as error:
            self.show_error("Cannot open", str(error))
            return False
        shown = self.open_project(opened.project, opened.image_id)
        if shown:
            self.recent.add(folders[0] if folders else opened.project.root)
        if opened.problems:
            self.show_error("Some images were not added", "\n".join(opened.problems))
        return shown

    def open_project(self, project: Project, image_id: str | None = None) -> bool:
        """Show ``project`` at ``image_id`` (default: its first image); offers to recover journals."""
        if not self.maybe_save(settle=True):
            return False
        self.toolbox.set_document(None)
        self.canvas.clear()
        self.depth_pair.show_document(None)
        self.iou_panel.set_document(None)
        self.panoptic.set_document(None)
        self.tool_memory.leave_project()
        self.session.set_project(project)
        if self.offer_recovery:
            QTimer.singleShot(0, self, self._offer_recovery)
        if image_id is not None:
            return self.open_image(image_id)
        self.session.open_first_readable(project.image_ids())
        return True

    def step_image(self, step: int, to_label_only: bool = False) -> bool:
        """Open the next (``step`` 1) or previous (-1) image of the list as filtered; with
        ``to_label_only``, the next one still unlabelled or only pre-labelled."""
        states = (ImageState.UNLABELLED, ImageState.PRELABELLED) if to_label_only else None
        target = self.image_list.neighbour(self.session.loading_id or self.image_name or None, step, states)
        if target is None:
            what = "images to label" if to_label_only else "images"
            self.statusBar().showMessage(f"No more {what} {'after' if step > 0 else 'before'} this one", 3000)
            return False
        return self.open_image(target)

    def open_image(self, image_id: str) -> bool:
        """Switch to another image of the project (saving or asking about unsaved edits first); it
        is read off the GUI thread and shown when it arrives (``Session.open_image``)."""
        if image_id == (self.session.loading_id or self.image_name):
            return True
        if not self.maybe_save():
            self.image_list.set_current(self.session.loading_id or self.image_name or None)
            return False
        try:
            self.session.open_image(image_id)
        except ProjectError as error:
            self.show_error("Cannot open image", str(error))
            return False
        return True

    def _loading(self, image_id: str) -> None:
        """An image is on its way: the last one stays in view, closed for edits."""
        self.toolbox.set_document(None)
        self.image_list.set_current(image_id)
        self.statusBar().showMessage(f"Loading {image_id}…")
        self._update_title()

    def _reopened(self, document: Document | None) -> None:
        """The image left is open again (the one asked for will not come)."""
        self.toolbox.set_document(document)
        self.image_list.set_current(self.image_name or None)
        self.statusBar().clearMessage()
        self._update_title()

    def _unreadable(self, problems: list[str], shown: Document | None) -> None:
        """Say which images could not be read (one box) and which is shown instead."""
        more = f"\n(and {len(problems) - 5} more)" if len(problems) > 5 else ""
        then = f"\nShowing {shown.image_id} instead." if shown is not None else "\nNo image is open."
        self.show_error("Cannot open image", "\n".join(problems[:5]) + more + then)

    def _project_opened(self, project: Project) -> None:
        self.image_list.set_project(project)
        self.palette_panel.set_palette(project.palette)
        self.toolbox.set_palette(project.palette)
        self.tool_memory.open_project(project.root)
        self._update_class_actions()
        self._update_title()

    def _document_opened(self, document: Document) -> None:
        self.toolbox.set_document(document)
        self.canvas.show_document(document, self.palette)
        self.depth_pair.show_document(document)
        self.layers_panel.set_available(self.canvas.layers)
        self.iou_panel.set_document(document)
        self.panoptic.set_document(document)
        self.image_list.set_current(document.image_id)
        document.dirty_changed.connect(self._dirty_changed)
        document.work_progress.connect(self._work_progress)
        self._dirty_changed(document.dirty)
        self.canvas.fit()
        self._show_cursor(-1, -1)  # the last image's pixel is not this one's (the next move says)
        self.statusBar().clearMessage()  # "Loading…"
        self.session.prefetch(self.image_list.neighbour(document.image_id, 1, None))

    def _offer_recovery(self) -> None:
        review = self.session.journal_review()
        if review.damaged:
            self._report_damaged_journal(review.damaged)
        image_ids = review.recoverable
        if not image_ids:
            return
        answer = dialogs.ask_recover(self, image_ids)
        if answer is True:
            self.session.recover(image_ids)
        elif answer is False:
            self.session.discard_recoverable(image_ids)

    def _report_damaged_journal(self, damaged: list[tuple[str, str]]) -> None:
        """Say which autosaves could not be read; they are set aside (renamed), never deleted."""
        lines = []
        for image_id, reason in damaged:
            try:
                aside = self.session.set_aside_journal(image_id)
            except (ProjectError, OSError) as error:
                lines.append(f"{reason} (could not set it aside: {error})")
            else:
                lines.append(f"{reason} (kept as {aside.name})")
        notice(
            self,
            QMessageBox.Icon.Warning,
            "Unreadable autosave",
            "The autosave of these images could not be read; their saved labels are unchanged:",
            "\n".join(lines),
        )

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a project or a folder of images")
        if folder:
            self.open_path(Path(folder))

    def choose_image(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if name:
            self.open_path(Path(name))

    def refine_with_sam(self) -> None:
        """Edit > Refine the prediction's objects with SAM: each thing instance gets SAM's box mask."""
        self.sam.refine(self.document, self.palette.thing_ids)

    def edit_shortcuts(self) -> ShortcutsDialog:
        """Edit > Keyboard shortcuts: a window-modal dialog (it does not block the event loop)."""
        dialog = ShortcutsDialog(self.shortcuts, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # -- saving -------------------------------------------------------------------------------------

    def save(self, state: ImageState | None = None) -> bool:
        """Start saving the open image (on the writer thread, ``Session.save``): True when started;
        it says "Saved" when the write lands, or shows why it failed."""
        if self.document is None:
            self.statusBar().showMessage("No image is open: nothing to save", 3000)
            return False
        self.toolbox.finish()
        try:
            self.session.save(state)
        except (ProjectError, OSError) as error:
            self.show_error("Cannot save", str(error))
            return False
        if self.session.saves.busy:
            self.statusBar().showMessage(f"Saving {self.image_name}…", 3000)
        return True

    def save_edits(self) -> bool:
        """Save the open image's unsaved edits, if any, and wait until every save landed, before
        work that reads labels from disk (training, scoring, export); False when saving failed
        (the error was shown)."""
        self.toolbox.finish()
        if self.session.unsaved and not self.save():
            return False
        return self.session.settle_saves()

    def mark_reviewed(self) -> bool:
        return self.save(ImageState.REVIEWED)

    @property
    def save_on_leave(self) -> bool:
        return self.commands.save_on_leave is not None and self.commands.save_on_leave.isChecked()

    def set_save_on_leave(self, on: bool) -> None:
        """File > Save when leaving an image: kept in the user's settings."""
        if self.settings is not None:
            self.settings.setValue(SAVE_ON_LEAVE_KEY, on)

    def maybe_save(self, settle: bool = False) -> bool:
        """True when the current image may be left: nothing unsaved, its save on its way (started
        at once when saving on leaving is on, the default), or discarded on request. With
        ``settle`` (leaving the project, closing) the saves must also have landed well."""
        self.toolbox.finish()
        document = self.document
        if document is not None and self.session.unsaved:
            if self.save_on_leave:
                answer = dialogs.Unsaved.SAVE
            else:
                answer = dialogs.ask_unsaved(self, document.image_id)
            if answer is dialogs.Unsaved.DISCARD:
                self.session.discard()
            elif answer is not dialogs.Unsaved.SAVE or not self.save():
                return False
        return not settle or self.session.settle_saves()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self.maybe_save(settle=True):
            remembered.save_layout(self, self.settings)
            self.session.close()
            self.depth_view.stop()
            self.scribbles.flush()
            self.worker.stop()
            event.accept()
        else:
            event.ignore()

    def _saved(self, image_id: str) -> None:
        """A save landed (it may be of an image left meanwhile)."""
        if self.project is not None:
            self.show_image_state(image_id, self.project.entry(image_id).state)
        self.statusBar().showMessage(f"Saved {image_id}", 3000)

    def _captured(self, image_id: str) -> None:
        """A depth frame joined the project: list it, keeping the current image and its state."""
        if self.project is not None:
            self.image_list.set_project(self.project)
            self.image_list.set_current(self.image_name or None)
            if self.document is not None:
                self._dirty_changed(self.document.dirty)
        self.statusBar().showMessage(f"Captured {image_id}", 3000)

    def _dirty_changed(self, dirty: bool) -> None:
        document, project = self.document, self.project
        if document is not None and project is not None:
            self.image_list.set_state(document.image_id, project.entry(document.image_id).state, dirty)
        self._update_title()

    # -- editing ------------------------------------------------------------------------------------

    def undo(self) -> None:
        """Undo the last label edit, or the last scribble stroke while a scribble tool is chosen."""
        self.toolbox.finish()
        if self.scribbles.active:
            self.scribbles.undo()
        elif self.document is not None:
            if not self.document.history.can_undo:
                self.statusBar().showMessage("Nothing to undo", 3000)
            self.document.undo()

    def redo(self) -> None:
        self.toolbox.finish()
        if self.scribbles.active:
            self.scribbles.redo()
        elif self.document is not None:
            if not self.document.history.can_redo:
                self.statusBar().showMessage("Nothing to redo", 3000)
            self.document.redo()

    def accept_prediction(self, current_class_only: bool) -> None:
        document = self.document
        if document is None or document.prediction is None:
            self.statusBar().showMessage("This image has no prediction to accept", 3000)
            return
        self.toolbox.finish()
        category = self.toolbox.settings.category if current_class_only else None
        replace = self.commands.replace_human is not None and self.commands.replace_human.isChecked()
        document.accept_prediction(category, replace=replace, done=self._accepted)

    def _accepted(self, box: Box) -> None:
        """Say what accepting did, above all when it did nothing."""
        if box.is_empty:
            self.statusBar().showMessage(
                "Nothing to accept: each predicted pixel is a person's label or equals the prediction "
                "(see Edit > Accepting replaces human labels)",
                8000,
            )
        else:
            self.statusBar().showMessage(f"Accepted the prediction ({box.width}x{box.height} px box)", 3000)

    def pick_class(self, position: int) -> None:
        """Keys 1-9, 0: the class at that position of the palette."""
        classes = self.palette.classes
        if position < len(classes):
            self.toolbox.set_label(classes[position].id)

    def _palette_edited(self, palette: Palette) -> None:
        self.session.set_palette(palette)
        self.toolbox.set_palette(palette)
        self.canvas.set_palette(palette)
        self.iou_panel.refresh()
        self.panoptic.recount()  # a class made thing or stuff changes which segments are objects
        self._update_class_actions()

    def _update_class_actions(self) -> None:
        classes = self.palette.classes
        for position, action in enumerate(self.commands.classes):
            action.setVisible(position < len(classes))
            if position < len(classes):
                action.setText(f"{classes[position].name}")

    # -- status -------------------------------------------------------------------------------------

    def show_error(self, title: str, message: str) -> QMessageBox:
        """A window-modal error box that does not block the event loop (work and tests go on)."""
        return notice(self, QMessageBox.Icon.Critical, title, message)

    def show_status(self, message: str, ms: int = 3000) -> None:
        """A message in the status bar for ``ms`` milliseconds."""
        self.statusBar().showMessage(message, ms)

    def _make_room(self, message: str) -> None:
        """A message longer than the room the readouts leave hides the tool and cursor readouts
        while it shows (at 1024 px they cut it mid-word); the class swatch always stays."""
        bar, readouts = self.statusBar(), (self.tool_label, self.cursor_label)
        room = bar.width() - self.class_picker.label.sizeHint().width() - STATUS_SPACING
        room -= sum(label.sizeHint().width() + STATUS_SPACING for label in readouts)
        fits = not message or bar.fontMetrics().horizontalAdvance(message) <= room
        for label in readouts:
            label.setVisible(fits)

    def show_prediction(self) -> None:
        """Make the prediction layer visible (hidden by default, under the ground truth)."""
        self.layers_panel.visible[PREDICTION].setChecked(True)

    def show_image_state(self, image_id: str, state: ImageState) -> None:
        """The image list shows ``image_id`` in ``state``, marked unsaved when it is open with edits."""
        document = self.document
        unsaved = document is not None and document.image_id == image_id and document.dirty
        self.image_list.set_state(image_id, state, unsaved)

    def _tool_changed(self, name: str) -> None:
        self.commands.tools[name].setChecked(True)
        self._show_tool()

    def _show_tool(self) -> None:
        """The tool, its size and the object the next stroke writes; the class itself is shown
        once, by the class picker's swatch beside it."""
        s, palette = self.toolbox.settings, self.palette
        self.palette_panel.select(s.category)
        thing = s.category in palette and palette[s.category].isthing
        parts = [self.toolbox.active.name, self.toolbox.active.size_text()]
        parts += [instance_text(s.instance, s.mode)] if thing else []
        parts += ["unlabelled only"] if s.only_unlabelled else []
        self.tool_label.setText("  ".join(part for part in parts if part))

    def _work_progress(self, title: str, done: int, total: int) -> None:
        """Long work on the labels (band by band): its progress in the status bar."""
        if total and done < total:
            self.statusBar().showMessage(f"{title}… {100 * done // total}%", 2000)
        elif not total and done > 1:
            self.statusBar().showMessage(f"{title}… part {done}", 2000)

    def delete_object_under_cursor(self) -> bool:
        """Edit > Delete the object under the cursor: one undo step (``core.edits.erase_object``)."""
        document, cursor = self.document, self._cursor
        if document is None or cursor is None:
            self.statusBar().showMessage("Point at an object on the image to delete it", 3000)
            return False
        self.toolbox.finish()
        box = document.apply(lambda labels, recorder: erase_object(labels, cursor, recorder=recorder))
        if box.is_empty:
            self.statusBar().showMessage("Nothing labelled under the cursor", 3000)
            return False
        return True

    def _show_cursor(self, x: int, y: int) -> None:
        self._cursor = (float(x), float(y)) if x >= 0 else None
        labels = self.labels
        if x < 0 or labels is None:
            self.cursor_label.setText("")
            return
        category, instance = int(labels.category[y, x]), int(labels.instance[y, x])
        if category == VOID:
            name = "void"
        elif category in self.palette:
            name = self.palette[category].name
        else:
            name = f"unknown class {category}"
        depth = self.depth_pair.reading(x, y)
        parts = [f"x {x}  y {y}  {name}", f"instance {instance}" if instance else "", depth]
        self.cursor_label.setText("  ".join(part for part in parts if part))

    def _update_title(self) -> None:
        parts = ["segstudio"]
        if self.project is not None:
            parts.insert(0, self.project.name)
        if self.document is not None:
            parts.insert(0, self.document.image_id + ("*" if self.document.dirty else ""))
        self.setWindowTitle(" — ".join(parts))
