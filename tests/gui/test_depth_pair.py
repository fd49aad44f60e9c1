"""The depth map beside the image view: shown only with depth, windowed, zoom/pan/cursor in step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import HEIGHT, WIDTH, make_project
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from segstudio.gui.depthview.depth_pair import default_window, reading_text, visible_centre, window_lut
from segstudio.gui.depthview.depth_view import DEPTH_COLORS
from segstudio.gui.depthview.depth_worker import NO_READING_INDEX
from segstudio.io.images import write_png
from segstudio.io.project import Project

HOLE = (5, 7)
"""(x, y) of a pixel with no depth reading."""


def depth_map() -> np.ndarray:
    """A ramp from 1000 mm (left) to 3000 mm (right) with one missing reading."""
    ramp = np.linspace(1000, 3000, WIDTH).round().astype(np.uint16)
    depth = np.repeat(ramp[None, :], HEIGHT, axis=0)
    depth[HOLE[1], HOLE[0]] = 0
    return depth


@pytest.fixture
def depth_project(tmp_path: Path) -> Path:
    """The GUI test project plus an image "ranged" that has a depth map."""
    root = make_project(tmp_path / "project")
    project = Project.open(root)
    write_png(root / "images" / "ranged.png", np.full((HEIGHT, WIDTH, 3), 90, np.uint8))
    write_png(root / "images" / "ranged-depth.png", depth_map())
    project.add_image(root / "images" / "ranged.png", depth=root / "images" / "ranged-depth.png")
    return root


def _same_centre(canvas, view) -> bool:
    """The two views show the same scene point in their middle (within a screen pixel)."""
    a, b = visible_centre(canvas), visible_centre(view)
    pixel = 1.0 / canvas.transform().m11()
    return abs(a.x() - b.x()) <= pixel and abs(a.y() - b.y()) <= pixel


def _window(make_window, depth_project: Path):
    window = make_window(depth_project)
    assert window.open_image("ranged")
    QApplication.processEvents()
    return window


def test_default_window_is_the_readings_percentiles_and_the_lut_matches_the_live_dock() -> None:
    depth = depth_map()
    near, far = default_window(depth)
    readings = depth[depth > 0]
    assert abs(near - np.percentile(readings, 2)) < 60 and abs(far - np.percentile(readings, 98)) < 60
    assert default_window(np.zeros((4, 4), np.uint16)) == (500, 4500)
    lut = window_lut(1000, 3000)
    assert lut[0] == NO_READING_INDEX and lut[999] == lut[1000] == 1 and lut[3000] == lut[65535] == 255
    assert reading_text(depth, *HOLE) == "depth –" and reading_text(depth, 0, 0) == "depth 1000 mm"
    assert reading_text(None, 0, 0) == ""


def test_depth_shows_beside_the_image_only_for_images_with_depth(qtbot, make_window, depth_project):
    window = make_window(depth_project)
    assert window.image_name == "scene" and window.depth_pane.isHidden()
    window.open_image("ranged")
    pane = window.depth_pane
    assert pane.isVisible()
    assert pane.view.sceneRect() == window.canvas.sceneRect()
    assert abs(pane.width() - window.canvas.width()) <= pane.width() // 10  # side by side, same size
    near, far = pane.window_mm
    assert (near, far) == default_window(depth_map())
    index = pane.view.shown.array
    assert index[HOLE[1], HOLE[0]] == NO_READING_INDEX
    assert index[0, 0] < index[0, -1]  # near and far differ
    assert pane.view.shown.image.colorTable()[200] & 0xFFFFFF == int.from_bytes(
        bytes(DEPTH_COLORS[200]), "big"
    )
    pane.far.setValue(10000)  # a wider window pushes the far end away from the map's end
    assert pane.view.shown.array[0, -1] < index[0, -1]
    pane.auto.click()
    assert pane.window_mm == (near, far)
    window.open_image("plain")
    assert pane.isHidden()


def test_zoom_and_pan_stay_in_step_both_ways(qtbot, make_window, depth_project):
    window = _window(make_window, depth_project)
    canvas, view = window.canvas, window.depth_pane.view
    canvas.actual_size()
    canvas.zoom(6.0)
    canvas.centerOn(30, 20)
    QApplication.processEvents()
    assert view.transform() == canvas.transform()
    assert _same_centre(canvas, view)

    centre = visible_centre(view)
    start = view.mapFromScene(60, 45)  # pan the depth view with a drag: the canvas follows
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.viewport(), start + QPoint(-40, -25))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(-40, -25))
    assert visible_centre(view).x() == pytest.approx(centre.x() + 40 / 6, abs=0.5)
    assert _same_centre(canvas, view)

    before = canvas.transform().m11()
    at = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(
        at, view.viewport().mapToGlobal(at), QPoint(), QPoint(0, 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(view.viewport(), wheel)
    assert canvas.transform().m11() == pytest.approx(before * 1.25)
    assert view.transform() == canvas.transform()

    canvas.fit()  # no signal for a transform change: the canvas's repaint carries it over
    qtbot.waitUntil(lambda: view.transform() == canvas.transform())


def test_the_cursor_is_mirrored_and_the_status_bar_reads_the_depth(qtbot, make_window, depth_project):
    window = _window(make_window, depth_project)
    canvas, view = window.canvas, window.depth_pane.view
    canvas.actual_size()
    canvas.zoom(4.0)
    canvas.centerOn(20, 20)
    QApplication.processEvents()

    qtbot.mouseMove(canvas.viewport(), canvas.mapFromScene(30.5, 12.5))
    assert view.crosshair.position == (30.5, 12.5)
    text = window.cursor_label.text()
    assert text.startswith("x 30  y 12") and text.endswith(f"depth {depth_map()[12, 30]} mm")
    qtbot.mouseMove(canvas.viewport(), canvas.mapFromScene(HOLE[0] + 0.5, HOLE[1] + 0.5))
    assert window.cursor_label.text().endswith("depth –")

    qtbot.mouseMove(view.viewport(), view.mapFromScene(22.5, 18.5))
    assert window.depth_pair.canvas_crosshair.position == (22.5, 18.5)
    assert window.cursor_label.text().startswith("x 22  y 18")

    window.open_image("scene")  # no depth: no reading, no mirror
    qtbot.mouseMove(canvas.viewport(), canvas.mapFromScene(10.5, 10.5))
    assert "depth" not in window.cursor_label.text()
    assert view.crosshair.position is None
