"""Cycles become garbage anywhere but are collected on the GUI thread only (see ``gui.threads.gc_guard``):
Qt objects in them must never be destroyed on the worker thread."""

from __future__ import annotations

import gc
import threading

from segstudio.gui.threads.gc_guard import collect_on_gui_thread
from segstudio.gui.threads.worker import Job

WAIT_MS = 10000


class Cyclic:
    """Part of a reference cycle; says on which thread it was freed."""

    freed_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cyclic.freed_on.append(threading.current_thread().name)


def test_cycles_made_on_the_worker_are_freed_on_the_gui_thread(qtbot, make_window, project_root) -> None:
    window = make_window(project_root)
    collector = collect_on_gui_thread()
    assert not gc.isenabled() and collector.timer.isActive()
    Cyclic.freed_on.clear()

    def churn(context) -> int:
        for _ in range(50):
            Cyclic()  # garbage at once (a cycle: only the collector frees it)
        return len([object() for _ in range(100_000)])  # allocations that would trip a collection here

    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        window.worker.submit(Job("test-churn", "cycles", churn))
    assert Cyclic.freed_on.count(threading.main_thread().name) == len(Cyclic.freed_on)
    qtbot.waitUntil(lambda: len(Cyclic.freed_on) == 50, timeout=WAIT_MS)  # the timer collects them
    assert set(Cyclic.freed_on) == {threading.main_thread().name}
