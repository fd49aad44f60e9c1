"""``segstudio bench prelabel`` runs end to end (on the tests' cluster, small) and reports every rate;
its goal (Ray's overhead) lives in the benchmark's JSON, not here."""

from __future__ import annotations

import importlib

import pytest

from segstudio.benchmarks.prelabel import run_prelabel_bench
from segstudio.commands.bench import BENCHMARKS

pytestmark = pytest.mark.slow


def test_prelabel_bench_is_the_bench_commands_entry() -> None:
    module_name, function_name = BENCHMARKS["prelabel"].split(":")
    assert getattr(importlib.import_module(module_name), function_name) is run_prelabel_bench


def test_the_bench_runs_both_ways_with_the_same_predictions(ray_address: str) -> None:
    result = run_prelabel_bench(images=8, size=64)  # the tests' cluster is used, not a new one
    assert result["same_predictions"] is True
    for mode in ("local", "local_1_thread", "ray"):
        assert result[mode]["images"] == 8 and result[mode]["images_per_s"] > 0
    assert result["ray_vs_local"] > 0 and result["ray_per_actor_vs_1_thread"] > 0
