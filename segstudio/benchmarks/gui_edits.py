"""The long edits of ``segstudio bench gui`` on the 12 MP photo, and the GUI thread's stall meanwhile.

On an unlabelled copy of the photo with a prediction, each repeat runs: accept the prediction,
undo, redo, undo; flood fill the (whole, unlabelled) image, undo, redo, undo; box-to-mask
(GrabCut) on an object-sized box (a tenth of the image across), then save. Each action is timed
from the call, as the menu or the mouse makes it, until the window is idle again (the document's
long work written, the tools' worker jobs landed, the save's write landed: the event loop then
waits for events as the app's does, see ``_timed``); meanwhile a
``PROBE_MS`` QTimer on the GUI thread measures the longest time the event loop was kept from
running (``*_max_stall_ms``, the worst over the repeats; goal <= 50). ``*_ms`` are medians.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

from segstudio.benchmarks.gui_open import open_and_wait
from segstudio.benchmarks.stall import probed
from segstudio.gui.main_window import MainWindow
from segstudio.io.project import Project

BARE_ID = "bare"
FILL_CLASS = 15
IDLE_TIMEOUT_S = 600.0
GOAL_STALL_MS = 50.0
ACTIONS = ("accept", "fill", "undo", "redo", "box_to_mask", "save")


def add_bare_image(project: Project, photo_id: str) -> None:
    """An unlabelled copy of ``photo_id`` with the photo's prediction: what a pre-labelled image is."""
    photo = project.image_path(photo_id)
    bare = photo.with_name(f"{BARE_ID}{photo.suffix}")
    shutil.copyfile(photo, bare)
    project.add_image(bare, image_id=BARE_ID)
    prediction = project.load_prediction(photo_id)
    if prediction is None:
        raise RuntimeError(f"{photo_id}: the benchmark photo has no prediction")
    project.save_prediction(BARE_ID, prediction)


def _idle(window: MainWindow) -> bool:
    """No long work being written, no tool job (fill, GrabCut) and no label save on its way."""
    document = window.document
    busy = document is not None and getattr(document, "busy", False)
    return not busy and not window.toolbox.jobs.pending() and not window.session.saves.busy


def _timed(
    window: MainWindow, action: Callable[[], object], name: str = "", sleeping: bool = False
) -> tuple[float, float]:
    """(ms from the call until the window is idle, the GUI thread's longest stall meanwhile in ms).
    ``sleeping``: the event loop waits for events as the app's does, instead of spinning (a
    spinning GUI thread holds the GIL and starves the label writer thread: a 12 MP save took
    0.4-0.6 s to land that way against ~40 ms on the GUI thread before, load 8-11)."""
    app = QApplication.instance()
    flags = QEventLoop.ProcessEventsFlag.AllEvents
    if sleeping:
        flags |= QEventLoop.ProcessEventsFlag.WaitForMoreEvents  # the probe's timer wakes it

    def until_idle() -> None:
        start = time.perf_counter()
        while not _idle(window):
            if time.perf_counter() - start > IDLE_TIMEOUT_S:
                raise RuntimeError("the window never became idle after an edit")
            app.processEvents(flags)

    return probed(action, until_idle, name)


def _box_to_mask(window: MainWindow, height: int, width: int) -> None:
    """Drag a box a tenth of the image across around its centre with the box tool, as the mouse does."""
    tools = window.toolbox
    tools.set_tool("box")
    cy, cx, dy, dx = height / 2, width / 2, height / 20, width / 20
    tools.press((cx - dx, cy - dy))
    tools.move((cx + dx, cy + dy), True)
    tools.release((cx + dx, cy + dy))


def _fill(window: MainWindow) -> None:
    window.toolbox.set_tool("label fill")
    window.toolbox.set_label(FILL_CLASS)
    window.toolbox.press((10.5, 10.5))
    window.toolbox.release((10.5, 10.5))


def measure_edits(window: MainWindow, repeats: int, height: int, width: int) -> dict[str, object]:
    """Every action of the module notes, ``repeats`` times on the open project's bare image."""
    if window.document is not None:
        window.document.mark_saved()  # the earlier measurements' strokes are not kept
    open_and_wait(window, BARE_ID)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ACTIONS}
    for _ in range(repeats):
        for name, first in (
            ("accept", lambda: window.accept_prediction(False)),
            ("fill", lambda: _fill(window)),
        ):
            samples[name].append(_timed(window, first, name))
            samples["undo"].append(_timed(window, window.undo, f"undo {name}"))
            samples["redo"].append(_timed(window, window.redo, f"redo {name}"))
            _timed(window, window.undo, f"undo {name}")
        box_to_mask = _timed(window, lambda: _box_to_mask(window, height, width), "box_to_mask")
        samples["box_to_mask"].append(box_to_mask)
        samples["save"].append(_timed(window, window.save, "save", sleeping=True))
    result: dict[str, object] = {}
    for name in ACTIONS:
        result[f"{name}_ms"] = round(statistics.median(ms for ms, _ in samples[name]), 3)
        result[f"{name}_max_stall_ms"] = round(max(stall for _, stall in samples[name]), 3)
    result["edits_samples"] = repeats
    result["edits_goal_max_stall_ms"] = GOAL_STALL_MS
    return result
