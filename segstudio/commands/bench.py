"""``segstudio bench NAME [--json]``: speed benchmarks printing medians (JSON with --json)."""

from __future__ import annotations

import argparse
import importlib
import json

from segstudio.cli import CommandError

BENCHMARKS: dict[str, str] = {
    "core": "segstudio.benchmarks.core:run_core_bench",
    "depth": "segstudio.benchmarks.depth:run_depth_bench",
    "depthview": "segstudio.benchmarks.depthview:run_depthview_bench",
    "pixel-classify": "segstudio.benchmarks.pixel_classify:run_pixel_classify_bench",
    "gui": "segstudio.benchmarks.gui:run_gui_bench",
    "worker": "segstudio.benchmarks.worker:run_worker_bench",
    "models": "segstudio.benchmarks.models:run_models_bench",
    "io": "segstudio.benchmarks.io:run_io_bench",
    "store": "segstudio.benchmarks.store:run_store_bench",
    "prelabel": "segstudio.benchmarks.prelabel:run_prelabel_bench",
    "sam": "segstudio.benchmarks.sam:run_sam_bench",
}
"""Benchmark name -> ``module:function``; the function takes ``repeats`` and returns a JSON-ready dict.
Modules are imported only when their benchmark runs (some pull in Qt or torch)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a speed benchmark and print its medians")
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=None, help="timed repetitions per measurement")
    sizes = parser.add_argument_group("io only")
    sizes.add_argument("--images", type=int, help="images imported, exported and evaluated (500)")
    sizes.add_argument(
        "--memory-images", type=int, help="images of the second import, for peak memory (5000)"
    )
    sizes.add_argument("--jobs", type=int, help="worker processes (default: the cores)")
    parser.set_defaults(func=run)


IO_OPTIONS = ("images", "memory_images", "jobs")
DEFAULT_REPEATS = {"io": 1, "sam": 5}
"""``--repeats`` when not given: 15, except where one run takes minutes."""


def run(args: argparse.Namespace) -> int:
    repeats = DEFAULT_REPEATS.get(args.name, 15) if args.repeats is None else args.repeats
    if repeats < 1:
        raise CommandError("--repeats must be at least 1")
    options = {name: getattr(args, name) for name in IO_OPTIONS if getattr(args, name) is not None}
    if options and args.name != "io":
        raise CommandError(f"--{next(iter(options)).replace('_', '-')} applies to bench io only")
    if any(value < 1 for value in options.values()):
        raise CommandError("--images, --memory-images and --jobs must be at least 1")
    module_name, function_name = BENCHMARKS[args.name].split(":")
    benchmark = getattr(importlib.import_module(module_name), function_name)
    result = benchmark(repeats=repeats, **options)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}  {value}")
    return 0
