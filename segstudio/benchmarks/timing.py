"""Median wall-clock timing: benchmarks report medians because these machines are noisy."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(
    run: Callable[[], object], repeats: int, warmup: int = 1, setup: Callable[[], object] | None = None
) -> float:
    """Median of ``repeats`` timed calls of ``run`` in milliseconds; ``setup`` runs untimed before each."""
    for _ in range(warmup):
        if setup is not None:
            setup()
        run()
    samples = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)
