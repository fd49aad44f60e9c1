"""The main window on the built-in sample project, driven for real with pytest-qt (offscreen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import qAlpha, qBlue, qGreen, qRed
from PySide6.QtWidgets import QMessageBox

from segstudio.app import create_window, run
from segstudio.core.labels import VOID
from segstudio.gui.canvas.layers import GROUND_TRUTH
from segstudio.io.samples import load_sample, sample_palette, samples


def test_window_shows_the_bundled_sample_with_its_labels(qtbot) -> None:
    window = create_window()
    qtbot.addWidget(window)
    window.show()
    sample = samples()[0]
    rgb, labels = load_sample(sample)
    assert window.image_name == sample.name
    assert np.array_equal(window.labels.category, labels.category)
    cat = sample_palette().by_name("cat").id
    assert (labels.category == cat).mean() > 0.3  # the sample really is labelled

    layer = window.canvas.layers[GROUND_TRUTH]
    image = layer._image.image
    y, x = np.argwhere(labels.category == cat)[0]
    pixel = image.pixel(int(x), int(y))
    assert (qRed(pixel), qGreen(pixel), qBlue(pixel)) == sample_palette()[cat].color
    assert qAlpha(pixel) == round(0.5 * 255)


def test_layers_panel_opacity_slider_changes_the_overlay_alpha(qtbot) -> None:
    window = create_window()
    qtbot.addWidget(window)
    window.layers_panel.opacity[GROUND_TRUTH].setValue(80)
    image = window.canvas.layers[GROUND_TRUTH]._image.image
    cat = sample_palette().by_name("cat").id
    y, x = np.argwhere(window.labels.category == cat)[0]
    assert qAlpha(image.pixel(int(x), int(y))) == round(0.8 * 255)


def test_cursor_readout_names_the_class_under_the_mouse(qtbot) -> None:
    window = create_window()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.canvas.fit()
    cat = sample_palette().by_name("cat").id
    for x, y, name in ((150, 150, "cat"), (445, 150, "background")):
        assert window.palette[int(window.labels.category[y, x])].name == name
        view_point = window.canvas.mapFromScene(x + 0.5, y + 0.5)
        scene_point = window.canvas.mapToScene(view_point)
        expected = f"x {int(scene_point.x())}  y {int(scene_point.y())}  {name}"
        qtbot.mouseMove(window.canvas.viewport(), view_point)
        qtbot.waitUntil(lambda expected=expected: window.cursor_label.text() == expected)
    assert cat != window.palette.by_name("background").id


def test_corrupt_image_shows_an_error_naming_the_file_and_the_window_goes_on(qtbot, tmp_path) -> None:
    window = create_window()
    qtbot.addWidget(window)
    window.show()
    before = window.labels.category.copy()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    assert window.open_path(bad) is False
    box = window.findChild(QMessageBox)
    assert box is not None and "broken.png" in box.text()
    box.close()
    assert np.array_equal(window.labels.category, before)

    good = tmp_path / "good.png"
    good.write_bytes(Path(samples()[0].labels).read_bytes())  # any valid PNG will do
    assert window.open_path(good) is True
    assert window.image_name == "good"  # ids are file names less their suffix
    assert (window.labels.category == VOID).all()
    assert window.project.root == (tmp_path / ".segstudio").resolve()


def test_screenshot_renders_the_window_to_a_png(qtbot, tmp_path) -> None:
    out = tmp_path / "shot.png"
    assert run(screenshot=out) == 0
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG")
    import cv2

    shot = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert shot.shape[0] > 300 and shot.shape[1] > 300
    assert shot.std() > 10  # a real picture, not a blank window


def test_quit_closes_the_window(qtbot) -> None:
    window = create_window()
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible())


def test_a_folder_whose_first_image_is_corrupt_opens_the_next_and_says_why(qtbot, tmp_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    valid = Path(samples()[0].labels).read_bytes()  # any valid PNG will do
    (folder / "a.png").write_bytes(valid[: len(valid) // 2])  # its header reads, its pixels do not
    (folder / "b.png").write_bytes(valid)
    window = create_window()
    qtbot.addWidget(window)
    window.show()
    assert window.open_path(folder) is True
    assert window.image_name == "b"
    boxes = [box for box in window.findChildren(QMessageBox) if "a.png" in box.text()]
    assert boxes and "Showing b instead." in boxes[0].text()
