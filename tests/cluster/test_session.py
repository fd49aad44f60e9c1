"""Leaving a Ray connection: the threads of a stopped Ray Data pipeline end before Ray shuts down."""

from __future__ import annotations

import time

import pytest

from segstudio.cluster.session import data_threads, settle_data_threads

pytestmark = pytest.mark.slow


def test_a_closed_pipelines_threads_are_ended_before_shutdown(ray_address: str) -> None:
    import ray

    dataset = ray.data.range(2000, override_num_blocks=40).map_batches(
        lambda batch: (time.sleep(0.02), batch)[1], batch_size=50
    )
    stream = iter(dataset.iter_batches(batch_size=None))
    for taken, _ in enumerate(stream):
        if taken == 2:
            break  # as a Ctrl+C'd run stops
    assert data_threads()  # the executor's loop and the block prefetcher are running
    stream.close()
    start = time.monotonic()
    settle_data_threads(timeout_s=30.0)
    assert data_threads() == []  # a parked prefetcher is stopped, not waited on for the timeout
    assert time.monotonic() - start < 25.0
