"""``segstudio bench store`` runs end to end on a small generated project and reports every
measurement (its goals live in the benchmark's JSON, not here); the generated project is real."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from segstudio.benchmarks.store import make_store_project, run_store_bench
from segstudio.commands.bench import BENCHMARKS
from segstudio.io.project import ImageState, Project

TIMINGS = ("open_s", "state_update_ms", "save_labels_ms", "window_open_s", "image_list_filter_ms")


def test_store_bench_is_the_bench_commands_store_entry() -> None:
    module_name, function_name = BENCHMARKS["store"].split(":")
    assert getattr(importlib.import_module(module_name), function_name) is run_store_bench


def test_the_generated_project_is_a_real_project(tmp_path: Path) -> None:
    entries = make_store_project(tmp_path / "p", 400)
    with Project.open(tmp_path / "p") as project:
        assert project.image_ids() == [e.id for e in entries]
        counts = project.state_counts()
        assert [counts[s] for s in ImageState] == [240, 40, 100, 20]  # 60%, 10%, 25%, 5%
        last = entries[-1]  # every listed file is there and readable
        assert project.missing_files(last.id) == [] and project.read_image(last.id).shape == (48, 64, 3)
        assert project.entry(last.id).source == last.source
        assert project.load_labels("000019").shape == (48, 64)  # a reviewed one's labels file


def test_store_bench_reports_every_measurement_on_a_small_project(qapp) -> None:
    result = run_store_bench(repeats=2, count=500)
    assert json.loads(json.dumps(result)) == result
    assert result["images"] == 500
    for key in TIMINGS:
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["migrate_s"] > 0 and result["add_image_batch_per_s"] > 0
    assert set(result["goals"]) <= set(result)
