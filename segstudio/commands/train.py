"""``segstudio train``: fine-tune a model on a project's corrected labels, from the shell.

Thin: ``segstudio.models.train`` does the work. Progress (epoch, loss, running mIoU) goes to
stderr; the summary (held-out mIoU, checkpoint, registered name) to stdout, as JSON with
``--json``. The checkpoint can then be used with ``segstudio predict --model FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from segstudio.cli import CommandError
from segstudio.commands.predict import require_models
from segstudio.commands.progress import progress_line
from segstudio.io.project import Project


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``."""
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a model on a project's corrected labels",
        description="Fine-tune a registered architecture on a project's saved labels, hold out a "
        "fraction of the images to report mIoU, and save a checkpoint for segstudio predict.",
    )
    parser.add_argument("project", type=Path, metavar="PROJECT", help="project folder")
    parser.add_argument("--model", required=True, help="architecture to fine-tune (a registered name)")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint file to write (.pt)")
    parser.add_argument("--name", help="name to register the result under (default: the file's stem)")
    parser.add_argument("--weights", type=Path, help="initial weights (default: published ones if present)")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training images (30)")
    parser.add_argument("--time-limit", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="images held out (0.2)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per step (4)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak AdamW rate (1e-3)")
    parser.add_argument(
        "--augment", default="hflip", help="comma-separated: hflip, vflip, rot90, colour (hflip)"
    )
    parser.add_argument("--seed", type=int, default=0, help="split, order and initialisation seed (0)")
    parser.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the best available)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run)


def summary(result: dict[str, Any]) -> str:
    """The run in a few lines: where the checkpoint is, how it scores on held-out images."""
    miou = "n/a (no held-out images)" if result["val_miou"] is None else f"{100 * result['val_miou']:.1f}"
    return "\n".join(
        [
            f"model      {result['model']} (fine-tuned {result['base']})",
            f"checkpoint {result['checkpoint']}",
            f"images     {result['train_images']} trained, {result['val_images']} held out",
            f"epochs     {result['epochs']} in {result['seconds']:.1f} s (stopped by {result['stopped_by']})",
            f"mIoU       {miou}",
        ]
    )


def run(args: argparse.Namespace) -> int:
    require_models()
    import torch

    from segstudio.models.train import TrainConfig, TrainProgress, train

    try:
        config = TrainConfig(
            epochs=args.epochs,
            time_limit=args.time_limit,
            val_fraction=args.val_fraction,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            augment=tuple(a.strip() for a in args.augment.split(",") if a.strip()),
            seed=args.seed,
        )
    except ValueError as error:
        raise CommandError(str(error)) from error
    project = Project.open(args.project)
    torch.set_num_threads(os.cpu_count() or 1)  # no GUI to leave a core for

    def report(progress: TrainProgress) -> None:
        if progress.step % max(1, progress.steps // progress.epochs) == 0 or progress.step == progress.steps:
            label = f"epoch {progress.epoch}  loss {progress.loss:.3f}  mIoU {progress.miou:.3f}"
            progress_line(progress.step, progress.steps, f"{label}  {progress.elapsed:.0f} s", sys.stderr)

    result = train(
        project,
        args.model,
        args.out,
        config,
        name=args.name,
        weights=args.weights,
        device=args.device,
        progress=report,
    ).to_json()
    print(json.dumps(result, indent=2) if args.json else summary(result))
    return 0
