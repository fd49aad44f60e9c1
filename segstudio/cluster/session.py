"""Connecting to a Ray cluster: the one place that imports Ray first, with a clear error without it."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from types import ModuleType

INSTALL_HINT = "install it with: pip install 'segstudio[cluster]'"
DATA_THREADS_WAIT_S = 20.0
"""How long ``ray.shutdown`` waits for Ray Data's threads of a stopped pipeline to end."""


class ClusterError(RuntimeError):
    """Work on the cluster failed; the message is one line saying why."""


def import_ray() -> ModuleType:
    """Ray, or ClusterError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the pre-label pipeline needs the data extra)
    except ImportError as error:
        raise ClusterError(f"--cluster needs Ray ({error}); {INSTALL_HINT}") from error
    return ray


@contextlib.contextmanager
def connected(address: str | None, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray, connected for the block: to ``address`` ("auto": the cluster this machine belongs to,
    ``host:port`` or ``ray://host:port``), or with None to a private Ray started here on
    ``num_cpus`` cores. A connection made before (a benchmark, a test) is used and kept."""
    ray = import_ray()
    if ray.is_initialized():
        quiet_data(ray)
        yield ray
        return
    options: dict[str, object] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        options.update(address="local", num_cpus=num_cpus, include_dashboard=False)
    else:
        options.update(address=address)
    try:
        ray.init(**options)
    except ConnectionError as error:
        hint = "start one with: ray start --head" if address == "auto" else "is its head node running?"
        raise ClusterError(f"--cluster {address}: no Ray cluster found; {hint}") from error
    try:
        quiet_data(ray)
        yield ray
    finally:
        settle_data_threads()
        ray.shutdown()


def data_threads() -> list[threading.Thread]:
    """This process's live Ray Data threads: the streaming executor's loop, its metadata fetcher,
    the batch prefetchers of ``iter_batches`` (their code or class lives in ``ray.data``)."""
    found = []
    for thread in threading.enumerate():
        code = getattr(thread, "_target", None) or thread
        module = getattr(code, "__module__", None) or type(thread).__module__
        if module.startswith("ray.data") and thread.is_alive():
            found.append(thread)
    return found


def settle_data_threads(timeout_s: float = DATA_THREADS_WAIT_S) -> None:
    """Let Ray Data's threads of a closed pipeline end before Ray shuts down: a Ctrl+C'd run
    closes its stream, but the executor joins its loop for only 2 s, and a thread that touches
    Ray after ``ray.shutdown`` ends the whole process with status 1 ("The core worker has already
    been shutdown"), seen in CI under load instead of the stopped run's 130."""
    deadline = time.monotonic() + timeout_s
    for thread in data_threads():
        owner = getattr(getattr(thread, "_target", None), "__self__", None)
        stop = getattr(owner, "stop", None)  # a parked block prefetcher waits until stopped
        if callable(stop):
            with contextlib.suppress(Exception):
                stop()
        thread.join(max(0.0, deadline - time.monotonic()))


def quiet_data(ray: ModuleType) -> None:
    """Our own progress line only: no Ray Data progress bars or per-run log lines."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # "progress bars disabled" is a warning


def one_line(error: BaseException) -> str:
    """The cause of a Ray error as one line (Ray wraps a worker's exception in its traceback)."""
    cause = getattr(error, "cause", None) or error.__cause__ or error
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__
