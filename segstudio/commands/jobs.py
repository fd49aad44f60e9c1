"""``--jobs N``: how many workers (processes, or threads where the work releases the GIL) a dataset
command uses (default: every core)."""

from __future__ import annotations

import argparse

from segstudio.io.parallel import default_jobs


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of workers, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"needs at least 1 worker, got {value}")
    return value


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--jobs`` to a subcommand; read it back with :func:`jobs_of`."""
    parser.add_argument(
        "--jobs",
        "-j",
        type=_positive,
        default=None,
        metavar="N",
        help=f"workers, one image each at a time (default: the cores, here {default_jobs()}): processes, "
        "or threads where the work releases the GIL (eval panoptic with the C extension); "
        "1 works in this process; the output is the same for every N",
    )


def jobs_of(args: argparse.Namespace) -> int:
    """The ``--jobs`` asked for, or every core."""
    return args.jobs if args.jobs is not None else default_jobs()
