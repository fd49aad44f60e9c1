"""``--cluster local|auto|ADDRESS``: where a dataset command runs (Ray only when not ``local``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from types import ModuleType

from segstudio.cli import CommandError
from segstudio.commands.jobs import jobs_of
from segstudio.io.parallel import OrderedPool, PoolFactory

LOCAL = "local"


def add_cluster_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--cluster`` to a subcommand; ``what`` says what runs on the cluster."""
    parser.add_argument(
        "--cluster",
        default=LOCAL,
        metavar="local|auto|ADDRESS",
        help=f"where {what}: local, on this machine (default); auto, the Ray cluster this machine is "
        "in; ADDRESS, a Ray cluster (host:port or ray://host:port). Ray: pip install 'segstudio[cluster]'",
    )


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[ModuleType]:
    """Ray connected to ``address`` for the block, its errors as one-line CommandErrors. Ray prints
    worker deaths and retries to stdout: stdout goes to stderr meanwhile (``--json`` stays clean)."""
    from segstudio.cluster.session import ClusterError, connected

    try:
        with contextlib.redirect_stdout(sys.stderr), connected(address) as ray:
            yield ray
    except ClusterError as error:
        raise CommandError(str(error)) from error


@contextlib.contextmanager
def ordered_pool(args: argparse.Namespace) -> Iterator[tuple[PoolFactory, int]]:
    """The pool for per-image work and its width: processes here (``--jobs``), or Ray tasks on the
    cluster (``--jobs`` chunks at once, default one per cluster CPU)."""
    if args.cluster == LOCAL:
        yield OrderedPool, jobs_of(args)
        return
    from segstudio.cluster.pool import RayOrderedPool

    with ray_session(args.cluster) as ray:
        yield RayOrderedPool, args.jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
