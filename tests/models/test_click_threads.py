"""A SAM click's torch threads: every core while that is the faster, the runner's otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segstudio.core.prompts import PromptPoint, Prompts
from segstudio.models.click_threads import ClickThreads
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
            inside = torch.get_num_threads()
        assert (threads, inside, torch.get_num_threads()) == (2, 2, 1)
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
