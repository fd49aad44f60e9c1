"""The writer threads must not leave PySide stale wrappers behind.

A ``QRunnable.create(fn)`` handed to a pool is deleted by the pool after it runs, but PySide keeps
its Python wrapper keyed by the C++ address; a QAction later allocated at that address came back
from ``menu.actions()`` as a ``QRunnable`` and the window failed to build its shortcut map
(``'QRunnable' object has no attribute 'isSeparator'``). The journal and the file writer now
start their drain through ``QThreadPool.start(callable)``, which makes no Python wrapper.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from segstudio.core.labels import LabelMap
from segstudio.gui.document.journal import JournalWriter, Snapshot
from segstudio.gui.threads.file_writes import FileWrites

ROUNDS = 1500


def _actions_of_fresh_menus() -> list[object]:
    actions: list[object] = []
    for _ in range(150):
        menu = QMenu()
        for n in range(20):
            menu.addAction(f"command {n}")
        actions.extend(menu.actions())
    return actions


def _wrong_types(actions: list[object]) -> list[str]:
    return sorted({type(action).__name__ for action in actions if not isinstance(action, QAction)})


def test_many_journal_writes_leave_every_later_action_a_qaction(qapp) -> None:
    writer = JournalWriter()
    labels = LabelMap.empty(4, 4)
    written: list[str] = []
    for n in range(ROUNDS):
        writer.submit(Snapshot(str(n), labels, lambda image_id, _labels: written.append(image_id)))
        writer.settle(keep_waiting=True)
    assert len(written) == ROUNDS
    assert _wrong_types(_actions_of_fresh_menus()) == []


def test_many_file_writes_leave_every_later_action_a_qaction(qapp) -> None:
    writes = FileWrites()
    done = np.zeros(1, np.int64)

    def write() -> None:
        done[0] += 1

    for n in range(ROUNDS):
        writes.submit(str(n), write)
        writes.settle()
    assert done[0] == ROUNDS
    assert _wrong_types(_actions_of_fresh_menus()) == []
