"""How many threads a SAM click runs on: every core while that is the faster, else the runner's.

Why: the runner leaves the GUI a core (``models.runner``), right for embeddings and pre-labelling,
which run for seconds while the person works. A click is different: the person waits for its mask
and the GUI thread idles meanwhile (its longest stall with clicks on 2 threads: ~2 ms, ``bench
sam``'s ``click_stall_ms``), so the spare core can work on the click. No setting is right on every
machine at every moment, so the clicks' own times decide: each setting's last few times are kept,
the faster one is used, and the other is tried again every ``probe_every`` clicks, to notice when
the machine frees up or gets busy.

The times are judged so that one noisy click does not move the next dozen (issue 20: in one
``bench sam`` run 11 of the 20 clicks went to one thread, 64.7 ms there against ~40; before, one
time per setting, or a large click against a small one, could decide for up to ``probe_every``
clicks): each is divided by the click's size (``work``: a click with five points costs
~1.26x one with one point, more than the second core gains when another process takes it for a
moment), and a setting is judged by the median of its last ``KEPT_TIMES``; a setting known by a
single time, or whose last try beat the one in use, is tried again after ``RETRY_AFTER`` clicks
instead of ``probe_every``, so that every switch and every setting left aside rests on two times
at least, and a change of the machine is still noticed within a probe and a retry.

More threads than the runner's are not torch's own (``setting``): torch's OpenMP threads meet
after every op, a few hundred times per click, spin for milliseconds after each (burning the core
another thread wants) and, when another process holds a core for a moment, each meeting waits for
it (2 torch threads: 1.5-2.3 s per click beside a depth training, 1 thread 124-185 ms). Instead
every op runs on one torch thread and the click's large parts, split into independent items
(groups of heads, chunks and slices of pixels, halves of the tokens' MLP), are taken one by one by
that many threads (``shared``), which meet once per part, while the calling thread first runs the
click's serial work that does not need the part (its ``lead``).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

import torch

PROBE_EVERY = 12
"""Clicks between two tries of the setting that is not in use."""
RETRY_AFTER = 2
"""Clicks before that setting is tried again when one time speaks for it or its last try won."""
KEPT_TIMES = 3
"""Click times kept per setting, over the click's work (their median decides)."""


class ClickThreads:
    """The thread count of each click, from the times of the clicks before it (see the module notes)."""

    def __init__(self, cores: int | None = None, probe_every: int = PROBE_EVERY) -> None:
        self.cores = max(1, cores or os.cpu_count() or 1)
        self.probe_every = max(2, probe_every)
        self._times: dict[int, deque[float]] = {}
        self._since_probe = 0
        self.chosen: Counter[int] = Counter()
        """Clicks run per thread count (for ``bench sam``)."""

    def choose(self, narrow: int) -> int:
        """Threads for the next click, ``narrow`` being the runner's setting."""
        wide = max(narrow, self.cores)
        if wide == narrow:
            return narrow
        for count in (wide, narrow):  # each setting timed once before any choice
            if not self._times.get(count):
                return count
        best, other = sorted((wide, narrow), key=lambda count: statistics.median(self._times[count]))
        self._since_probe += 1
        left_aside = self._times[other]
        unsure = len(left_aside) < 2 or left_aside[-1] < statistics.median(self._times[best])
        if self._since_probe < (RETRY_AFTER if unsure else self.probe_every):
            return best
        self._since_probe = 0
        return other  # its time joins its last ones: a switch needs two of three to say so

    def record(self, threads: int, seconds: float, work: float = 1.0) -> None:
        """One click's wall time on ``threads`` threads; ``work``: its size (only ratios matter,
        e.g. ``sam_decoder.click_work``)."""
        self._times.setdefault(threads, deque(maxlen=KEPT_TIMES)).append(seconds / work)

    @contextmanager
    def click(self, work: float = 1.0) -> Iterator[int]:
        """Run the block (one click of size ``work``, see ``record``) on the chosen threads
        (``setting``), time it, then restore the runner's."""
        narrow = torch.get_num_threads()
        threads = self.choose(narrow)
        self.chosen[threads] += 1
        start = time.perf_counter()
        try:
            with setting(threads, narrow):
                yield threads
        finally:
            self.record(threads, time.perf_counter() - start, work)


T = TypeVar("T")
Item = TypeVar("Item")
R = TypeVar("R")
L = TypeVar("L")
_spread = threading.local()
_helpers: ThreadPoolExecutor | None = None
_helpers_lock = threading.Lock()


@contextmanager
def setting(threads: int, narrow: int) -> Iterator[None]:
    """Run the block (a click) on ``threads`` threads, ``narrow`` being the runner's setting: at
    most that, as torch's own threads; more, as ``spread(threads)`` with every op on one torch
    thread (``shared``), torch's threads restored after."""
    if threads <= narrow:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with spread(threads):
            yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def spread(cores: int) -> Iterator[None]:
    """Within the block, ``shared`` runs the click's large independent parts on ``cores``
    threads at once, each on one torch thread (``setting`` sets torch's own threads to 1 around
    it: a click whose every op is single-threaded and whose threads meet only between parts)."""
    before = getattr(_spread, "cores", 1)
    _spread.cores = max(1, cores)
    try:
        yield
    finally:
        _spread.cores = before


def width() -> int:
    """How many threads ``shared`` runs at once from this thread (``spread``; else 1)."""
    return int(getattr(_spread, "cores", 1))


def shared(
    items: Sequence[Item], work: Callable[[Iterator[Item]], list[R]], lead: Callable[[], L] | None = None
) -> tuple[L | None, list[R]]:
    """``lead()`` and ``work``'s results over ``items``, in the items' order: ``work(taken)`` runs
    on up to ``width`` threads at once (the calling one and helpers, each on one torch thread),
    each taking the next item not yet taken from one queue and returning one result per item it
    took; the calling thread runs ``lead`` (serial work that does not need the items) first.

    Why: torch splits each op between its threads, which meet after every op, a few hundred times
    per click; its OpenMP threads then spin for milliseconds (burning the core another thread or
    process wants) and, when another process holds a core for a moment, each meeting waits for it
    (2 threads: 2.3 s per click beside a depth training, 1 thread 185 ms). A click's large parts
    split into independent items meet once each instead. With a fixed share of the items per
    thread the caller would wait at the end for the later thread, for a helper still waking up or
    whose core another process holds for a moment; taking them one by one the threads finish
    together, the serial work overlaps the helpers' items, and a helper that has not started
    when the items are all taken is not waited for (it finds nothing to do later): the caller
    waits only for items a helper is working on."""
    threads = min(width(), len(items))
    if threads < 2:
        return (lead() if lead is not None else None), work(iter(items))
    queue = iter(range(len(items)))
    lock = threading.Lock()
    states = ["waiting"] * (threads - 1)

    def run() -> list[tuple[int, R]]:
        mine: list[int] = []

        def taken() -> Iterator[Item]:
            while True:
                with lock:
                    number = next(queue, None)
                if number is None:
                    return
                mine.append(number)
                yield items[number]

        return list(zip(mine, work(taken()), strict=True))

    def helper(number: int) -> list[tuple[int, R]]:
        with lock:
            if states[number] == "skipped":
                return []
            states[number] = "running"
        return run()

    before = torch.get_num_threads()
    pool = _helper_pool(threads - 1)
    modes = torch.is_inference_mode_enabled(), torch.is_grad_enabled()
    if before != 1:
        torch.set_num_threads(1)
    futures = [pool.submit(_alone, partial(helper, number), *modes) for number in range(threads - 1)]
    running: list[Future[list[tuple[int, R]]]] = []
    try:
        led = lead() if lead is not None else None
        done = run()
    finally:
        with lock:
            for number, future in enumerate(futures):
                if states[number] == "running":
                    running.append(future)
                else:
                    states[number] = "skipped"
        for future in running:
            future.exception()  # every helper at work done before the caller's threads are restored
        if before != 1:
            torch.set_num_threads(before)
    for future in running:
        done += future.result()
    done.sort(key=lambda pair: pair[0])
    return led, [result for _, result in done]


def _alone(task: Callable[[], T], inference: bool, grad: bool) -> T:
    """``task`` on a helper thread, on one torch thread, in the caller's autograd modes (per thread)."""
    torch.set_num_threads(1)
    with torch.inference_mode(inference), torch.set_grad_enabled(grad):
        return task()


def _helper_pool(count: int) -> ThreadPoolExecutor:
    """The helper threads of ``shared``, made once (again, larger, when more are asked for)."""
    global _helpers
    with _helpers_lock:
        if _helpers is None or _helpers._max_workers < count:
            _helpers = ThreadPoolExecutor(max_workers=count, thread_name_prefix="sam-click")
        return _helpers
