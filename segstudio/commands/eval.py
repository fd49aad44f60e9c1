"""``segstudio eval panoptic|semantic``: score predictions against ground truth from the shell.

Panoptic numbers are the COCO panoptic API's (PQ/SQ/RQ); semantic ones are per-class IoU, mIoU
and pixel accuracy over two folders of label PNGs. ``--json`` prints machine-readable results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from segstudio.cli import CommandError
from segstudio.commands.cluster_option import add_cluster_argument, ordered_pool
from segstudio.commands.jobs import add_jobs_argument, jobs_of
from segstudio.core.palette import Palette
from segstudio.io.safe_files import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` with its two kinds, ``panoptic`` and ``semantic``."""
    parser = subparsers.add_parser(
        "eval",
        help="score predictions against ground truth",
        description="Score predictions against ground truth: panoptic (PQ/SQ/RQ, COCO protocol) "
        "or semantic (per-class IoU, mIoU, pixel accuracy).",
    )
    kinds = parser.add_subparsers(dest="eval_kind", metavar="KIND", required=True)

    panoptic = kinds.add_parser("panoptic", help="PQ/SQ/RQ of COCO panoptic files (COCO protocol)")
    panoptic.add_argument("--gt-json", required=True, help="ground-truth COCO panoptic JSON")
    panoptic.add_argument("--pred-json", required=True, help="predicted COCO panoptic JSON")
    panoptic.add_argument("--gt-dir", help="ground-truth PNG folder (default: GT JSON path without .json)")
    panoptic.add_argument("--pred-dir", help="predicted PNG folder (default: pred JSON path without .json)")
    panoptic.add_argument("--json", action="store_true", help="print results as JSON")
    add_jobs_argument(panoptic)
    add_cluster_argument(panoptic, "images are scored")
    panoptic.set_defaults(func=run_panoptic)

    semantic = kinds.add_parser("semantic", help="per-class IoU and mIoU of two folders of label PNGs")
    semantic.add_argument("--gt", required=True, help="folder of ground-truth label PNGs")
    semantic.add_argument("--pred", required=True, help="folder of predicted label PNGs (same file stems)")
    semantic.add_argument("--palette", required=True, help="built-in palette name or palette JSON file")
    semantic.add_argument("--ignore", type=int, default=255, help="ground-truth value not scored (255)")
    semantic.add_argument("--json", action="store_true", help="print results as JSON")
    add_jobs_argument(semantic)
    semantic.set_defaults(func=run_semantic)

    project = kinds.add_parser(
        "project", help="IoU and PQ of a project's predictions against its corrected labels"
    )
    project.add_argument("project", help="the project folder")
    project.add_argument("--json", action="store_true", help="print results as JSON")
    add_jobs_argument(project)
    add_cluster_argument(project, "images are scored")
    project.set_defaults(func=run_project)


def run_panoptic(args: argparse.Namespace) -> int:
    from segstudio.io.coco_panoptic import evaluate_panoptic_files

    warnings: list[str] = []
    # absolute paths: cluster workers may start in another folder
    files = [Path(f).resolve() for f in (args.gt_json, args.pred_json)]
    folders = [None if f is None else Path(f).resolve() for f in (args.gt_dir, args.pred_dir)]
    try:
        with ordered_pool(args) as (pool, jobs):
            results = evaluate_panoptic_files(*files, *folders, warnings, jobs=jobs, pool=pool)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from error
    for warning in warnings:
        print(f"warning: {printable(warning)}", file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else panoptic_table(results))
    return 0


def run_semantic(args: argparse.Namespace) -> int:
    from segstudio.io.palette_file import resolve_palette
    from segstudio.io.semantic_eval import evaluate_semantic_dirs

    try:
        palette = resolve_palette(args.palette)
        results = evaluate_semantic_dirs(args.gt, args.pred, palette, ignore=args.ignore, jobs=jobs_of(args))
    except (OSError, ValueError) as error:  # PaletteError is a ValueError
        raise CommandError(str(error)) from error
    print(json.dumps(results, indent=2) if args.json else semantic_table(results, palette))
    return 0


def run_project(args: argparse.Namespace) -> int:
    from segstudio.io.project import Project, ProjectError
    from segstudio.io.project_eval import evaluate_project

    try:
        palette = Project.open(Path(args.project)).palette
        with ordered_pool(args) as (pool, jobs):
            score = evaluate_project(Path(args.project), jobs=jobs, pool=pool)
    except (OSError, ValueError, ProjectError) as error:
        raise CommandError(str(error)) from error
    names = {c.id: c.name for c in palette}
    results = score.to_json(names)
    print(json.dumps(results, indent=2) if args.json else project_table(results))
    return 0


def project_table(results: dict[str, Any]) -> str:
    """One row per scored image (worst mIoU first), then the project's totals, in percent."""

    def percent(value: float | None) -> str:
        return "  n/a" if value is None else f"{100 * value:5.1f}"

    header = f"{'image':28s}| {'mIoU':>5s}  {'PQ':>5s}  {'SQ':>5s}  {'RQ':>5s}"
    lines = [header, "-" * len(header)]
    rows = sorted(results["images"], key=lambda r: -1.0 if r["miou"] is None else r["miou"])
    for row in rows:
        lines.append(f"{row['image'][:28]:28s}| {percent(row['miou'])}  {_pq_cells(row)}")
    lines += [
        "-" * len(header),
        f"{'project':28s}| {percent(results['miou'])}  {_pq_cells(results)}",
        f"{results['images_scored']} images scored, {results['images_unscored']} not "
        "(scored: edited or reviewed, with a prediction)",
    ]
    return "\n".join(lines)


def _pq_cells(r: dict[str, Any]) -> str:
    return f"{100 * r['pq']:5.1f}  {100 * r['sq']:5.1f}  {100 * r['rq']:5.1f}"


def panoptic_table(results: dict[str, Any]) -> str:
    """The panoptic API's summary table, then one row per category that was counted."""
    lines = [f"{'':10s}| {'PQ':>5s}  {'SQ':>5s}  {'RQ':>5s} {'N':>5s}", "-" * 38]
    for name in ("All", "Things", "Stuff"):
        lines.append(f"{name:10s}| {_pq_cells(results[name])} {results[name]['n']:5d}")
    counted = {k: v for k, v in results["per_class"].items() if v["tp"] + v["fp"] + v["fn"]}
    if counted:
        header = f"{'category':24s}| {'PQ':>5s}  {'SQ':>5s}  {'RQ':>5s} {'TP':>4s} {'FP':>4s} {'FN':>4s}"
        lines += ["", header, "-" * 58]
        for category_id, r in counted.items():
            label = f"{category_id} {r.get('name', '')}"[:24]
            lines.append(f"{label:24s}| {_pq_cells(r)} {r['tp']:4d} {r['fp']:4d} {r['fn']:4d}")
    return "\n".join(lines)


def semantic_table(results: dict[str, Any], palette: Palette) -> str:
    """Per-class IoU rows (classes present only), then mIoU and pixel accuracy, in percent."""

    def percent(value: float | None) -> str:
        return "  n/a" if value is None else f"{100 * value:5.1f}"

    lines = [f"{'class':24s}| {'IoU':>5s}", "-" * 32]
    for class_id, iou in results["per_class_iou"].items():
        label = f"{class_id} {palette[int(class_id)].name}"[:24]
        lines.append(f"{label:24s}| {percent(iou)}")
    lines += [
        "-" * 32,
        f"{'mIoU':24s}| {percent(results['miou'])}",
        f"{'pixel accuracy':24s}| {percent(results['pixel_accuracy'])}",
    ]
    return "\n".join(lines)
