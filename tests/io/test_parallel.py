"""``io.parallel.OrderedPool``: results in input order, errors at their item, bounded in-flight work,
real worker processes with a per-process context, or threads of this process with one context."""

from __future__ import annotations

import os
import threading
import time
from functools import partial

import pytest

from segstudio.io.parallel import IN_FLIGHT_PER_JOB, OrderedPool, check_jobs, default_jobs, map_in_batches


def _slow_square(offset: int, n: int) -> tuple[int, int]:
    time.sleep(0.02 * (n % 3))  # later items often finish first: order must still hold
    return n * n + offset, os.getpid()


def _fail_at_three(_: None, n: int) -> int:
    if n == 3:
        raise ValueError(f"item {n} is bad")
    return n


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_come_in_input_order_with_the_context(jobs: int) -> None:
    with OrderedPool(jobs, partial(int, 1000)) as pool:
        results = list(pool.map(_slow_square, range(12)))
    assert [value for value, _ in results] == [n * n + 1000 for n in range(12)]
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) if jobs == 1 else (os.getpid() not in pids)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_task_error_comes_back_at_its_item(jobs: int) -> None:
    seen = []
    with OrderedPool(jobs) as pool, pytest.raises(ValueError, match="item 3 is bad"):
        for value in pool.map(_fail_at_three, range(10)):
            seen.append(value)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize(("jobs", "size"), [(1, 3), (2, 3), (2, 1), (2, 50)])
def test_batches_give_one_result_per_item_in_order(jobs: int, size: int) -> None:
    with OrderedPool(jobs, partial(int, 7)) as pool:
        results = list(map_in_batches(pool, _slow_square, range(11), size))
    assert [value for value, _ in results] == [n * n + 7 for n in range(11)]
    if jobs == 2 and size == 3:  # items of one batch share its worker
        assert results[0][1] == results[1][1] == results[2][1]


def test_a_batched_task_error_comes_back_in_order() -> None:
    seen = []
    with OrderedPool(2) as pool, pytest.raises(ValueError, match="item 3 is bad"):
        for value in map_in_batches(pool, _fail_at_three, range(10), 2):
            seen.append(value)
    assert seen == [0, 1]  # the batch holding item 3 fails whole: its item 2 is not given


def test_work_in_flight_is_bounded() -> None:
    pulled = []

    def items():
        for n in range(100):
            pulled.append(n)
            yield n

    with OrderedPool(2) as pool:
        results = pool.map(_fail_at_three, items())
        assert next(results) == 0
        assert len(pulled) <= 2 * IN_FLIGHT_PER_JOB + 1  # not the whole input
        results.close()


def _where(_: None, n: int) -> tuple[int, int, int]:
    time.sleep(0.01)
    return n, os.getpid(), threading.get_ident()


def test_threads_run_in_this_process_in_order_with_one_context() -> None:
    contexts = []

    def make_context() -> list[int]:
        contexts.append([])
        return contexts[-1]

    def task(context: list[int], n: int) -> tuple[int, int, int, int]:
        context.append(n)
        return _where(None, n) + (id(context),)

    with OrderedPool(3, make_context, threads=True) as pool:
        results = list(pool.map(task, range(20)))
    assert [n for n, *_ in results] == list(range(20))
    assert {pid for _, pid, _, _ in results} == {os.getpid()}
    assert threading.get_ident() not in {thread for _, _, thread, _ in results}
    assert len(contexts) == 1 and sorted(contexts[0]) == list(range(20))


def test_threads_give_errors_at_their_item_and_bound_the_work() -> None:
    seen, pulled = [], []

    def items():
        for n in range(100):
            pulled.append(n)
            yield n

    with OrderedPool(2, threads=True) as pool, pytest.raises(ValueError, match="item 3 is bad"):
        for value in map_in_batches(pool, _fail_at_three, items(), 2):
            seen.append(value)
    assert seen == [0, 1]
    assert len(pulled) <= 2 * (2 * IN_FLIGHT_PER_JOB + 1) + 2  # a few batches, not the whole input


def test_jobs_must_be_a_positive_count() -> None:
    assert default_jobs() >= 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs must be"):
            check_jobs(bad)
