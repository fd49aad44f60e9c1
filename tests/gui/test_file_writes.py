"""The writer thread of ``gui.threads.file_writes``: writes run off the GUI thread in the order handed
in, a waiting write of a file is replaced by a newer one, settle waits for what it names."""

from __future__ import annotations

import threading
from pathlib import Path

from segstudio.gui.threads.file_writes import FileWrites

WAIT_S = 10.0


def _gate(writes: FileWrites) -> threading.Event:
    """Hold the writer thread in a write of its own until the returned event is set."""
    entered, gate = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        gate.wait(WAIT_S)

    writes.submit("gate", hold)
    assert entered.wait(WAIT_S)
    return gate


def test_writes_run_on_another_thread_in_order_the_latest_of_a_file_winning(qapp, tmp_path: Path) -> None:
    writes = FileWrites()
    done: list[tuple[str, str, bool]] = []

    def write(key: str, text: str):
        def run() -> None:
            (tmp_path / key).write_text(text)
            done.append((key, text, threading.current_thread() is threading.main_thread()))

        return run

    gate = _gate(writes)
    writes.submit("a", write("a", "old"))
    writes.submit("b", write("b", "only"))
    writes.submit("a", write("a", "new"))  # replaces the waiting "old", and now comes after "b"
    assert writes.busy and writes.pending("a") and not (tmp_path / "a").exists()
    gate.set()
    writes.settle()
    assert done == [("b", "only", False), ("a", "new", False)]
    assert (tmp_path / "a").read_text() == "new" and not writes.busy


def test_settle_of_one_file_waits_for_its_write_only(qapp, tmp_path: Path) -> None:
    writes = FileWrites()
    gate = _gate(writes)
    writes.submit("a", lambda: (tmp_path / "a").write_text("a"))
    writes.settle("b")  # nothing of "b" waits: returns at once though the thread is held
    assert writes.pending("a")
    threading.Timer(0.2, gate.set).start()
    writes.settle("a")
    assert (tmp_path / "a").read_text() == "a" and not writes.pending("a")
    writes.settle()


def test_a_failed_write_is_reported_and_later_writes_still_run(qtbot, tmp_path: Path) -> None:
    writes = FileWrites()

    def fail() -> None:
        raise OSError(f"{tmp_path / 'x'}: disk full")

    with qtbot.waitSignal(writes.failed, timeout=int(WAIT_S * 1000)) as failed:
        writes.submit("x", fail)
        writes.submit("y", lambda: (tmp_path / "y").write_text("y"))
        writes.settle()
    assert failed.args == ["x", f"{tmp_path / 'x'}: disk full"]
    assert (tmp_path / "y").read_text() == "y"
