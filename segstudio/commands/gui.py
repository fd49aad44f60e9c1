"""``segstudio gui [PATH]``: open the app (the default command)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the app (default)")
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="a project folder, a folder of images or an image (default: the built-in sample project)",
    )
    parser.add_argument("--screenshot", type=Path, metavar="FILE", help="render the window to FILE and exit")
    parser.add_argument("--quit-after", type=int, metavar="MS", help="close the window after MS milliseconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from segstudio.app import run as run_app  # Qt is imported only when the GUI is asked for

    return run_app(args.path, args.screenshot, args.quit_after)
