"""``segstudio bench gui`` runs end to end and reports every measurement (its speed goals live in
the benchmark, not here: these machines are too noisy to fail a build on milliseconds)."""

from __future__ import annotations

import importlib
import json

from segstudio.benchmarks.gui import run_gui_bench
from segstudio.commands.bench import BENCHMARKS

TIMINGS = (
    "stroke_repaint_ms",
    "open_12mp_ms",
    "next_12mp_prefetched_ms",
    "startup_ms",
    "startup_process_ms",
    "iou_update_ms",
)
STALLS = ("open_12mp_max_stall_ms", "next_12mp_max_stall_ms")
COUNTS = (
    "stroke_repaint_samples",
    "open_12mp_samples",
    "next_12mp_samples",
    "startup_samples",
    "iou_update_samples",
    "edits_samples",
)
EDITS = ("accept", "fill", "undo", "redo", "box_to_mask", "save")
SCRIBBLES = (
    "scribble_prefetch_s",
    "scribble_first_result_s",
    "scribble_refined_s",
    "scribble_next_first_result_s",
    "scribble_next_refined_s",
    "scribble_max_stall_ms",
)


def test_gui_bench_is_the_bench_commands_gui_entry() -> None:
    module_name, function_name = BENCHMARKS["gui"].split(":")
    assert getattr(importlib.import_module(module_name), function_name) is run_gui_bench


def test_gui_bench_reports_every_measurement_on_a_small_photo(qapp) -> None:
    result = run_gui_bench(repeats=2, height=300, width=400)
    assert json.loads(json.dumps(result)) == result
    assert result["image"] == "400x300"
    assert isinstance(result["cpu_count"], int) and result["cpu_count"] > 0
    for key in TIMINGS:
        assert isinstance(result[key], float) and result[key] > 0, key
    for key in COUNTS:
        assert isinstance(result[key], int) and result[key] > 0, key
    assert result["startup_imports_torch"] is False
    for key in STALLS:
        assert isinstance(result[key], float) and result[key] >= 0, key
    for name in EDITS:
        assert isinstance(result[f"{name}_ms"], float) and result[f"{name}_ms"] > 0, name
        assert isinstance(result[f"{name}_max_stall_ms"], float) and result[f"{name}_max_stall_ms"] >= 0, name
    for key in SCRIBBLES:
        assert isinstance(result[key], float) and result[key] >= 0, key
    assert result["scribble_first_result_s"] > 0
    assert result["scribble_refined_s"] >= result["scribble_first_result_s"]
    assert result["scribble_coarse_scale"] == 1  # 400x300 is below the coarse pass's size
