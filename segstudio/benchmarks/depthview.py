"""``segstudio bench depthview``: frames per second of the live depth dock itself, offscreen.

The same run times, on the same pre-rendered 640x480 synthetic frames (one body, ground truth):

- ``classify_fps``: the worker's whole per-frame work alone (``depth_worker.classify``: the forest
  and smoothing of ``BodyPartModel.predict``, joints, the frame's accuracy, the colour-map index),
  back to back on this thread: the most the dock could show;
- ``app_fps``: the real ``DepthView`` (its ``DepthWorker`` threads, the hand-over to the GUI thread,
  the QImage wrapping and the canvas's paints) fed by a source replaying those frames as fast as
  they are taken (a camera's frames cost our process nothing to make), counted as frames
  *painted* per second over ``SECONDS``;
- ``app_synthetic_fps``: the dock on the "Synthetic body" source as the app opens it, which renders
  every frame in the reader thread (more CPU per frame than classifying it, and the GIL taken from
  the classifier) and is paced at its 30 fps.

``app_vs_classify`` is ``app_fps / classify_fps`` (goal >= 0.8). ``depth bench`` times the forest,
smoothing and joints stage by stage (``fps`` there) for comparison.
"""

from __future__ import annotations

import os
import time

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

from segstudio.benchmarks.timing import median_ms
from segstudio.depth.model import BodyPartModel, bundled_model_path
from segstudio.depth.parts import BACKGROUND
from segstudio.depth.sources import DepthFrame, SyntheticSource
from segstudio.gui.depthview.depth_view import DepthView
from segstudio.gui.depthview.depth_worker import classify

SECONDS = 6.0
WARMUP_S = 1.0
LOOP_FRAMES = 24
"""Distinct frames replayed (0.8 s of motion at 30 fps)."""


class ReplaySource:
    """Pre-rendered frames over and over, as fast as they are read (``fps`` only paces the reader)."""

    fps = 10_000.0

    def __init__(self, frames: list[DepthFrame]) -> None:
        self.frames = frames
        self._index = 0

    def open(self) -> None:
        self._index = 0

    def read(self) -> DepthFrame | None:
        frame = self.frames[self._index % len(self.frames)]
        self._index += 1
        return frame

    def close(self) -> None:
        pass


class PaintCount(QObject):
    """Counts the paints of the depth canvas that show a frame not painted before."""

    def __init__(self, view: DepthView) -> None:
        super().__init__(view)
        self.view = view
        self.times: list[float] = []
        self._last: object = None
        view.canvas.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Paint and self.view.shown is not self._last:
            self._last = self.view.shown
            self.times.append(time.perf_counter())
        return False

    def fps(self, since: float) -> float:
        times = [t for t in self.times if t >= since]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def _stream_fps(view: DepthView, start: object) -> float:
    """Painted frames per second over ``SECONDS`` after ``WARMUP_S`` of a stream ``start()`` begins."""
    counter = PaintCount(view)
    start()  # type: ignore[operator]
    began = time.perf_counter()
    loop = QEventLoop()  # the GUI thread sleeps between events, as under app.exec(), never spins
    QTimer.singleShot(int((WARMUP_S + SECONDS) * 1000), loop.quit)
    loop.exec()
    view.stop()
    counter.view.canvas.removeEventFilter(counter)
    return counter.fps(began + WARMUP_S)


def run_depthview_bench(repeats: int = 30) -> dict[str, object]:
    """The module notes' numbers; ``repeats`` frames are timed for ``classify_fps``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from segstudio.app import qt_application

    app = qt_application()
    model = BodyPartModel.load(bundled_model_path())
    synthetic = SyntheticSource()
    synthetic.open()
    frames = [frame for frame in (synthetic.read() for _ in range(LOOP_FRAMES)) if frame is not None]
    state = {"next": 0}

    def one() -> object:
        frame = frames[state["next"] % len(frames)]
        state["next"] += 1
        return classify(model, frame)

    classify_ms = median_ms(one, max(repeats, 3), warmup=2)
    view = DepthView(lambda: None, lambda: model)
    view.resize(660, 560)
    view.show()
    for _ in range(5):
        app.processEvents()
    try:
        replay = _stream_fps(view, lambda: view.start_source(ReplaySource(frames)))
        live = _stream_fps(view, lambda: view.open_spec("synthetic"))
    finally:
        view.stop()
        view.close()
        view.deleteLater()
        app.processEvents()
    classify_fps = 1000.0 / classify_ms
    return {
        "frame": f"{frames[0].depth.shape[1]}x{frames[0].depth.shape[0]}",
        "cpu_count": os.cpu_count() or 0,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "classify_ms": round(classify_ms, 2),
        "classify_fps": round(classify_fps, 1),
        "app_fps": round(replay, 1),
        "app_vs_classify": round(replay / classify_fps, 3) if classify_fps else 0.0,
        "app_synthetic_fps": round(live, 1),
        "synthetic_source_fps": synthetic.fps,
        "seconds": SECONDS,
        "body_pixels": int(
            np.mean([int((f.parts != BACKGROUND).sum()) for f in frames if f.parts is not None])
        ),
    }
