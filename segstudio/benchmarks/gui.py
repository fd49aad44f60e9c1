"""``segstudio bench gui``: the annotation window's latencies on a 12-megapixel photo.

Real widgets on the current Qt platform (``offscreen`` unless ``QT_QPA_PLATFORM`` says otherwise),
driven by real ``QMouseEvent``s sent to the canvas viewport, the path a mouse takes. Every
"until painted" below means: process events until the widget has been delivered a Paint event
(covering the given region, where one is given) and that delivery has returned, i.e. the pixels
are in the window's backing store. Medians in milliseconds:

- ``stroke_repaint_ms``: one brush mouse-move (button held, whole image in view, radius 20) from
  sending the event until the canvas has painted the box the move changed;
- ``open_12mp_ms``, ``open_12mp_max_stall_ms``: ``MainWindow.open_image`` of a 4000x3000 JPEG with
  ground truth and a prediction, from the call until it is on screen with every overlay (decode,
  metrics and overlays included), and the GUI thread's longest stall meanwhile; ``next_12mp_*``:
  D from it to the next 12 MP photo once that was read ahead (``benchmarks/gui_open.py``);
- ``startup_ms``: a fresh ``python -c`` parsing a bare ``segstudio`` and opening the default window
  (the sample project), from the child's first statement until its canvas has painted;
  ``startup_process_ms`` counts from just before the process is spawned (interpreter boot
  included); ``startup_imports_torch`` says whether torch was in ``sys.modules`` then (it must not
  be). The children keep compiled bytecode in the benchmark's temporary folder, written by the
  untimed first run, as an installed app has it (pip compiles a wheel at install, the bundle ships
  it): with ``PYTHONDONTWRITEBYTECODE`` set, as on the shared build machines, every start compiled
  segstudio's ~180 modules from source again (~0.4 s there);
- ``iou_update_ms``: a brush stroke on an image with a prediction, its moves coming every 8 ms
  with the event loop running between them, from the press until the IoU dock shows the new
  numbers and has painted them (how stale the dock is while one paints).

- the long edits (accept the prediction, flood fill, undo, redo, box-to-mask, save) on an
  unlabelled copy of the photo, each with the GUI thread's longest stall while it ran
  (``benchmarks/gui_edits.py``; ``edit_repeats`` of each, at most ``MAX_EDIT_REPEATS``).
- the scribble classifier on the same photo: seconds from a stroke's release to the first (coarse)
  and to the refined result, first with the features still to compute, then after a next stroke,
  and the GUI thread's longest stall meanwhile (``benchmarks/gui_scribbles.py``, ``scribble_*``).

``*_samples`` are the sample counts behind each median; ``goals_ms`` the goals they are held to.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import PySide6
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from segstudio.benchmarks.gui_edits import BARE_ID, add_bare_image, measure_edits
from segstudio.benchmarks.gui_open import measure_next, measure_open
from segstudio.benchmarks.gui_scribbles import measure_scribbles
from segstudio.benchmarks.images import photo_like
from segstudio.core.box import Box
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.palette import builtin_palette
from segstudio.gui.main_window import DEFAULT_SIZE, MainWindow
from segstudio.io.project import Project

HEIGHT, WIDTH = 3000, 4000
BRUSH_RADIUS = 20.0
MOVES_PER_REPEAT = 10
PAINT_TIMEOUT_S = 30.0
MOUSE_INTERVAL_S = 0.008
"""A 125 Hz mouse."""
MAX_STROKE_S = 1.0
GOALS_MS = {
    "stroke_repaint_ms": 16.0,
    "open_12mp_ms": 1500.0,
    "open_12mp_max_stall_ms": 50.0,
    "next_12mp_max_stall_ms": 50.0,
    "startup_ms": 1500.0,
    "iou_update_ms": 100.0,
}
PALETTE = builtin_palette("voc")
GT_CLASSES = (0, 8, 12, 15, 7, 9)
"""Classes of the synthetic ground truth and prediction; the brushes paint others, so every
dab changes the ground truth and the human-correction count."""
STROKE_CLASS, IOU_CLASS = 3, 4
PHOTO_ID, NEXT_ID, SMALL_ID = "photo", "next", "small"
MAX_EDIT_REPEATS = 3
"""Whole-image edits take about a second each at 12 MP: three of each are enough for a median."""

STARTUP_SCRIPT = r"""
import time
started = time.perf_counter()
import json, sys
from pathlib import Path
import segstudio.cli  # the entry point's own imports, and its parsing of a bare `segstudio` (the gui)
segstudio.cli.parse([])
from segstudio import app
from PySide6.QtCore import QEvent, QObject

data = Path(sys.argv[1])
app.data_dir = lambda: data  # never the user's data folder
from PySide6.QtCore import QSettings
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(data / "settings"))
qt = app.qt_application()
window = app.create_window(None, offer_recovery=False)
painted = []

class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not painted:
            painted.append(set(sys.modules))  # what the first paint needed imported
        return False

watch = Watch()
window.canvas.viewport().installEventFilter(watch)
window.show()
deadline = time.perf_counter() + 60
while not painted and time.perf_counter() < deadline:
    qt.processEvents()
done = time.perf_counter()
print(json.dumps({"painted": bool(painted), "ms": (done - started) * 1000, "clock": done,
                  "torch": "torch" in sys.modules, "modules": sorted(painted[0] if painted else [])}))
"""


# -- a project with a photo-like 12 MP JPEG, ground truth and a prediction ----------------------------


def region_labels(height: int, width: int, seed: int, provenance: Provenance) -> LabelMap:
    """Blocks of the GT classes, things with one instance per block, a VOID band at the bottom."""
    rng = np.random.default_rng(seed)
    block = max(min(height, width) // 12, 4)
    rows, cols = height // block + 1, width // block + 1
    coarse = rng.choice(np.array(GT_CLASSES, np.uint16), size=(rows, cols))
    category = np.ascontiguousarray(np.repeat(np.repeat(coarse, block, 0), block, 1)[:height, :width])
    ids = np.arange(1, rows * cols + 1, dtype=np.uint32).reshape(rows, cols)
    instance = np.repeat(np.repeat(ids, block, 0), block, 1)[:height, :width]
    thing_ids = np.array([c.id for c in PALETTE if c.isthing], np.uint16)
    instance = np.where(np.isin(category, thing_ids), instance, 0).astype(np.uint32)
    category[height - max(height // 20, 1) :] = VOID
    instance[category == VOID] = 0
    return LabelMap.from_arrays(category, instance, provenance)


def make_bench_project(root: Path, height: int = HEIGHT, width: int = WIDTH) -> Project:
    """A project of the photo (JPEG, ground truth, prediction), the next photo in the list (a copy),
    and a small image to switch away to."""
    project = Project.create(root, PALETTE, name="gui benchmark")
    images = root / "images"
    images.mkdir()
    photo, following, small = (images / f"{name}.jpg" for name in (PHOTO_ID, NEXT_ID, SMALL_ID))
    for path, rgb in ((photo, photo_like(height, width)), (small, photo_like(48, 64, seed=1))):
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"{path}: cannot write the benchmark image")
    shutil.copyfile(photo, following)
    truth = region_labels(height, width, seed=2, provenance=Provenance.HUMAN)
    predicted = region_labels(height, width, seed=2, provenance=Provenance.MODEL)
    flip = np.random.default_rng(3).random(predicted.shape) < 0.1  # a model that is mostly right
    predicted.category[flip] = np.asarray(GT_CLASSES, np.uint16)[1]
    for image_id, path in ((PHOTO_ID, photo), (NEXT_ID, following)):
        project.add_image(path, image_id=image_id)
        project.save_labels(image_id, truth)
        project.save_prediction(image_id, predicted)
    project.add_image(small, image_id=SMALL_ID)
    add_bare_image(project, PHOTO_ID)
    return project


# -- driving the window ---------------------------------------------------------------------------------


class PaintWatch(QObject):
    """Records the regions of the Paint events a widget is delivered (seen just before it paints),
    and for a label the text each paint showed."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.regions: list[QRect] = []
        self.texts: list[str] = []
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Paint:
            self.regions.append(event.region().boundingRect())  # type: ignore[attr-defined]
            if isinstance(watched, QLabel):
                self.texts.append(watched.text())
        return False

    def until_text_painted(self, text: str, timeout_s: float = PAINT_TIMEOUT_S) -> None:
        """Process events until a paint showing ``text`` has been delivered (it may already have
        been: other work in the same event round can repaint the label along with the change)."""
        app = QApplication.instance()
        deadline = time.perf_counter() + timeout_s
        while text not in self.texts:
            if time.perf_counter() > deadline:
                raise RuntimeError("the label was never repainted with its new text")
            app.processEvents()

    def until_painted(self, covering: QRect | None = None, timeout_s: float = PAINT_TIMEOUT_S) -> None:
        """Process events until a paint (meeting ``covering``) has been delivered and has returned."""
        app = QApplication.instance()
        deadline = time.perf_counter() + timeout_s
        while True:
            seen = self.regions
            self.regions = []
            if any(covering is None or region.intersects(covering) for region in seen):
                return
            if time.perf_counter() > deadline:
                raise RuntimeError("the widget was never repainted; is its window exposed?")
            app.processEvents()


def settle(rounds: int = 5) -> None:
    """Let queued work (scene updates, layouts, timers due now) run before the next measurement."""
    app = QApplication.instance()
    for _ in range(rounds):
        app.processEvents()


def send_mouse(widget: QWidget, kind: QEvent.Type, at: QPoint, held: bool) -> None:
    """A left-button mouse event at viewport point ``at``, delivered as the platform would."""
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    buttons = Qt.MouseButton.LeftButton if held else Qt.MouseButton.NoButton
    local = QPointF(at)
    event = QMouseEvent(
        kind, local, QPointF(widget.mapToGlobal(at)), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)


def serpentine(box: Box, step: float, spacing: float) -> Iterator[tuple[float, float]]:
    """Image points sweeping ``box`` row by row (left-right, then back): each move reaches new pixels."""
    y, forward = box.top + spacing / 2, True
    while y < box.bottom:
        xs = np.arange(box.left, box.right, step)
        yield from ((float(x), float(y)) for x in (xs if forward else xs[::-1]))
        y, forward = y + spacing, not forward


def bench_window(data_dir: Path) -> MainWindow:
    """A shown, exposed, default-sized window whose autosave never fires during the measurements."""
    window = MainWindow(data_dir, offer_recovery=False, autosave_ms=24 * 3600 * 1000)
    window.resize(*DEFAULT_SIZE)
    window.show()
    window.size_docks()
    deadline = time.perf_counter() + PAINT_TIMEOUT_S
    while not (window.windowHandle() and window.windowHandle().isExposed()):
        if time.perf_counter() > deadline:
            raise RuntimeError("the benchmark window was never exposed")
        QApplication.instance().processEvents()
    settle()
    return window


def changed_rect(window: MainWindow, box: Box) -> QRect:
    """The viewport rectangle showing an image box (one pixel of slack for rounding)."""
    scene = QRectF(box.left, box.top, box.width, box.height)
    return window.canvas.mapFromScene(scene).boundingRect().adjusted(-1, -1, 1, 1)


def binding_drops_none() -> bool:
    """Whether the Qt binding loses a reference to ``None`` per void call (PySide6 6.12.0 on Python
    3.11 does): the window makes about a dozen such calls per mouse move, so Python aborts with
    "none_dealloc" after some 3000 moves (under a minute of mousing). Python 3.12+ makes ``None``
    immortal, so it cannot happen there."""
    probe, calls = QRect(), 200
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setWidth(1)
    return sys.getrefcount(None) < before - calls // 2


def median(samples: list[float], what: str) -> float:
    if not samples:
        raise ValueError(f"no {what} samples: the image is too small for the benchmark's strokes")
    return round(statistics.median(samples), 3)


# -- the measurements -----------------------------------------------------------------------------------


def measure_strokes(window: MainWindow, moves: int, region: Box) -> list[float]:
    """One long brush stroke over ``region``; each move timed to the repaint of the box it changed."""
    canvas, viewport = window.canvas, window.canvas.viewport()
    window.toolbox.set_tool("brush")
    window.toolbox.set_label(STROKE_CLASS)
    window.toolbox.set_radius(BRUSH_RADIUS)
    boxes: list[Box] = []

    def record(box: Box) -> None:
        boxes.append(box)

    window.document.changed.connect(record)
    watch = PaintWatch(viewport)
    points = serpentine(region, BRUSH_RADIUS / 2, BRUSH_RADIUS * 3)
    at = canvas.mapFromScene(*next(points))
    send_mouse(viewport, QEvent.Type.MouseButtonPress, at, held=True)
    settle()
    samples: list[float] = []
    for point in points:
        if len(samples) == moves:
            break
        to = canvas.mapFromScene(*point)
        if to == at:
            continue
        at = to
        boxes.clear()
        watch.regions.clear()
        start = time.perf_counter()
        send_mouse(viewport, QEvent.Type.MouseMove, at, held=True)
        if not boxes:  # the move reached no new pixel (fresh rows make this rare): not a sample
            settle()
            continue
        watch.until_painted(changed_rect(window, boxes[-1]))
        samples.append((time.perf_counter() - start) * 1000.0)
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, at, held=False)
    window.document.changed.disconnect(record)
    settle()
    return samples


def measure_iou(window: MainWindow, repeats: int, region: Box) -> list[float]:
    """Brush strokes over fresh pixels, their moves sent every ``MOUSE_INTERVAL_S`` with the event loop
    running between them; each timed from the press until the IoU dock shows new numbers and has
    painted them. A stroke is released after ``MAX_STROKE_S`` (a dock that waits for the mouse to stop
    then shows as a sample that long)."""
    canvas, viewport, panel = window.canvas, window.canvas.viewport(), window.iou_panel
    window.toolbox.set_label(IOU_CLASS)
    watch = PaintWatch(panel.summary)
    points = serpentine(region, BRUSH_RADIUS / 2, BRUSH_RADIUS * 3)
    app = QApplication.instance()
    samples = []
    for _ in range(repeats):
        point = next(points, None)
        if point is None:
            break
        at = canvas.mapFromScene(*point)
        settle()
        before = panel.summary.text()
        watch.texts.clear()
        start = time.perf_counter()
        send_mouse(viewport, QEvent.Type.MouseButtonPress, at, held=True)
        held, next_move = True, start + MOUSE_INTERVAL_S
        while panel.summary.text() == before:
            now = time.perf_counter()
            if now - start > PAINT_TIMEOUT_S:
                raise RuntimeError("the IoU dock never showed the stroke")
            if held and now - start > MAX_STROKE_S:
                send_mouse(viewport, QEvent.Type.MouseButtonRelease, at, held=False)
                held = False
            elif held and now >= next_move and (point := next(points, None)) is not None:
                at = canvas.mapFromScene(*point)
                send_mouse(viewport, QEvent.Type.MouseMove, at, held=True)
                next_move += MOUSE_INTERVAL_S
            app.processEvents()
        watch.until_text_painted(panel.summary.text())
        samples.append((time.perf_counter() - start) * 1000.0)
        if held:
            send_mouse(viewport, QEvent.Type.MouseButtonRelease, at, held=False)
        for _ in range(4):  # a brush width on: the next stroke starts on fresh pixels
            next(points, None)
    settle()
    return samples


def measure_startup(
    repeats: int, data_dir: Path, bytecode_cache: bool = True
) -> tuple[list[float], list[float], bool]:
    """Fresh interpreters opening the default window; one untimed run first (sample project, caches,
    and unless not ``bytecode_cache`` the compiled bytecode, kept under ``data_dir``)."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(data_dir / "bytecode")
    inside, whole, torch = [], [], False
    for run in range(repeats + 1):
        spawned = time.perf_counter()  # a system-wide monotonic clock: the child reads the same one
        done = subprocess.run(
            [sys.executable, "-c", STARTUP_SCRIPT, str(data_dir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the start-up run failed:\n{done.stderr.strip()}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if not result["painted"]:
            raise RuntimeError("the started window never painted")
        torch = torch or result["torch"]
        if run:
            inside.append(result["ms"])
            whole.append((result["clock"] - spawned) * 1000.0)
    return inside, whole, torch


def run_gui_bench(repeats: int = 15, height: int = HEIGHT, width: int = WIDTH) -> dict[str, object]:
    """Run every GUI measurement on a ``width`` x ``height`` photo; returns the JSON-ready medians."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from segstudio.app import qt_application

    app = qt_application()
    if binding_drops_none():
        raise RuntimeError(
            f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} drops a reference to None "
            "on every void Qt call and aborts after a few thousand (none_dealloc): use another PySide6 "
            "(6.11.x) or Python 3.12+"
        )
    with tempfile.TemporaryDirectory(prefix="segstudio-bench-gui-") as temp:
        root = Path(temp)
        startup, startup_process, imports_torch = measure_startup(repeats, root / "startup-data")
        project = make_bench_project(root / "project", height, width)
        window = bench_window(root / "data")
        try:
            window.open_project(project, SMALL_ID)
            opened = measure_open(window, repeats, PHOTO_ID, SMALL_ID)
            following = measure_next(window, repeats, PHOTO_ID, NEXT_ID)
            window.canvas.fit()
            settle()
            top, bottom = Box(0, 0, height // 2, width), Box(height // 2, 0, height, width)
            margin = int(BRUSH_RADIUS * 2)
            strokes = measure_strokes(window, repeats * MOVES_PER_REPEAT, top.pad(-margin))
            iou = measure_iou(window, repeats, bottom.pad(-margin))
            edits = measure_edits(window, max(1, min(repeats, MAX_EDIT_REPEATS)), height, width)
            scribbles = measure_scribbles(window, BARE_ID, height, width)
        finally:
            if window.document is not None:
                window.document.mark_saved()
            window.close()
            window.deleteLater()
            settle()
    return {
        "image": f"{width}x{height}",
        "cpu_count": os.cpu_count() or 0,
        "qt_platform": app.platformName(),
        "stroke_repaint_ms": median(strokes, "stroke"),
        "stroke_repaint_samples": len(strokes),
        "open_12mp_ms": median([ms for ms, _ in opened], "open"),
        "open_12mp_max_stall_ms": round(max(stall for _, stall in opened), 3),
        "open_12mp_samples": len(opened),
        "next_12mp_prefetched_ms": median([ms for ms, _ in following], "next"),
        "next_12mp_max_stall_ms": round(max(stall for _, stall in following), 3),
        "next_12mp_samples": len(following),
        "startup_ms": median(startup, "start-up"),
        "startup_process_ms": median(startup_process, "start-up"),
        "startup_samples": len(startup),
        "startup_imports_torch": imports_torch,
        "iou_update_ms": median(iou, "IoU"),
        "iou_update_samples": len(iou),
        **edits,
        **scribbles,
        "goals_ms": GOALS_MS,
    }
