"""Per-image work on every core: worker processes, results in input order, bounded memory.

Dataset import, export and evaluation do the same thing per image (decode a PNG or a label file,
convert, encode, count) and share nothing between images, so each image is a task for a process
pool. Three rules keep that safe:

* **Ordered**: results come back in the order of the inputs, so what is written is the same
  bytes whatever the number of processes (and sums are added in the same order).
* **Bounded**: only ``window`` tasks are in flight; the next is submitted when the oldest result
  is taken, so memory holds a few images, never the dataset.
* **Clean stop**: leaving the ``with`` block (done, an error, a cancel raised by a progress
  callback) cancels queued tasks and waits for running ones, so no worker still writes into a
  staging folder that is being removed.

Workers come from a fork server (``forkserver``; ``spawn`` where there is none): the caller is
never forked, which matters when it runs Qt or other threads (the app's worker thread). Each
worker builds its *context* once (e.g. opens the project) and runs OpenCV single-threaded, as
the processes already use the cores. ``jobs=1`` runs everything in the calling process.

``threads=True`` runs the tasks on ``jobs`` threads of the calling process instead, with one
context: for work whose heavy loops release the GIL (compiled code: the PNG decoding and pair
counting of ``eval panoptic``), where a process pool's start-up (the fork server's imports, the
workers, pickling) costs more than the work it spreads. Order, bounds and the clean stop are the
same.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from itertools import islice
from types import TracebackType
from typing import Any, Generic, TypeVar

Context = TypeVar("Context")
Item = TypeVar("Item")
Result = TypeVar("Result")

IN_FLIGHT_PER_JOB = 2
"""Tasks queued per process: enough to keep every process busy, few enough to bound memory."""
_PRELOAD = [
    "numpy",
    "cv2",
    "imagecodecs",
    "segstudio.io.parallel",
    "segstudio.io.project",
    "segstudio.io.coco_panoptic",
]
"""Modules the fork server imports once, so each worker starts with them loaded."""

_worker_context: Any = None


def default_jobs() -> int:
    """How many processes to use by default: the cores this process may run on."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        return max(1, counter() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def background_jobs() -> int:
    """Processes for work behind an interactive app: every core but one, which the GUI keeps
    (on two cores that is 1: the work runs in the calling thread, as it always did)."""
    return max(1, default_jobs() - 1)


def check_jobs(jobs: int) -> int:
    """``jobs`` if usable (>= 1), else ValueError with a one-line reason."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number of processes >= 1, got {jobs!r}")
    return jobs


def _start_method() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(_PRELOAD)
    return context


def prestart(jobs: int) -> None:
    """Start the fork server now, so that it imports its modules (~0.3 s of start-up) while this
    process reads its inputs, instead of after; the pool entered later finds it ready. Nothing
    for ``jobs`` 1 or where there is no fork server."""
    if check_jobs(jobs) > 1 and _start_method().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (malloc.h)."""
KEPT_HEAP_BYTES = 32 << 20
"""Arrays up to this size come from a worker's heap, and as much freed heap is kept for reuse."""


def keep_freed_memory() -> bool:
    """Let glibc reuse freed arrays instead of returning them to the kernel; False where it is not glibc.

    A 640x480 map is ~1 MB: by default glibc maps each such array fresh and unmaps it when freed,
    so the kernel zeroes and faults in its ~300 pages every time (cvtColor of a panoptic map:
    ~2 ms instead of ~0.2 ms on a busy machine). Workers do the same sizes over and over, so
    keeping up to ``KEPT_HEAP_BYTES`` of freed heap costs no memory that is not used again.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, KEPT_HEAP_BYTES) and mallopt(_M_TRIM_THRESHOLD, KEPT_HEAP_BYTES))


def _start_worker(make_context: Callable[[], Any] | None) -> None:
    """Worker set-up: Ctrl+C is the parent's to handle; freed arrays reused; OpenCV on one thread;
    the context built."""
    global _worker_context
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()
    import cv2

    cv2.setNumThreads(1)
    _worker_context = make_context() if make_context is not None else None


def _run_task(task: Callable[[Any, Any], Any], item: Any) -> Any:
    return task(_worker_context, item)


PoolFactory = Callable[[int, Callable[[], Any] | None], Any]
"""What makes an ordered pool: ``OrderedPool``, or a drop-in with the same contract that runs
elsewhere (``segstudio.cluster.pool.RayOrderedPool`` on a Ray cluster)."""


class OrderedPool(Generic[Context]):
    """``with OrderedPool(jobs, make_context) as pool: for r in pool.map(task, items): ...``

    ``task(context, item)`` must be a module-level function and ``item`` picklable (they cross
    into the workers); ``make_context`` (picklable, e.g. ``functools.partial``) runs once per
    worker, or once in this process when ``jobs`` is 1 or with ``threads`` (then the threads
    share it: it must not change while tasks run). Exceptions raised by a task come back from
    ``map`` at that item's turn.
    """

    def __init__(
        self, jobs: int, make_context: Callable[[], Context] | None = None, *, threads: bool = False
    ) -> None:
        self.jobs = check_jobs(jobs)
        self.threads = threads
        self._make_context = make_context
        self._executor: Executor | None = None
        self._local_context: Any = None

    def __enter__(self) -> OrderedPool[Context]:
        if self.jobs == 1 or self.threads:
            keep_freed_memory()  # as the workers do: the same per-image arrays, here in this process
            self._local_context = self._make_context() if self._make_context is not None else None
        if self.jobs > 1 and self.threads:
            self._executor = ThreadPoolExecutor(self.jobs, thread_name_prefix="segstudio-pool")
        elif self.jobs > 1:
            self._executor = ProcessPoolExecutor(
                self.jobs,
                mp_context=_start_method(),
                initializer=_start_worker,
                initargs=(self._make_context,),
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Cancel what has not started, wait for what has; idempotent."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self._local_context = None

    def map(self, task: Callable[[Context, Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        """``task(context, item)`` of every item, in order, at most ``jobs * 2`` at a time."""
        if self._executor is None:
            if self.jobs != 1:
                raise RuntimeError("OrderedPool.map called outside its with block")
            context = self._local_context
            for item in items:
                yield task(context, item)
            return
        executor = self._executor
        if self.threads:
            submit = partial(executor.submit, task, self._local_context)
        else:
            submit = partial(executor.submit, _run_task, task)
        window = self.jobs * IN_FLIGHT_PER_JOB
        pending: deque[Future[Result]] = deque()
        source = iter(items)
        try:
            for item in source:
                pending.append(submit(item))
                if len(pending) >= window:
                    break
            while pending:
                try:
                    result = pending.popleft().result()
                except BrokenProcessPool as error:
                    raise OSError(
                        f"a worker process stopped unexpectedly ({error}); out of memory? try fewer jobs"
                    ) from error
                for item in source:
                    pending.append(submit(item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()


def _each(task: Callable[[Any, Any], Any], context: Any, batch: list[Any]) -> list[Any]:
    return [task(context, item) for item in batch]


def map_in_batches(
    pool: Any, task: Callable[[Context, Item], Result], items: Iterable[Item], size: int
) -> Iterator[Result]:
    """``pool.map(task, items)`` with ``size`` items per hand-over: for small tasks (scoring one
    image pair, ~5 ms) the per-task cost of pickling, queueing and waking a worker is then paid
    once per batch. Results still come one per item, in order; works with any ``PoolFactory``.
    A task's error comes back at its batch's turn, before the batch's earlier items: for work
    that stops at the first error (scoring), not for work that must keep what was done."""
    source = iter(items)
    batches = iter(lambda: list(islice(source, size)), [])
    for results in pool.map(partial(_each, task), batches):
        yield from results
