"""Retake the README screenshots: the real window under a real X server, driven by mouse and keys.

    apt-get install -y xvfb
    XDG_CONFIG_HOME=$(mktemp -d) XDG_DATA_HOME=$(mktemp -d) TORCH_HOME=/home/user/.cache/torch \\
      xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python docs/take_screenshots.py sample docs
    ... docs/take_screenshots.py train docs /tmp/shapes 240   # trains unet-small for 240 s

``sample``: the built-in sample, four scribbles, the classifier's prediction with the IoU and PQ
dock (screenshot-main.png, 1280x770), then the Models dock in front at 1024x700
(screenshot-1024.png). ``train``: a generated shapes project trained with "Train on this
project", the new model pre-labelling the open image (screenshot-train.png). Fresh settings and
data folders keep the user's own out of the pictures. PNGs are written optimised, lossless.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from segstudio.app import create_window, qt_application
from segstudio.gui.main_window import MainWindow

app = qt_application()


def pump(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def wait(condition: Callable[[], object], seconds: float) -> None:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"waited {seconds} s")
        app.processEvents()
        time.sleep(0.05)


def drag(window: MainWindow, points: Sequence[tuple[float, float]]) -> None:
    """A left-button stroke through image points, in small mouse moves."""
    viewport = window.canvas.viewport()
    views = [window.canvas.mapFromScene(x, y) for x, y in points]
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, views[0])
    for start, end in zip(views, views[1:], strict=False):
        for step in range(1, 9):
            QTest.mouseMove(viewport, start + (end - start) * step / 8)
            app.processEvents()
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, views[-1])


def key(window: MainWindow, code: Qt.Key) -> None:
    QTest.keyClick(window.canvas, code)
    app.processEvents()


def shot(window: MainWindow, path: Path) -> None:
    pump(0.5)
    grabbed = path.with_suffix(".grab.png")
    window.grab().save(str(grabbed))
    Image.open(grabbed).convert("RGB").save(path, optimize=True)
    grabbed.unlink()
    print(path, window.size().toTuple(), path.stat().st_size, "bytes")


def opened(path: Path | None) -> MainWindow:
    window = create_window(path, offer_recovery=False)
    window.show()
    window.resize(1280, 770)
    pump(1.0)
    window.size_docks()
    window.activateWindow()
    pump(1.0)
    window.canvas.fit()
    return window


def sample(out: Path) -> None:
    window = opened(None)
    document = window.document
    assert document is not None
    height, width = document.labels.shape
    key(window, Qt.Key.Key_K)  # the scribble brush
    key(window, Qt.Key.Key_1)  # background
    drag(window, [(width * 0.02, height * 0.05), (width * 0.05, height * 0.4)])
    drag(window, [(width * 0.90, height * 0.3), (width * 0.96, height * 0.9)])
    key(window, Qt.Key.Key_9)  # cat
    drag(window, [(width * 0.30, height * 0.2), (width * 0.50, height * 0.25), (width * 0.60, height * 0.5)])
    drag(window, [(width * 0.45, height * 0.6), (width * 0.55, height * 0.85)])
    pump(1.0)
    wait(lambda: document.prediction is not None and not window.scribbles.busy, 180)
    pump(3.0)
    window.iou_panel.refresh()
    shot(window, out / "screenshot-main.png")
    window.resize(1024, 700)
    window.models.models_dock.toggleViewAction().trigger()  # View > Models
    wait(lambda: window.models.catalog.loaded, 180)
    window.models.models_panel.select_model("deeplabv3_resnet50")
    pump(1.0)
    window.canvas.fit()
    shot(window, out / "screenshot-1024.png")
    document.mark_saved()
    window.close()


def train(out: Path, root: Path, seconds: int) -> None:
    from segstudio.models.shapes_dataset import make_shapes_project

    if not root.exists():
        make_shapes_project(root, n=24, seed=6, size=128)
    window = opened(root)
    window.models.train_dock.toggleViewAction().trigger()  # Models > Train on this project…
    wait(lambda: window.models.catalog.loaded, 180)
    panel = window.models.train_panel
    panel.architecture.setCurrentIndex(max(0, panel.architecture.findText("unet-small")))
    panel.epochs.setValue(40)
    panel.time_limit.setValue(seconds)
    trained: list[str] = []
    panel.trained.connect(trained.append)
    panel.train_button.click()
    wait(lambda: trained, seconds + 600)
    window.models.models_panel.select_model(trained[0])
    pump(1.0)
    window.models.models_panel.prelabel_current()
    wait(lambda: window.document is not None and window.document.prediction is not None, 300)
    pump(2.0)
    window.models.train_dock.raise_()
    window.iou_panel.refresh()
    shot(window, out / "screenshot-train.png")
    assert window.document is not None
    window.document.mark_saved()
    window.close()


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    if mode == "sample":
        sample(folder)
    else:
        train(folder, Path(sys.argv[3]), int(sys.argv[4]))
