"""``segstudio bench NAME [--json]``: speed benchmarks printing medians (JSON with --json)."""

from __future__ import annotations

import argparse
import json

from segstudio.cli import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a speed benchmark and print its medians")
    parser.add_argument("name", choices=["core"], help="which benchmark")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=15, help="timed repetitions per measurement")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        raise CommandError("--repeats must be at least 1")
    from segstudio.benchmarks.core import run_core_bench

    result = run_core_bench(repeats=args.repeats)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}  {value}")
    return 0
