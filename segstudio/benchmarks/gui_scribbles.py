"""The scribble classifier in ``segstudio bench gui``: time to the first (coarse) and the refined
result after a stroke on the 12 MP photo, with the GUI thread's longest stall meanwhile.

Driven as a user does: the scribble tool is chosen (which prefetches the coarse pass's features;
``scribble_prefetch_s`` until that job ends), a stroke of one class, then a stroke of a second
class: from its release (the controller's 300 ms pause included) ``scribble_first_result_s`` until
the first result is the document's prediction and ``scribble_refined_s`` until the full-resolution
one is (its features computed then). A third stroke, of the first class elsewhere, gives the same
two numbers with every feature cached (``scribble_next_*``: what each later stroke costs).
``scribble_max_stall_ms`` is the GUI thread's longest stall over all of it (a ``StallProbe``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

from segstudio.benchmarks.gui_open import open_and_wait
from segstudio.benchmarks.stall import StallProbe
from segstudio.core.scribble_run import ScribbleResult
from segstudio.gui.main_window import MainWindow
from segstudio.gui.tools.scribbles import FEATURES_KIND, ScribbleController

FIRST_CLASS, SECOND_CLASS = 15, 12
TIMEOUT_S = 900.0
BRUSH = 6.0


def _stroke(window: MainWindow, category: int, points: list[tuple[float, float]]) -> None:
    """A stroke as a mouse makes it: each move its own event, the event loop turning in between
    (so the stall probe sees what one move costs, not the whole stroke at once)."""
    app, tools = QApplication.instance(), window.toolbox
    tools.set_label(category)
    tools.press(points[0])
    for point in points[1:]:
        app.processEvents()
        tools.move(point, True)
    app.processEvents()
    tools.release(points[-1])


def _until(condition: Callable[[], bool], what: str) -> float:
    """Process events until ``condition()``; the seconds it took. The GUI thread sleeps until the
    next event (the stall probe's 5 ms tick at the latest), as under ``app.exec()``: a spinning
    ``processEvents`` loop took a core and the GIL from the worker it waits for."""
    app = QApplication.instance()
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > TIMEOUT_S:
            raise RuntimeError(f"the scribble classifier never {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    return time.perf_counter() - start


def _first_and_refined(controller: ScribbleController, results: list[ScribbleResult]) -> tuple[float, float]:
    """Seconds (from now, a stroke's release) to the next result, and to the next full-resolution
    one with nothing left running (the same on an image without a coarse pass)."""
    seen = len(results)
    first = _until(lambda: len(results) > seen, "showed a first result")
    rest = _until(
        lambda: any(not r.coarse for r in results[seen:]) and not controller.busy, "refined its result"
    )
    return first, first + rest


def _line(y: float, x0: float, x1: float, steps: int = 40) -> list[tuple[float, float]]:
    return [(x0 + (x1 - x0) * i / steps, y) for i in range(steps + 1)]


def measure_scribbles(window: MainWindow, image_id: str, height: int, width: int) -> dict[str, object]:
    """The module notes' numbers on the open project's image ``image_id``."""
    if window.document is not None:
        window.document.mark_saved()
    open_and_wait(window, image_id)
    controller = window.scribbles
    results: list[ScribbleResult] = []
    controller.applied.connect(results.append)
    probe = StallProbe(label="scribble, whole run")
    probe.start()
    window.toolbox.set_tool("scribble")
    window.toolbox.set_radius(BRUSH)
    worker = controller.worker
    prefetch = _until(lambda: not worker.pending(FEATURES_KIND), "prepared its features")
    _stroke(window, FIRST_CLASS, _line(height * 0.2, width * 0.1, width * 0.9))
    _stroke(window, SECOND_CLASS, _line(height * 0.7, width * 0.1, width * 0.9))
    first, refined = _first_and_refined(controller, results)
    _stroke(window, FIRST_CLASS, _line(height * 0.45, width * 0.2, width * 0.5))
    next_first, next_refined = _first_and_refined(controller, results)
    probe.stop()
    controller.applied.disconnect(results.append)
    coarse = results[0]  # on an image too small for a coarse pass, the full result
    return {
        "scribble_prefetch_s": round(prefetch, 3),
        "scribble_first_result_s": round(first, 3),
        "scribble_refined_s": round(refined, 3),
        "scribble_next_first_result_s": round(next_first, 3),
        "scribble_next_refined_s": round(next_refined, 3),
        "scribble_coarse_scale": getattr(coarse, "scale", 1),
        "scribble_max_stall_ms": round(probe.max_stall_ms, 3),
    }
