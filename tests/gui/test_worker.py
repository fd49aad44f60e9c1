"""The background worker under pytest-qt: a real QThread, real signals, real cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QThread

from segstudio.gui.threads.worker import Job, JobContext, Priority, Worker

WAIT_MS = 5000


@pytest.fixture
def worker(qtbot) -> Iterator[Worker]:
    worker = Worker()
    yield worker
    assert worker.stop()


def _gate() -> tuple[threading.Event, Job]:
    """A job that holds the thread until the event is set (to line up a queue behind it)."""
    gate = threading.Event()
    return gate, Job("gate", "gate", lambda context: gate.wait(WAIT_MS / 1000), Priority.INTERACTIVE)


def test_result_and_progress_arrive_on_the_gui_thread(qtbot, worker: Worker) -> None:
    threads: list[QThread] = []
    progress: list[tuple[int, int]] = []
    worker.progress.connect(lambda job_id, done, total: progress.append((done, total)))
    worker.finished.connect(lambda job_id, result: threads.append(QThread.currentThread()))

    def count(context: JobContext) -> str:
        assert QThread.currentThread() is not worker.thread()
        for step in range(1, 4):
            context.progress(step, 3)
        return "done"

    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS) as finished:
        job_id = worker.submit(Job("count", "a", count))
    assert finished.args == [job_id, "done"]
    assert threads == [worker.thread()]
    assert progress[-1] == (3, 3)
    assert worker.pending() == []


def test_cancel_stops_a_running_job_at_its_next_check(qtbot, worker: Worker) -> None:
    started = threading.Event()
    steps: list[int] = []

    def forever(context: JobContext) -> None:
        started.set()
        for step in range(10_000):
            context.token.check()
            steps.append(step)
            time.sleep(0.001)

    finished: list[object] = []
    worker.finished.connect(lambda job_id, result: finished.append(result))
    job_id = worker.submit(Job("loop", "a", forever))
    assert started.wait(WAIT_MS / 1000)
    with qtbot.waitSignal(worker.cancelled, timeout=WAIT_MS) as cancelled:
        worker.cancel(job_id)
    assert cancelled.args == [job_id]
    assert finished == [] and len(steps) < 10_000


def test_a_newer_job_with_the_same_key_supersedes_the_older(qtbot, worker: Worker) -> None:
    gate, hold = _gate()
    results: list[tuple[int, object]] = []
    cancelled: list[int] = []
    worker.finished.connect(lambda job_id, result: results.append((job_id, result)))
    worker.cancelled.connect(cancelled.append)
    worker.submit(hold)
    old = worker.submit(Job("prelabel", "img1", lambda context: "old"))
    other = worker.submit(Job("prelabel", "img2", lambda context: "other"))
    new = worker.submit(Job("prelabel", "img1", lambda context: "new"))
    gate.set()
    qtbot.waitUntil(lambda: len(results) == 3, timeout=WAIT_MS)
    assert (old, "old") not in results
    assert (new, "new") in results and (other, "other") in results
    assert old in cancelled


def test_stale_result_of_a_running_job_is_dropped(qtbot, worker: Worker) -> None:
    release = threading.Event()
    running = threading.Event()

    def slow(context: JobContext) -> str:
        running.set()
        release.wait(WAIT_MS / 1000)
        return "stale"  # ignores its token on purpose: the worker must still drop the result

    results: list[object] = []
    worker.finished.connect(lambda job_id, result: results.append(result))
    first = worker.submit(Job("prelabel", "img", slow))
    assert running.wait(WAIT_MS / 1000)
    worker.submit(Job("prelabel", "img", lambda context: "fresh"))
    with qtbot.waitSignal(worker.cancelled, timeout=WAIT_MS, check_params_cb=lambda job_id: job_id == first):
        release.set()
    qtbot.waitUntil(lambda: results == ["fresh"], timeout=WAIT_MS)


def test_interactive_jobs_run_before_queued_batch_jobs(qtbot, worker: Worker) -> None:
    gate, hold = _gate()
    order: list[str] = []
    worker.submit(hold)
    worker.submit(Job("prelabel", "b1", lambda context: order.append("batch 1"), Priority.BATCH))
    worker.submit(Job("prelabel", "b2", lambda context: order.append("batch 2"), Priority.BATCH))
    worker.submit(Job("prelabel", "now", lambda context: order.append("interactive"), Priority.INTERACTIVE))
    with qtbot.waitSignal(worker.idle, timeout=WAIT_MS):
        gate.set()
    assert order == ["interactive", "batch 1", "batch 2"]


@pytest.mark.parametrize(
    ("priority", "yields", "first"),
    [
        (Priority.BATCH, False, "interactive"),
        (Priority.INTERACTIVE, True, "interactive"),
        (Priority.INTERACTIVE, False, "long done"),
    ],
)
def test_interactive_job_runs_at_a_check_point_of_a_long_batch_job(
    qtbot, worker: Worker, priority: Priority, yields: bool, first: str
) -> None:
    """No time window: the long job reaches one check point only after the interactive job is queued
    (``submit`` queues synchronously), so the order is decided by the yield point alone. A batch job
    (training) and an interactive one that ``yields`` (the live PQ count) let it run there; an
    ordinary interactive job keeps the thread to its end."""
    order: list[str] = []
    running = threading.Event()
    queued = threading.Event()

    def long(context: JobContext) -> None:
        running.set()
        assert queued.wait(WAIT_MS / 1000)
        context.token.check()  # the yield point: the queued interactive job runs inside this call
        order.append("long done")

    worker.submit(Job("train", "project", long, priority, yields=yields))
    assert running.wait(WAIT_MS / 1000)
    worker.submit(Job("prelabel", "img", lambda context: order.append("interactive"), Priority.INTERACTIVE))
    queued.set()
    qtbot.waitUntil(lambda: len(order) == 2, timeout=WAIT_MS)
    assert order[0] == first


def test_a_failing_job_is_reported_and_the_thread_goes_on(qtbot, worker: Worker) -> None:
    def broken(context: JobContext) -> None:
        raise ValueError("model.pt: not a checkpoint")

    with qtbot.waitSignal(worker.failed, timeout=WAIT_MS) as failed:
        bad = worker.submit(Job("prelabel", "a", broken))
    assert failed.args == [bad, "model.pt: not a checkpoint"]
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS) as finished:
        worker.submit(Job("prelabel", "b", lambda context: 42))
    assert finished.args[1] == 42


def test_updates_and_messages_are_forwarded(qtbot, worker: Worker) -> None:
    updates: list[object] = []
    messages: list[str] = []
    worker.update.connect(lambda job_id, payload: updates.append(payload))
    worker.message.connect(lambda job_id, text: messages.append(text))

    def talk(context: JobContext) -> None:
        context.message("out of memory: running in tiles")
        context.update({"step": 1, "loss": 0.5})

    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        worker.submit(Job("train", "p", talk))
    assert messages == ["out of memory: running in tiles"]
    assert updates == [{"step": 1, "loss": 0.5}]


def test_stop_cancels_the_running_job_and_ends_the_thread(qtbot) -> None:
    worker = Worker()
    running = threading.Event()

    def forever(context: JobContext) -> None:
        running.set()
        while True:
            context.token.check()
            time.sleep(0.001)

    worker.submit(Job("loop", "a", forever))
    assert running.wait(WAIT_MS / 1000)
    assert worker.stop(WAIT_MS)


def test_a_failure_of_the_world_prints_no_traceback_but_a_bug_does(qtbot, worker: Worker, capfd) -> None:
    def offline(context: JobContext) -> None:
        raise OSError("cannot download https://example.invalid/w.pt (no network)")

    def bug(context: JobContext) -> None:
        raise ZeroDivisionError("division by zero")

    with qtbot.waitSignal(worker.failed, timeout=WAIT_MS) as failed:
        worker.submit(Job("download", "w", offline))
    assert "no network" in failed.args[1]
    assert "Traceback" not in capfd.readouterr().err
    with qtbot.waitSignal(worker.failed, timeout=WAIT_MS) as failed:
        worker.submit(Job("bug", "b", bug))
    assert failed.args[1] == "division by zero"
    assert "Traceback" in capfd.readouterr().err  # bugs keep their trace for the report
