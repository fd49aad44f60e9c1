"""Training frames rendered ahead on worker processes, handed out in seed order.

Rendering is most of a training image's cost and holds the GIL in its small numpy steps, so
threads would not help; forked worker processes render the next frames while the caller samples
and featurises the current one (where there is no ``fork``, as on Windows, frames render in the
calling process: spawning would re-run the caller's main script). A frame depends on its seed
only, so the order and content are those of rendering in turn; at most ``ahead`` frames per worker
wait in memory (a frame is ~1.5 MB).

Each worker keeps its BLAS libraries to one thread (``threadpoolctl``): rendering's small matrix
products woke OpenBLAS's thread pool, whose threads then spin, waiting for more work, ~30 ms of
CPU per ~35 ms frame (measured: process 65-74 ms vs thread 34-40 ms a frame); with one worker per
core those spinning threads took the cores from the other worker and the trainer.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from threadpoolctl import threadpool_limits

from segstudio.depth.body import render_frame

Rendered = TypeVar("Rendered")

SERIAL_BELOW = 64
"""Fewer frames than this render in the calling process: starting workers costs seconds."""


def rendered_frames(
    seeds: Iterable[int], processes: int, ahead: int = 8, render: Callable[[int], Rendered] = render_frame
) -> Iterator[Rendered]:
    """``render(seed)`` for every seed in order, on ``processes`` worker processes (in this
    process when ``processes`` <= 1); ``render`` must pickle (a module function or a partial),
    and may return what it makes of the frame (the trainer's crops) rather than the frame."""
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(render, seeds)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),)
    ) as pool:
        pending: deque[Future[Rendered]] = deque()
        for seed in seeds:
            pending.append(pool.submit(render, seed))
            if len(pending) >= processes * ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _exit_with(parent: int) -> None:
    """In a worker: one BLAS thread (see the module notes), and leave as soon as the training
    process is gone (killed, not shut down), which a forked worker waiting for its next frame would
    otherwise never notice."""
    threadpool_limits(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="frame-pool-parent-watch").start()
