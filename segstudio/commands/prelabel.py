"""``segstudio prelabel``: pre-label a whole project with a model, here or on a Ray cluster.

Thin: ``models.prelabel`` resolves the model and labels batches, ``models.prelabel_run`` drives
the run and records it in the project, ``cluster.prelabel`` spreads the batches over Ray actors
(imported only for ``--cluster`` other than ``local``, so the command line starts without Ray).
Progress (images/s, ETA) goes to stderr, the summary to stdout (JSON with ``--json``). Ctrl+C
stops cleanly: what finished is recorded, a rerun does the rest. Exit status: 0 done, 1 some
images failed (named), 130 stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from segstudio.cli import CommandError
from segstudio.commands.cluster_option import LOCAL, add_cluster_argument, ray_session
from segstudio.commands.predict import require_models
from segstudio.commands.progress import progress_line, rate_text
from segstudio.io.project import Project

REDRAW_S = 0.5
"""The progress line is redrawn at most this often (a million images are not a million lines)."""
STOPPED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prelabel``."""
    parser = subparsers.add_parser(
        "prelabel",
        help="pre-label a whole project with a model (in-process or on a Ray cluster)",
        description="Run a model over a project's images and save each prediction beside its labels "
        "(labels a person saved are never touched; unlabelled images become pre-labelled). A rerun "
        "skips images this model and weights already did. The project folder must be reachable at "
        "the same path from every cluster worker.",
    )
    parser.add_argument("project", type=Path, metavar="PROJECT", help="project folder")
    parser.add_argument("--model", required=True, help="registered model name, or a checkpoint file")
    parser.add_argument("--weights", type=Path, help="weights file (default: the hub cache)")
    parser.add_argument(
        "--only",
        choices=("unlabelled", "all"),
        default="unlabelled",
        help="unlabelled: images no person has labelled yet (default); all: every image",
    )
    add_cluster_argument(parser, "the model runs")
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward pass (4)")
    parser.add_argument("--actors", type=int, help="Ray actors, one model each (default: fill the cluster)")
    parser.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs per Ray actor (0: CPU)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise CommandError("--batch-size must be at least 1")
    if args.actors is not None and args.actors < 1:
        raise CommandError("--actors must be at least 1")
    if args.gpus_per_actor < 0:
        raise CommandError("--gpus-per-actor must not be negative")
    if args.cluster == LOCAL and (args.actors is not None or args.gpus_per_actor):
        raise CommandError("--actors and --gpus-per-actor need a Ray cluster (--cluster auto or ADDRESS)")
    if args.weights is not None and not args.weights.is_file():
        raise CommandError(f"{args.weights}: weights file not found")


class _Progress:
    """The progress line on stderr: images done, images/s and ETA, redrawn at most every 0.5 s."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.shown = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.shown < REDRAW_S:
            return
        self.shown = now
        progress_line(done, total, rate_text(done, total, now - self.start), sys.stderr)


def _summary_text(summary: dict) -> str:
    lines = [
        f"model      {summary['model']} ({summary['weights'][:19]}…)",
        f"images     {summary['labelled']} pre-labelled, {summary['skipped']} already done by this "
        f"model, {len(summary['failed'])} failed, {summary['remaining']} left",
        f"speed      {summary['images_per_s']:.2f} images/s over {summary['seconds']:.1f} s",
    ]
    lines += [f"failed     {f['image']}: {f['error']}" for f in summary["failed"][:10]]
    if summary["stopped"]:
        lines.append("stopped    what finished is saved; run the same command again to do the rest")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> dict:
    from segstudio.models.prelabel import make_plan
    from segstudio.models.prelabel_run import run_prelabel

    with Project.open(args.project) as project:
        plan = make_plan(project.root, args.model, args.weights, project.palette, args.batch_size)
        if args.cluster == LOCAL:
            summary = run_prelabel(project, plan, args.only, progress=_Progress())
            return summary.to_json()
        from segstudio.cluster.prelabel import cluster_executor
        from segstudio.cluster.session import ClusterError

        with ray_session(args.cluster) as ray:
            try:
                execute = cluster_executor(ray, args.actors, args.gpus_per_actor)
                summary = run_prelabel(project, plan, args.only, execute, progress=_Progress())
            except ClusterError as error:
                raise CommandError(str(error)) from error
        return {**summary.to_json(), "cluster": args.cluster}


def run(args: argparse.Namespace) -> int:
    _check(args)
    if args.cluster != LOCAL:  # before loading the model: say at once when Ray is missing
        from segstudio.cluster.session import ClusterError, import_ray

        try:
            import_ray()
        except ClusterError as error:
            raise CommandError(str(error)) from error
    require_models()
    try:
        summary = _run(args)
    except KeyboardInterrupt:
        print("segstudio prelabel: stopped (what finished is saved; run it again)", file=sys.stderr)
        return STOPPED
    print(json.dumps(summary, indent=2) if args.json else _summary_text(summary))
    if summary["stopped"]:
        return STOPPED
    return 1 if summary["failed"] else 0
