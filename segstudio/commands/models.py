"""``segstudio models``: list every registered model, its task, classes and weights.

``--json`` prints one object per model: ``name``, ``task``, ``classes``, ``palette``,
``weights`` (``url``, ``sha256``, ``file_name``), ``weights_present`` (true when the model
needs no weights or its file is on this computer), ``output``, ``base`` and ``description``.
``--download NAME...`` fetches published weights ahead of time (the app's Download weights).
torch is imported only when the command runs, so the other commands start without it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from segstudio.cli import CommandError
from segstudio.extras import models_missing


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``models``."""
    parser = subparsers.add_parser(
        "models",
        help="list the segmentation models and whether their weights are here",
        description="List every registered model: task, classes, weight sources and whether the "
        "weights are on this computer (torch hub cache or a registered checkpoint).",
    )
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.add_argument(
        "--download",
        nargs="+",
        metavar="NAME",
        help="fetch these models' published weights into the torch hub cache (resumable, checked)",
    )
    parser.set_defaults(func=run)


def model_rows() -> list[dict[str, Any]]:
    """Every registered model as a JSON-ready dict (see the module notes)."""
    try:
        from segstudio.models import registry
    except ImportError as error:
        raise CommandError(models_missing(error)) from error
    rows = []
    for spec in registry.list_specs():
        row = spec.to_dict()
        row["weights_present"] = registry.weights_here(spec)
        rows.append(row)
    return rows


def models_table(rows: list[dict[str, Any]]) -> str:
    """One line per model: name, task, class count, weights here or not, description."""
    lines = [f"{'model':30s} {'task':10s} {'classes':>7s}  {'weights':8s} description", "-" * 100]
    for row in rows:
        state = "none" if not row["weights"] else ("present" if row["weights_present"] else "missing")
        lines.append(
            f"{row['name']:30s} {row['task']:10s} {len(row['classes']):7d}  {state:8s} {row['description']}"
        )
    return "\n".join(lines)


def download(names: list[str]) -> int:
    """Fetch each model's published weights with a progress bar; errors name the file or address."""
    import sys

    from segstudio.commands.progress import progress_line
    from segstudio.models import registry
    from segstudio.models.weights import WeightsError, resolve_weights

    for name in names:
        try:
            spec = registry.get_spec(name)
            if not spec.weights:
                raise CommandError(f"model {name!r} has no published weights to download")

            shown = [-1]

            def report(done: int, total: int | None, name: str = name, shown: list[int] = shown) -> None:
                mib = 1 << 20
                if done // mib != shown[0]:  # a line per MiB, however the bytes arrive
                    shown[0] = done // mib
                    progress_line(done // mib, max(1, (total or done) // mib), f"{name} (MiB)", sys.stderr)

            path = resolve_weights(spec, download=True, progress=report)
        except (WeightsError, registry.UnknownModelError) as error:
            raise CommandError(str(error)) from error
        print(f"{name}: {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.download:
        return download(args.download)
    rows = model_rows()
    print(json.dumps(rows, indent=2) if args.json else models_table(rows))
    return 0
