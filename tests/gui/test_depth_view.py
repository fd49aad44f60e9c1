"""The live depth dock on the synthetic source: a real worker thread, the bundled model, real widgets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from segstudio.core.labels import VOID
from segstudio.depth.model import BodyPartModel, bundled_model_path
from segstudio.depth.parts import BACKGROUND, PARTS_PALETTE
from segstudio.gui.depthview.depth_view import DepthView
from segstudio.gui.main_window import MainWindow
from segstudio.io.project import Project

FRAME_TIMEOUT_MS = 15000


def start_stream(qtbot, window: MainWindow, frames: int = 1) -> DepthView:
    """Show the dock through its View-menu toggle and wait for ``frames`` frames to be shown."""
    window.depth_dock.toggleViewAction().trigger()
    view = window.depth_view
    qtbot.waitUntil(lambda: view.frames_shown >= frames, timeout=FRAME_TIMEOUT_MS)
    return view


def argb(image: QImage) -> np.ndarray:
    """(H, W) uint32 ARGB values of ``image`` (a copy)."""
    converted = image.convertToFormat(QImage.Format.Format_ARGB32)
    rows = np.frombuffer(converted.constBits(), np.uint8).reshape(
        converted.height(), converted.bytesPerLine()
    )
    return rows[:, : converted.width() * 4].copy().view(np.uint32)


def test_dock_is_hidden_until_asked_for_then_streams(make_window, project_root: Path, qtbot) -> None:
    window = make_window(project_root)
    assert not window.depth_dock.isVisible()
    assert window.depth_view.worker is None, "no stream (and no model) at start-up"
    assert window.depth_dock.toggleViewAction() in window.commands.view_menu.actions()

    view = start_stream(qtbot, window)
    first = view.canvas.depth_image
    assert first is not None
    first_pixels = first.array.copy()
    qtbot.waitUntil(lambda: view.frames_shown >= 3, timeout=FRAME_TIMEOUT_MS)
    assert view.canvas.depth_image is not first
    assert not np.array_equal(view.canvas.depth_image.array, first_pixels), "the body moves between frames"
    assert view.fps() > 0
    assert "fps" in view.fps_label.text() and "ms" in view.fps_label.text()
    assert "accuracy" in view.accuracy_label.text(), "synthetic frames carry ground truth"
    assert 0.0 < view.shown.accuracy <= 1.0


def test_part_overlay_shows_the_models_prediction_in_part_colours(make_window, project_root, qtbot) -> None:
    window = make_window(project_root)
    view = start_stream(qtbot, window)
    view.set_paused(True)
    shown = view.shown
    assert shown.player is not None, "the synthetic source knows where the person is"
    expected_parts = BodyPartModel.load(bundled_model_path()).predict(shown.depth, mask=shown.player).parts
    assert np.array_equal(shown.parts, expected_parts)
    assert (expected_parts[~shown.player] == BACKGROUND).all(), "the room is never labelled"

    alpha = round(view.opacity_slider.value() / 100 * 255)
    colors = np.zeros(256, np.uint32)  # BACKGROUND stays fully transparent
    for part in PARTS_PALETTE:
        r, g, b = part.color
        colors[part.id] = (alpha << 24) | (r << 16) | (g << 8) | b
    pixels = argb(view.canvas.parts_image.image)
    assert (expected_parts != BACKGROUND).sum() > 1000
    assert np.array_equal(pixels, colors[expected_parts])

    view.opacity_slider.setValue(0)
    assert (argb(view.canvas.parts_image.image) >> 24 == 0).all(), "opacity swaps the colour table only"


def test_pause_stops_updates_and_resume_restarts_them(make_window, project_root, qtbot) -> None:
    window = make_window(project_root)
    view = start_stream(qtbot, window)
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    assert view.pause_button.isChecked() and view.pause_button.text() == "Resume"
    shown, count = view.shown, view.frames_shown
    qtbot.wait(1200)
    assert view.frames_shown == count and view.shown is shown
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.frames_shown > count, timeout=FRAME_TIMEOUT_MS)


def test_capture_adds_depth_image_and_part_prediction(make_window, tmp_path: Path, qtbot) -> None:
    Project.create(tmp_path / "bodies", PARTS_PALETTE, name="bodies")
    window = make_window(tmp_path / "bodies")
    view = start_stream(qtbot, window)
    view.set_paused(True)
    with qtbot.waitSignal(view.captured, timeout=5000) as captured:
        qtbot.mouseClick(view.capture_button, Qt.MouseButton.LeftButton)
    image_id = captured.args[0]

    project = Project.open(tmp_path / "bodies")  # what was saved, not the window's copy
    entry = project.entry(image_id)
    assert project.image_path(image_id).parent == tmp_path / "bodies" / "captures"
    assert np.array_equal(project.read_depth(image_id), view.shown.depth)
    assert project.read_image(image_id).shape == (*view.shown.depth.shape, 3)
    assert (entry.width, entry.height) == (view.shown.depth.shape[1], view.shown.depth.shape[0])
    prediction = project.load_prediction(image_id)
    assert prediction is not None
    expected = np.where(view.shown.parts == BACKGROUND, VOID, view.shown.parts.astype(np.uint16))
    assert np.array_equal(prediction.category, expected)
    assert image_id in window.image_list.visible_ids()


def test_capture_into_a_project_of_other_classes_keeps_only_depth_and_image(
    make_window, project_root: Path, qtbot
) -> None:
    window = make_window(project_root)
    view = start_stream(qtbot, window)
    image_id = view.capture()
    assert image_id is not None
    project = Project.open(project_root)
    assert project.depth_path(image_id) is not None
    assert project.load_prediction(image_id) is None
    assert "not the body parts" in view.message_label.text()
    assert image_id in window.image_list.visible_ids()
    assert window.document is not None and window.image_name == "scene", "the open image stays open"


def test_missing_camera_library_is_reported_and_greyed_out(make_window, project_root, qtbot) -> None:
    if importlib.util.find_spec("pyrealsense2") is not None:
        pytest.skip("pyrealsense2 is installed here")
    window = make_window(project_root)
    view = start_stream(qtbot, window)
    assert view.open_spec("realsense")
    qtbot.waitUntil(lambda: "pyrealsense2" in view.message_label.text(), timeout=5000)
    row = view.source_box.findData("realsense")
    assert not view.source_box.model().item(row).isEnabled()
    assert view.open_spec("synthetic:3")
    count = view.frames_shown
    qtbot.waitUntil(lambda: view.frames_shown > count, timeout=FRAME_TIMEOUT_MS)


def test_hiding_the_dock_or_closing_the_window_stops_the_thread(make_window, project_root, qtbot) -> None:
    window = make_window(project_root)
    view = start_stream(qtbot, window)
    worker = view.worker
    window.depth_dock.toggleViewAction().trigger()
    assert worker.isFinished() and view.worker is None

    view = start_stream(qtbot, window, frames=view.frames_shown + 1)
    worker = view.worker
    assert worker.isRunning()
    window.close()
    assert worker.isFinished() and view.worker is None
