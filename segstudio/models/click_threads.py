"""How many torch threads a SAM click runs on: every core while that is the faster, else the runner's.

Why: the runner leaves the GUI a core (``models.runner``), right for embeddings and pre-labelling,
which run for seconds while the person works. A click is different: the person waits for its mask
and the GUI thread idles meanwhile (its longest stall with clicks on 2 threads: ~2 ms, ``bench
sam``'s ``click_stall_ms``), so the spare core can work on the click: 74 -> 47 ms per click on the
2-core development VM. But torch's OpenMP threads meet after every op, so when another process
keeps a core busy, two threads wait for each other and a click takes twice as long as on one
(175 vs 89 ms, measured beside one busy loop). No setting is right on every machine at every
moment, so the clicks' own times decide: each setting's last few times are kept, the faster one
is used, and the other is tried again every ``probe_every`` clicks, its old times forgotten, to
notice when the machine frees up or gets busy.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager

import torch

PROBE_EVERY = 12
"""Clicks between two tries of the setting that is not in use."""
KEPT_TIMES = 3
"""Click times kept per setting (their median decides)."""


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
        if self._since_probe < self.probe_every:
            return best
        self._since_probe = 0
        self._times[other].clear()  # the probe's time alone speaks for it: the machine may have changed
        return other

    def record(self, threads: int, seconds: float) -> None:
        """One click's wall time on ``threads`` threads."""
        self._times.setdefault(threads, deque(maxlen=KEPT_TIMES)).append(seconds)

    @contextmanager
    def click(self) -> Iterator[int]:
        """Run the block (one click) on the chosen threads, time it, then restore the runner's."""
        narrow = torch.get_num_threads()
        threads = self.choose(narrow)
        self.chosen[threads] += 1
        if threads != narrow:
            torch.set_num_threads(threads)
        start = time.perf_counter()
        try:
            yield threads
        finally:
            self.record(threads, time.perf_counter() - start)
            if threads != narrow:
                torch.set_num_threads(narrow)
