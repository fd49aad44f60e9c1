"""Helpers of the GUI tests: small projects, real mouse drags on the canvas, and answering the
real modal message boxes. (A module of its own: every test folder has a ``conftest``.)"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QMainWindow, QMessageBox

from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.palette import builtin_palette
from segstudio.gui.main_window import MainWindow
from segstudio.io.project import Project

if TYPE_CHECKING:
    from segstudio.io.export import ExportFormat

HEIGHT, WIDTH = 90, 120
PALETTE = builtin_palette("voc")
BACKGROUND, CAT, DOG, PERSON = 0, 8, 12, 15


def scene_image(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A photo with a bright disc on a dark gradient: GrabCut and flood fill have something to find."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 40)], axis=2).astype(np.uint8) // 3
    disc = (y - height // 2) ** 2 + (x - width // 2) ** 2 < (min(height, width) // 4) ** 2
    rgb[disc] = (230, 200, 40)
    return rgb


def ground_truth(height: int = HEIGHT, width: int = WIDTH) -> LabelMap:
    """Background left half, a cat (instance 1) on the right, an unlabelled strip at the bottom."""
    category = np.full((height, width), BACKGROUND, np.uint16)
    category[:, width // 2 :] = CAT
    category[height - 10 :] = 0xFFFF
    instance = np.where(category == CAT, 1, 0).astype(np.uint32)
    return LabelMap.from_arrays(category, instance, Provenance.HUMAN)


def prediction(height: int = HEIGHT, width: int = WIDTH) -> LabelMap:
    """The model saw the cat a bit wider and a dog in the top-left corner."""
    category = np.full((height, width), BACKGROUND, np.uint16)
    category[:, width // 2 - 8 :] = CAT
    category[:20, :25] = DOG
    return LabelMap.from_arrays(category, None, Provenance.MODEL)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def make_project(root: Path) -> Path:
    """A project of two images: "scene" with labels and a prediction, "plain" with neither."""
    project = Project.create(root, PALETTE, name="test project")
    (root / "images").mkdir()
    scene = project.add_image(write_png(root / "images" / "scene.png", scene_image()))
    project.add_image(write_png(root / "images" / "plain.png", scene_image()[::-1].copy()))
    project.save_labels(scene.id, ground_truth())
    project.save_prediction(scene.id, prediction())
    return root


def view_point(window: MainWindow, x: float, y: float) -> QPoint:
    """The viewport point over image position (x, y)."""
    return window.canvas.mapFromScene(x, y)


def image_point(window: MainWindow, point: QPoint) -> tuple[float, float]:
    """Where the canvas maps a viewport point: the image position the tools receive."""
    scene = window.canvas.mapToScene(point)
    return scene.x(), scene.y()


def drag(
    qtbot,
    window: MainWindow,
    points: Sequence[tuple[float, float]],
    modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> list[tuple[float, float]]:
    """Press (with ``modifier`` held) at the first image point, move through the rest, release;
    returns the image points used."""
    viewport = window.canvas.viewport()
    views = [view_point(window, x, y) for x, y in points]
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, modifier, pos=views[0])
    for view in views[1:]:
        qtbot.mouseMove(viewport, view)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=views[-1])
    return [image_point(window, v) for v in views]


def click(
    qtbot,
    window: MainWindow,
    x: float,
    y: float,
    modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> tuple[float, float]:
    view = view_point(window, x, y)
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, modifier, pos=view)
    return image_point(window, view)


def settled(qtbot, window: MainWindow, timeout: int = 20000) -> MainWindow:
    """Wait until the tools' worker jobs (fill, GrabCut) have landed and long work is written."""
    qtbot.waitUntil(
        lambda: not window.toolbox.jobs.pending() and not (window.document and window.document.busy),
        timeout=timeout,
    )
    return window


def zoomed(window: MainWindow, factor: float = 4.0) -> MainWindow:
    """Zoom in so one image pixel spans several screen pixels."""
    window.canvas.actual_size()
    window.canvas.zoom(factor)
    window.canvas.centerOn(WIDTH / 2, HEIGHT / 2)
    return window


def press_key(qtbot, window: MainWindow, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press on the canvas of the active window, so window shortcuts fire too."""
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClick(window.canvas, key, modifier)


def answer_modal(button: QMessageBox.StandardButton, seen: list[str] | None = None) -> QTimer:
    """Click ``button`` of the next modal message box as soon as it shows (polls the event loop)."""
    timer = QTimer()
    timer.setInterval(20)

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            timer.stop()
            if seen is not None:
                seen.append(box.text())
            box.button(button).click()

    timer.timeout.connect(poll)
    timer.start()
    return timer


MODELS_WAIT_MS = 20000


def models_ready(qtbot, window: MainWindow, model: str) -> MainWindow:
    """Show the Models dock, wait for the model list (the backend loads on the worker), choose ``model``."""
    window.models.models_dock.show()
    qtbot.waitUntil(lambda: window.models.catalog.loaded, timeout=MODELS_WAIT_MS)
    window.models.models_panel.select_model(model)
    assert window.models.models_panel.model == model
    return window


def open_boxes(window: MainWindow) -> list[QMessageBox]:
    """The message boxes the window shows now (errors open without blocking)."""
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def choose(qtbot, window: QMainWindow, menu_title: str, item_text: str) -> None:
    """Open ``menu_title`` in the menu bar and click ``item_text``, as a user does with the mouse."""
    bar = window.menuBar()
    entry = next(a for a in bar.actions() if a.text().replace("&", "") == menu_title)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(entry).center())
    menu = entry.menu()
    qtbot.waitUntil(menu.isVisible)
    item = next(a for a in menu.actions() if a.text().replace("&", "") == item_text)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(item).center())
    qtbot.waitUntil(lambda: not menu.isVisible())


def export_from_menu(qtbot, window: MainWindow, fmt: ExportFormat, out: Path) -> QDialog:
    """Choose File > Export dataset…, the format and the folder, and press Export."""
    from segstudio.gui.exchange.export_dialog import ExportDialog  # as the app: loaded when asked for

    action = next(a for a in window.shortcuts.actions.values() if a.text() == "&Export dataset…")
    action.trigger()
    dialog = window.findChild(ExportDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.format.setCurrentIndex(dialog.format.findData(fmt))
    dialog.out.setText(str(out))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    return dialog


def saves_landed(qtbot, window: MainWindow, timeout: int = 20000) -> MainWindow:
    """Wait until every label save handed to the writer thread has landed (its outcome taken)."""
    qtbot.waitUntil(lambda: not window.session.saves.busy, timeout=timeout)
    return window


def brush_stroke(qtbot, window: MainWindow, label: int = DOG, points=((10, 10), (40, 20))) -> None:
    """A brush stroke of ``label`` (radius 4) through image ``points``, with the real mouse."""
    window.toolbox.set_tool("brush")
    window.toolbox.set_label(label)
    window.toolbox.set_radius(4)
    drag(qtbot, window, list(points))
