"""``segstudio bench worker`` runs end to end on a tiny setting and reports every measurement (the
speed goals live in the benchmark: these shared machines are too noisy to fail a build on them)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import torch

from segstudio.benchmarks.worker import GOALS, run_worker_bench
from segstudio.commands.bench import BENCHMARKS
from segstudio.models import registry


def test_worker_bench_is_the_bench_commands_worker_entry() -> None:
    module_name, function_name = BENCHMARKS["worker"].split(":")
    assert getattr(importlib.import_module(module_name), function_name) is run_worker_bench


def test_worker_bench_reports_stall_overhead_and_device(qapp) -> None:
    names = {spec.name for spec in registry.list_specs()}
    result = run_worker_bench(repeats=1, size=64)
    assert json.loads(json.dumps(result)) == result
    assert result["model"] == "deeplabv3_resnet50" and result["weights"] == "random"
    assert result["device"] == "cpu" and result["image"] == "64x64" and result["images"] == 1
    assert result["goals"] == GOALS
    assert result["probe_ticks"] > 1
    assert 0 <= result["max_stall_ms"] < 5000
    assert result["bare_ms_per_image"] > 0 and result["worker_ms_per_image"] > 0
    assert 0.3 < result["overhead_ratio"] < 10
    assert ("images_per_s" in result) == torch.cuda.is_available()
    assert {spec.name for spec in registry.list_specs()} == names  # the random-weights entry is gone


def test_worker_bench_needs_only_qtcore() -> None:
    """The GPU machines carry a QtCore-only PySide6: the bench and the worker must not need more."""
    code = (
        "import sys, segstudio.benchmarks.worker, segstudio.gui.threads.worker\n"
        "extra = sorted(m for m in sys.modules if m.startswith('PySide6.Qt') and m != 'PySide6.QtCore')\n"
        "print(','.join(extra))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
