"""A SAM click's torch threads: every core while that is the faster, the runner's otherwise."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import pytest
import torch

from segstudio.core.prompts import PromptPoint, Prompts
from segstudio.models.click_threads import ClickThreads, _helper_pool, setting, shared, spread, width
from segstudio.models.sam import SamPredictor


def _clicks(
    policy: ClickThreads, narrow: int, seconds: dict[int, float] | Callable[[int, int], float], count: int
) -> list[int]:
    """The thread counts ``policy`` picks for ``count`` clicks that take ``seconds[threads]`` each
    (or ``seconds(threads, click)``, the click numbered from 0)."""
    picked = []
    for number in range(count):
        threads = policy.choose(narrow)
        policy.record(threads, seconds(threads, number) if callable(seconds) else seconds[threads])
        picked.append(threads)
    return picked


def test_each_setting_is_timed_then_the_faster_is_kept_and_the_other_retried_now_and_then() -> None:
    policy = ClickThreads(cores=2, probe_every=5)
    picked = _clicks(policy, 1, {2: 0.05, 1: 0.09}, 14)
    assert picked[:2] == [2, 1]  # every core first, then the runner's
    assert picked[2:4] == [2, 1]  # one time alone does not judge a setting: tried once more, soon
    assert picked[4:8] == [2, 2, 2, 2]
    assert picked[8] == 1  # the probe, after probe_every choices
    assert picked[9:13] == [2, 2, 2, 2] and picked[13] == 1


def test_a_busy_machine_moves_the_clicks_to_the_runners_threads_and_a_free_one_back() -> None:
    policy = ClickThreads(cores=2, probe_every=4)
    _clicks(policy, 1, {2: 0.05, 1: 0.09}, 6)
    busy = _clicks(policy, 1, {2: 0.18, 1: 0.09}, 10)  # another process took a core
    # two slow clicks of the last three outvote the fast one; then every core only as a probe
    assert busy == [2, 1, 2, 1, 1, 2, 1, 1, 1, 2]
    free = _clicks(policy, 1, {2: 0.05, 1: 0.09}, 8)  # the core is free again
    assert free == [1, 1, 1, 2, 1, 2, 2, 2]  # a fast probe is retried soon, two fast times move back


def test_one_slow_first_click_on_every_core_does_not_send_the_next_dozen_to_one_thread() -> None:
    # issue 20: in one bench sam run the runner's one thread ran 11 of the 20 clicks; one slow
    # time on every core (a helper late, another process) is one way to get there
    policy = ClickThreads(cores=2, probe_every=12)
    times = {2: 0.04, 1: 0.06}
    picked = _clicks(policy, 1, lambda threads, number: 0.2 if number == 0 else times[threads], 20)
    # every core tried again soon (one time spoke for it), twice (its first time outvoted by one
    # fast one only with a third); the old policy ran the next 12 clicks on one thread
    assert picked[:6] == [2, 1, 1, 2, 1, 2] and picked[6:] == [2] * 11 + [1, 2, 2]


def test_one_fast_probe_of_the_runners_threads_is_not_enough_to_move() -> None:
    policy = ClickThreads(cores=2, probe_every=4)
    _clicks(policy, 1, {2: 0.05, 1: 0.09}, 10)
    narrow_times = iter([0.04, 0.09, 0.09])  # the first try of one thread is lucky

    def seconds(threads: int, number: int) -> float:
        return next(narrow_times) if threads == 1 else 0.05

    lucky = _clicks(policy, 1, seconds, 8)
    assert lucky == [2, 1, 2, 1, 2, 2, 2, 1]  # the lucky probe is retried once and moves nothing


def test_clicks_of_different_sizes_are_compared_by_their_time_over_their_work() -> None:
    # every core is 1.5x faster, but its clicks happen to be twice the size (more points): by raw
    # times, 0.04 s against 0.03 s, the runner's one thread would look faster
    per_work = {2: 0.002, 1: 0.003}
    picked = {}
    for by_work in (True, False):
        policy = ClickThreads(cores=2, probe_every=12)
        picked[by_work] = []
        for _ in range(20):
            threads = policy.choose(1)
            size = 20.0 if threads == 2 else 10.0
            policy.record(threads, per_work[threads] * size, work=size if by_work else 1.0)
            picked[by_work].append(threads)
    assert picked[True] == [2, 1, 2, 1] + [2] * 11 + [1] + [2] * 4
    assert picked[False].count(1) > 10  # the same times, not taken over the work


def test_without_a_spare_core_the_runners_threads_are_kept() -> None:
    policy = ClickThreads(cores=4)
    assert _clicks(policy, 4, {4: 0.05}, 3) == [4, 4, 4]
    assert _clicks(ClickThreads(cores=1), 1, {1: 0.05}, 2) == [1, 1]


def test_a_click_runs_on_the_chosen_threads_and_restores_the_runners() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        policy = ClickThreads(cores=2)
        with policy.click() as threads:
            inside = (torch.get_num_threads(), width())  # every op on one thread, parts side by side
        assert (threads, inside, torch.get_num_threads(), width()) == (2, (1, 2), 1, 1)
        with pytest.raises(RuntimeError), policy.click():
            raise RuntimeError("a failed click still restores the threads")
        assert torch.get_num_threads() == 1 and sum(policy.chosen.values()) == 2
    finally:
        torch.set_num_threads(before)


def test_the_predictor_times_its_clicks_with_the_policy(sam_network: torch.nn.Module) -> None:
    predictor = SamPredictor(sam_network, "test-weights")
    rgb = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    key = predictor.embed(rgb)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        predictor.click_threads = ClickThreads(cores=2)
        masks = [predictor.predict(key, Prompts((PromptPoint(30, 20),))).mask for _ in range(3)]
        chosen = predictor.click_threads.chosen
        assert chosen[2] >= 1 and chosen[1] >= 1 and chosen.total() == 3  # both timed, then the faster
        assert torch.get_num_threads() == 1
        # the same mask on either count of threads, but for float rounding at the threshold
        assert all(np.mean(masks[0] != mask) < 1e-3 for mask in masks[1:]) and masks[0].any()
    finally:
        torch.set_num_threads(before)


def test_shared_runs_the_items_on_both_threads_in_the_callers_modes_and_gives_them_back_in_order() -> None:
    met = threading.Barrier(2, timeout=10)  # the helper's first item meets the caller's lead

    def work(taken: Iterator[int]) -> list[tuple[int, int, bool, bool, int]]:
        done = []
        for item in taken:
            if threading.get_ident() != caller and not done:
                met.wait()  # the helper took an item while the caller ran its lead: at once
            modes = torch.is_inference_mode_enabled(), torch.is_grad_enabled()
            done.append((item, threading.get_ident(), *modes, torch.get_num_threads()))
        return done

    def lead() -> str:
        met.wait()
        return "led"

    caller = threading.get_ident()
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the runner's on two cores
    try:
        with setting(2, 1), torch.inference_mode():
            led, results = shared(list(range(6)), work, lead)
        assert led == "led" and [result[0] for result in results] == list(range(6))
        assert any(result[1] != caller for result in results)  # the helper took items during the lead
        assert all(result[2:] == (True, False, 1) for result in results)
        assert torch.get_num_threads() == 1 and width() == 1
    finally:
        torch.set_num_threads(before)


def test_shared_does_not_wait_for_a_helper_that_has_not_started() -> None:
    release = threading.Event()
    with spread(2):
        pool = _helper_pool(1)
        busy = pool.submit(release.wait, 10)  # the only helper is held elsewhere
        took: list[int] = []

        def work(taken: Iterator[int]) -> list[int]:
            return [took.append(threading.get_ident()) or item * 2 for item in taken]

        _, doubled = shared(range(5), work)
        assert doubled == [0, 2, 4, 6, 8] and set(took) == {threading.get_ident()}
        release.set()
        busy.result(timeout=10)
        late = pool.submit(lambda: None)  # the skipped helper ran after, taking nothing
        late.result(timeout=10)
        assert len(took) == 5


def test_shared_is_one_after_the_other_without_spread_and_passes_errors_on() -> None:
    order: list[str] = []

    def work(taken: Iterator[int]) -> list[None]:
        return [order.append(f"item {item}") for item in taken]

    assert shared(range(2), work, lambda: order.append("lead")) == (None, [None, None])
    assert order == ["lead", "item 0", "item 1"]

    def fails(taken: Iterator[int]) -> list[None]:
        for item in taken:
            if item == 3:
                raise ValueError("an item failed")
        return []

    with spread(2), pytest.raises(ValueError, match="an item failed"):
        shared(range(6), fails)
    with spread(2), pytest.raises(ValueError, match="the lead failed"):
        shared(range(6), work, partial(_fail, "the lead failed"))
    assert width() == 1


def _fail(message: str) -> None:
    raise ValueError(message)
