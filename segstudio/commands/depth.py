"""``segstudio depth train|refit|eval|bench|record``: the Kinect-style body-part forest from the shell.

``train`` renders synthetic frames and writes a model file; ``refit`` re-estimates a model's leaf
distributions from more labelled frames (``depth.refit``); ``eval`` scores a model (the bundled one
by default) on held-out frames and prints ``mean_class_accuracy`` and ``joint_map``; ``bench``
prints the frames per second of features + forest + joints; ``record`` saves a depth source
(``synthetic[:SEED]``, a folder, ``realsense``, ``kinect``, ``openni``) as a folder of 16-bit PNGs.
Progress goes to stderr, results to stdout (one JSON object with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from segstudio.cli import CommandError

if TYPE_CHECKING:
    from segstudio.depth.model import BodyPartModel
    from segstudio.depth.training import TrainingParams


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``depth`` with its five actions."""
    from segstudio.depth.evaluation import EVAL_FIRST_SEED
    from segstudio.depth.training import TrainingParams

    defaults = TrainingParams()
    parser = subparsers.add_parser(
        "depth",
        help="Kinect-style body parts: train, evaluate, benchmark the forest; record depth",
        description="Body-part labelling of depth frames with a random forest (Shotton et al., CVPR 2011).",
    )
    actions = parser.add_subparsers(dest="depth_action", metavar="ACTION", required=True)

    train = actions.add_parser("train", help="train a body-part forest on synthetic frames")
    train.add_argument("--out", required=True, help="model file to write (.npz)")
    train.add_argument("--frames", type=int, default=defaults.frames, help="synthetic frames (seeds 0..N-1)")
    train.add_argument(
        "--pixels", type=int, default=defaults.pixels_per_frame, help="pixels sampled per frame"
    )
    train.add_argument("--features", type=int, default=defaults.features, help="offset pairs in the bank")
    train.add_argument(
        "--candidates", type=int, default=defaults.candidate_features, help="offset pairs tried per node"
    )
    train.add_argument(
        "--search-samples",
        type=int,
        default=defaults.search_samples,
        help="most pixels of a node its split search reads (spread over its images; default: all)",
    )
    train.add_argument(
        "--min-leaf", type=int, default=defaults.min_samples_leaf, help="fewest pixels in a leaf"
    )
    train.add_argument("--trees", type=int, default=defaults.trees, help="trees in the forest")
    train.add_argument("--depth", type=int, default=defaults.depth, help="largest tree depth")
    train.add_argument(
        "--disjoint-trees",
        action=argparse.BooleanOptionalAction,
        default=defaults.disjoint_trees,
        help="grow each tree on its own share of the frames (no bagging), one share in memory at a time",
    )
    train.add_argument(
        "--level-wise",
        action=argparse.BooleanOptionalAction,
        default=defaults.level_wise,
        help="grow trees level by level from depth crops, features computed per node, not from a dense "
        "pixels x offsets matrix (memory bounds neither --features nor --candidates; disjoint trees only)",
    )
    train.add_argument(
        "--window-frames",
        action=argparse.BooleanOptionalAction,
        default=defaults.window_frames,
        help="render each training frame only where its body pixels' probes reach (same distribution, "
        "cheaper)",
    )
    train.add_argument(
        "--seed", type=int, default=defaults.seed, help="seed of the offsets, samples and trees"
    )
    _add_refit_arguments(train, defaults, defaults.refit_frames)
    train.add_argument("--json", action="store_true", help="print the training summary as JSON")
    train.set_defaults(func=run_train)

    refit = actions.add_parser(
        "refit", help="re-estimate a forest's leaf distributions from many labelled pixels (trees kept)"
    )
    refit.add_argument("--forest", help="model file to refit (default: the bundled forest)")
    refit.add_argument("--out", required=True, help="model file to write (.npz)")
    _add_refit_arguments(refit, defaults, None)
    refit.add_argument("--json", action="store_true", help="print the summary as JSON")
    refit.set_defaults(func=run_refit)

    evaluate = actions.add_parser("eval", help="score a model on held-out synthetic frames")
    evaluate.add_argument("--forest", help="model file (default: the bundled forest)")
    evaluate.add_argument("--images", type=int, default=50, help="held-out frames to score")
    evaluate.add_argument("--seed", type=int, default=EVAL_FIRST_SEED, help="first held-out frame seed")
    evaluate.add_argument("--json", action="store_true", help="print all results as JSON")
    evaluate.set_defaults(func=run_eval)

    bench = actions.add_parser("bench", help="frames per second of features + forest + joints (640x480)")
    bench.add_argument("--forest", help="model file (default: the bundled forest)")
    bench.add_argument("--repeats", type=int, default=30, help="timed frames per stage")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(func=run_bench)

    record = actions.add_parser("record", help="save a depth source as a folder of 16-bit PNGs")
    record.add_argument(
        "source", metavar="SOURCE", help="synthetic[:SEED], a folder, realsense, kinect or openni"
    )
    record.add_argument("out", metavar="OUT", help="new folder to write")
    record.add_argument("--frames", type=int, default=300, help="frames to record")
    record.set_defaults(func=run_record)


def _add_refit_arguments(
    parser: argparse.ArgumentParser, defaults: TrainingParams, frames: int | None
) -> None:
    """The leaf refit's options (``depth.refit``), shared by ``train`` and ``refit``."""
    parser.add_argument(
        "--refit-frames",
        type=int,
        default=frames,
        help="frames (and mirrors) whose every body pixel re-estimates the leaves; 0: no refit "
        f"(default: {'as many as the training frames' if frames is None else frames})",
    )
    parser.add_argument(
        "--refit-first-frame",
        type=int,
        default=defaults.refit_first_frame,
        help="first seed of the refit frames (default: the first training frame)",
    )
    parser.add_argument(
        "--refit-pixels",
        type=int,
        default=defaults.refit_pixels,
        help="pixels counted per refit frame; 0: every body pixel",
    )
    parser.add_argument(
        "--refit-balance",
        type=float,
        default=defaults.refit_balance,
        help="with every body pixel counted, part c's pixels weigh count_c ** -B in their frame "
        "(the training sampler's expected draws); 0: every pixel weighs 1",
    )
    parser.add_argument(
        "--refit-prior",
        type=float,
        default=defaults.refit_prior,
        help="weight (in pixels) of a leaf's old distribution against its refit counts",
    )


def _refit_options(args: argparse.Namespace) -> dict[str, Any]:
    """``TrainingParams``' refit fields from ``_add_refit_arguments``' options."""
    return {
        "refit_frames": args.refit_frames,
        "refit_first_frame": args.refit_first_frame,
        "refit_pixels": args.refit_pixels,
        "refit_balance": args.refit_balance,
        "refit_prior": args.refit_prior,
    }


def _progress(label: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` printing about ten lines to stderr."""

    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"{label}: {done}/{total}", file=sys.stderr, flush=True)

    return report


def _load(path: str | None) -> BodyPartModel:
    from segstudio.depth.model import BodyPartModel, bundled_model_path

    target = path or bundled_model_path()
    try:
        return BodyPartModel.load(target)
    except FileNotFoundError as error:
        raise CommandError(f"{target}: no such model file") from error


def _print(result: dict[str, Any], as_json: bool, keys: tuple[str, ...] | None = None) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for key in keys or tuple(result):
        print(f"{key:>24}  {result[key]}")


def run_train(args: argparse.Namespace) -> int:
    from segstudio.depth.training import TrainingParams, train_body_parts

    try:
        params = TrainingParams(
            frames=args.frames,
            pixels_per_frame=args.pixels,
            features=args.features,
            candidate_features=args.candidates,
            min_samples_leaf=args.min_leaf,
            search_samples=args.search_samples,
            trees=args.trees,
            depth=args.depth,
            disjoint_trees=args.disjoint_trees,
            level_wise=args.level_wise,
            window_frames=args.window_frames,
            seed=args.seed,
            **_refit_options(args),
        )
        params.forest_params()
        params.tree_shares()
    except ValueError as error:
        raise CommandError(str(error)) from error
    model = train_body_parts(params, progress=_progress("training images"))
    model.save(args.out)
    info = model.info
    result = {
        "out": str(args.out),
        "frames": info.frames,
        "training_images": info.frames * (2 if info.mirrored else 1),
        "pixels_per_frame": info.pixels_per_frame,
        "trees": info.trees,
        "depth": model.forest.depth,
        "nodes": model.forest.n_nodes,
        "features_used": len(model.bank),
        "seconds": info.seconds,
    }
    _print(result, args.json)
    return 0


def run_refit(args: argparse.Namespace) -> int:
    from segstudio.depth.training import TrainingParams, refit_body_parts

    model = _load(args.forest)
    try:
        params = TrainingParams(
            **_refit_options(args),
            frames=max(1, model.info.frames),
            first_frame=model.info.first_frame,
            mirror=model.info.mirrored,
            seed=model.info.seed,
        )
    except ValueError as error:
        raise CommandError(str(error)) from error
    if params.refit_frames == 0:
        raise CommandError("--refit-frames must be at least 1")
    start = time.perf_counter()
    refit = refit_body_parts(model, params, progress=_progress("refit images"))
    refit.save(args.out)
    result = {
        "out": str(args.out),
        "refit_images": len(params.refit_seeds()) * (2 if params.mirror else 1),
        "refit_seeds": [params.refit_seeds().start, params.refit_seeds().stop - 1],
        "nodes": refit.forest.n_nodes,
        "seconds": round(time.perf_counter() - start, 1),
    }
    _print(result, args.json)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from segstudio.depth.evaluation import evaluate_model

    model = _load(args.forest)
    start = time.perf_counter()
    result = evaluate_model(model, args.images, args.seed, progress=_progress("images"))
    result["seconds"] = round(time.perf_counter() - start, 1)
    keys = ("images", "mean_class_accuracy", "raw_mean_class_accuracy", "joint_map", "seconds")
    _print(result, args.json, keys)
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from segstudio.benchmarks.depth import run_depth_bench

    if args.repeats < 1:
        raise CommandError("--repeats must be at least 1")
    _print(run_depth_bench(args.repeats, _load(args.forest)), args.json)
    return 0


def run_record(args: argparse.Namespace) -> int:
    from segstudio.depth.sources import record, source_from_spec

    if args.frames < 1:
        raise CommandError("--frames must be at least 1")
    written = record(source_from_spec(args.source), args.out, args.frames)
    print(f"recorded {written} frames into {args.out}")
    return 0
