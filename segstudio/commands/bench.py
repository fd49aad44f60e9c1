"""``segstudio bench NAME [--json]``: speed benchmarks printing medians (JSON with --json)."""

from __future__ import annotations

import argparse
import importlib
import json

from segstudio.cli import CommandError

BENCHMARKS: dict[str, str] = {
    "core": "segstudio.benchmarks.core:run_core_bench",
    "depth": "segstudio.benchmarks.depth:run_depth_bench",
    "pixel-classify": "segstudio.benchmarks.pixel_classify:run_pixel_classify_bench",
    "gui": "segstudio.benchmarks.gui:run_gui_bench",
    "worker": "segstudio.benchmarks.worker:run_worker_bench",
    "models": "segstudio.benchmarks.models:run_models_bench",
    "store": "segstudio.benchmarks.store:run_store_bench",
    "prelabel": "segstudio.benchmarks.prelabel:run_prelabel_bench",
}
"""Benchmark name -> ``module:function``; the function takes ``repeats`` and returns a JSON-ready dict.
Modules are imported only when their benchmark runs (some pull in Qt or torch)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a speed benchmark and print its medians")
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=15, help="timed repetitions per measurement")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        raise CommandError("--repeats must be at least 1")
    module_name, function_name = BENCHMARKS[args.name].split(":")
    benchmark = getattr(importlib.import_module(module_name), function_name)
    result = benchmark(repeats=args.repeats)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}  {value}")
    return 0
