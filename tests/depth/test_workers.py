"""The frame's blocks cover the work exactly once: the first on the calling thread, the rest on the pool."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from segstudio.depth.workers import run_blocks, spans, workers


@pytest.mark.parametrize(("n", "most"), [(0, 0), (1, 5), (10, 1), (10_001, 10_001), (7, 3)])
def test_spans_tile_the_range(n: int, most: int) -> None:
    blocks = spans(n, most)
    assert 1 <= len(blocks) <= max(1, min(workers(), most))
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))


def test_run_blocks_does_every_block_once_and_raises_their_errors() -> None:
    seen = np.zeros(1000, np.int64)
    names: set[str] = set()

    def work(start: int, stop: int) -> None:
        seen[start:stop] += 1
        names.add(threading.current_thread().name)

    run_blocks(work, spans(1000, 1000))
    assert (seen == 1).all()
    caller = threading.current_thread().name
    if workers() > 1:  # the first block on the calling thread, the others on the pool's
        assert caller in names and any(name.startswith("depth-frame") for name in names)
    else:
        assert names == {caller}

    def fail(start: int, stop: int) -> None:
        raise ValueError(f"block {start}")

    with pytest.raises(ValueError, match="block"):
        run_blocks(fail, spans(1000, 1000))


def test_run_blocks_waits_for_every_block_before_raising() -> None:
    finished: list[int] = []

    def work(start: int, stop: int) -> None:
        if start == 0:
            raise ValueError("first block")
        threading.Event().wait(0.05)
        finished.append(start)

    blocks = spans(1000, 1000)
    with pytest.raises(ValueError, match="first block"):
        run_blocks(work, blocks)
    assert len(finished) == len(blocks) - 1
