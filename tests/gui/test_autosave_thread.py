"""The autosave journal is written off the GUI thread, latest snapshot first, and never after a save."""

from __future__ import annotations

import threading
import time

import numpy as np
from gui_helpers import CAT, brush_stroke, saves_landed, zoomed

from segstudio.core.labels import LabelMap
from segstudio.gui.document.journal import JournalWriter, Snapshot
from segstudio.io.project import Project

SLOW_WRITE_S = 0.3


def _slow(write, wait=lambda: time.sleep(SLOW_WRITE_S)):
    """``write`` run after ``wait()``, recording the thread it ran on."""
    threads: list[threading.Thread] = []

    def slow(image_id: str, labels: LabelMap) -> None:
        threads.append(threading.current_thread())
        wait()
        write(image_id, labels)

    return slow, threads


def test_a_burst_writes_the_first_and_the_latest_snapshot_only(qtbot) -> None:
    writer = JournalWriter()
    started, release = threading.Event(), threading.Event()
    written: list[int] = []

    def write(image_id: str, labels: LabelMap) -> None:
        started.set()
        release.wait(5)
        written.append(int(labels.category[0, 0]))

    for value in (1, 2, 3, 4):
        labels = LabelMap.empty(2, 2)
        labels.category[0, 0] = value
        writer.submit(Snapshot("a", labels, write))
        assert started.wait(5)  # 2, 3 and 4 arrive while 1 is being written
    reported: list[str] = []
    writer.written.connect(reported.append)
    assert writer.busy
    release.set()
    writer.settle(keep_waiting=True)
    assert written == [1, 4] and not writer.busy
    qtbot.waitUntil(lambda: reported == ["a", "a"])  # delivered on the GUI thread


def test_a_failed_write_is_reported_and_the_writer_goes_on(qtbot) -> None:
    writer = JournalWriter()

    def fail(image_id: str, labels: LabelMap) -> None:
        raise OSError(f"/nowhere/{image_id}.npz: disk full")

    with qtbot.waitSignal(writer.failed, timeout=5000) as failed:
        writer.submit(Snapshot("a", LabelMap.empty(1, 1), fail))
    assert failed.args == ["a", "/nowhere/a.npz: disk full"]
    with qtbot.waitSignal(writer.written, timeout=5000):
        writer.submit(Snapshot("b", LabelMap.empty(1, 1), lambda *_: None))


def test_autosave_writes_a_snapshot_on_another_thread_while_editing_goes_on(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    project = window.project
    release, held_to_the_end = threading.Event(), threading.Event()

    def hold() -> None:  # a GUI thread that waited for the write would see it held for the full 10 s
        if not release.wait(10):
            held_to_the_end.set()

    project.autosave, threads = _slow(project.autosave, wait=hold)
    brush_stroke(qtbot, window)
    snapshot = window.labels.copy()
    window.session.autosave_in_background()
    assert not held_to_the_end.is_set()  # the GUI thread came back while the write was still held
    release.set()
    brush_stroke(qtbot, window, CAT, ((10, 60), (60, 60)))  # edits go on while the journal is written
    window.session.journal.settle(keep_waiting=True)
    assert threads and threads[0] is not threading.main_thread()
    journaled = Project.open(project_root).recover("scene")
    assert np.array_equal(journaled.category, snapshot.category)
    assert not np.array_equal(journaled.category, window.labels.category)


def test_saving_waits_for_a_running_journal_write_so_no_stale_entry_survives(
    qtbot, make_window, project_root
):
    window = zoomed(make_window(project_root))
    window.project.autosave, threads = _slow(window.project.autosave)
    brush_stroke(qtbot, window)
    window.session.autosave_in_background()
    qtbot.waitUntil(lambda: bool(threads))  # the write is running
    window.session.autosave_in_background()  # and another waits behind it
    assert window.save()
    saves_landed(qtbot, window)
    window.session.journal.settle(keep_waiting=True)
    assert not (project_root / ".autosave" / "scene.npz").exists()
    assert Project.open(project_root).recoverable() == []
    assert len(threads) == 1  # the waiting snapshot was superseded by the save
