"""``segstudio bench core`` runs end to end and reports every measurement (speed goals live in the
benchmark's JSON, not here: these machines are too noisy to fail a build on)."""

from __future__ import annotations

import importlib
import json

from segstudio.benchmarks.core import run_core_bench
from segstudio.commands.bench import BENCHMARKS

TIMINGS = (
    "full_iou_ms",
    "bincount_iou_ms",
    "incremental_iou_ms",
    "brush_dab_ms",
    "undo_ms",
    "pq_ms",
    "pq_baseline_ms",
)


def test_core_bench_is_the_bench_commands_core_entry() -> None:
    module_name, function_name = BENCHMARKS["core"].split(":")
    assert getattr(importlib.import_module(module_name), function_name) is run_core_bench


def test_core_bench_reports_every_timing() -> None:
    result = run_core_bench(repeats=1)
    assert json.loads(json.dumps(result)) == result
    assert result["map"] == "4000x3000" and result["classes"] == 20
    assert all(result[key] > 0 for key in TIMINGS)
    assert result["pq_speedup"] == round(result["pq_baseline_ms"] / result["pq_ms"], 2)
