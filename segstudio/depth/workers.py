"""The threads one live depth frame's work spreads over: one per core, started once per process.

The forest's descent and smoothing's window sums run in blocks on these threads (their compiled
kernels and numpy's whole-array calls release the GIL)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

MAX_WORKERS = 4
"""Most threads one frame uses (one per core; a body of ~15k pixels gains little more)."""


@functools.cache
def workers() -> int:
    """Threads for one frame: the CPU cores, at most ``MAX_WORKERS``. Asked once per process
    (``os.cpu_count`` took ~25 us, and a frame asks several times)."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def spans(n: int, most: int) -> list[tuple[int, int]]:
    """``0 .. n`` in at most ``most`` (and at most ``workers()``) near-equal ``(start, stop)`` blocks."""
    count = max(1, min(workers(), most))
    bounds = [n * k // count for k in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def run_blocks(work: Callable[[int, int], object], blocks: Sequence[tuple[int, int]]) -> None:
    """``work(start, stop)`` for every block: the first on the calling thread, the others on the
    pool. Waking a pool thread for every block cost ~0.5 ms per call on the 2-core VMs (the frame
    makes three such calls), and the caller's cache already holds the frame it just prepared.
    Every block finishes before an error propagates (the first block's first)."""
    futures = [_pool().submit(work, *block) for block in blocks[1:]]
    try:
        work(*blocks[0])
    finally:
        wait(futures)
    for future in futures:
        future.result()


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """One process-wide pool: threads are started once, not per frame."""
    return ThreadPoolExecutor(workers(), thread_name_prefix="depth-frame")
