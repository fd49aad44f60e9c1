"""A SAM click's torch threads: every core while that is the faster, the runner's otherwise."""

from __future__ import annotations

import threading
from functools import partial

import numpy as np
import pytest
import torch

from segstudio.core.prompts import PromptPoint, Prompts
from segstudio.models.click_threads import ClickThreads, setting, side_by_side, split, spread, width
from segstudio.models.sam import SamPredictor


def _clicks(policy: ClickThreads, narrow: int, seconds: dict[int, float], count: int) -> list[int]:
    """The thread counts ``policy`` picks for ``count`` clicks that take ``seconds[threads]`` each."""
    picked = []
    for _ in range(count):
        threads = policy.choose(narrow)
        policy.record(threads, seconds[threads])
        picked.append(threads)
    return picked


def test_each_setting_is_timed_then_the_faster_is_kept_and_the_other_retried_now_and_then() -> None:
    policy = ClickThreads(cores=2, probe_every=5)
    picked = _clicks(policy, 1, {2: 0.05, 1: 0.09}, 12)
    assert picked[:2] == [2, 1]  # every core first, then the runner's
    assert picked[2:6] == [2, 2, 2, 2]
    assert picked[6] == 1  # the probe, after probe_every choices
    assert picked[7:11] == [2, 2, 2, 2] and picked[11] == 1


def test_a_busy_machine_moves_the_clicks_to_the_runners_threads_and_a_free_one_back() -> None:
    policy = ClickThreads(cores=2, probe_every=4)
    _clicks(policy, 1, {2: 0.05, 1: 0.09}, 6)
    busy = _clicks(policy, 1, {2: 0.18, 1: 0.09}, 10)  # another process took a core
    # two slow clicks outvote the fast one kept; then every core again only as a probe, still slow
    assert busy == [2, 2, 1, 2, 1, 1, 1, 2, 1, 1]
    free = _clicks(policy, 1, {2: 0.05, 1: 0.09}, 6)  # the core is free again
    assert free == [1, 2, 2, 2, 2, 1]  # one fast probe is enough to move back


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


def test_side_by_side_runs_the_parts_at_once_in_the_callers_modes_and_gives_them_back_in_order() -> None:
    met = threading.Barrier(2, timeout=10)  # each part waits for the other: they run at once

    def part(number: int) -> tuple[int, int, bool, bool, int]:
        met.wait()
        inference = torch.is_inference_mode_enabled()
        return number, threading.get_ident(), inference, torch.is_grad_enabled(), torch.get_num_threads()

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the runner's on two cores
    try:
        with setting(2, 1), torch.inference_mode():
            first, second = side_by_side([partial(part, 0), partial(part, 1)])
        assert (first[0], second[0]) == (0, 1) and first[1] == threading.get_ident() != second[1]
        assert first[2:] == second[2:] == (True, False, 1)
        assert torch.get_num_threads() == 1 and width() == 1
    finally:
        torch.set_num_threads(before)


def test_side_by_side_is_one_after_the_other_without_spread_and_passes_errors_on() -> None:
    order: list[int] = []
    assert side_by_side([partial(order.append, 1), partial(order.append, 2)]) == [None, None]
    assert order == [1, 2]

    def fails() -> None:
        raise ValueError("a part failed")

    with spread(2), pytest.raises(ValueError, match="a part failed"):
        side_by_side([partial(order.append, 3), fails])
    assert order[-1] == 3 and width() == 1


def test_split_keeps_the_order_and_leaves_no_part_empty() -> None:
    assert split(range(8), 2) == [range(0, 4), range(4, 8)]
    assert [list(part) for part in split([1, 2, 3], 2)] == [[1], [2, 3]]
    assert split([1], 4) == [[1]] and split(range(5), 1) == [range(0, 5)]
