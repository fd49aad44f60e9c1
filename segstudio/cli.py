"""The ``segstudio`` command: argparse subcommands (the GUI is the default)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import segstudio
from segstudio.io.project import ProjectError
from segstudio.io.safe_files import printable

COMMAND_MODULES: tuple[str, ...] = (
    "segstudio.commands.gui",
    "segstudio.commands.bench",
    "segstudio.commands.eval",
    "segstudio.commands.dataset",
    "segstudio.commands.pixel_classify",
    "segstudio.commands.depth",
    "segstudio.commands.models",
    "segstudio.commands.predict",
    "segstudio.commands.segment",
    "segstudio.commands.prelabel",
    "segstudio.commands.train",
    "segstudio.commands.project",
)
"""Modules under ``segstudio.commands`` that each register one subcommand."""
GUI_COMMAND = "segstudio.commands.gui"


class CommandError(Exception):
    """A command failed on bad input; the message is the one-line reason printed to stderr."""


def build_parser(commands: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The parser of ``commands`` (module names; all of them by default)."""
    parser = argparse.ArgumentParser(
        prog="segstudio",
        description="A desktop studio for segmentation labels. Without a command, opens the app.",
    )
    if commands == COMMAND_MODULES:  # the installed metadata is read only where it is shown
        parser.add_argument("--version", action="version", version=f"segstudio {segstudio.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands:
        importlib.import_module(name).register(subparsers)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """``argv`` parsed; no command (or only options) means ``gui``, whose start parses with the gui
    command alone (importing every command module cost start-up ~0.2-0.4 s)."""
    argv = list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["gui", *argv]
    return build_parser((GUI_COMMAND,) if argv[0] == "gui" else COMMAND_MODULES).parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (non-zero with a one-line reason on bad input)."""
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as error:
        print(f"segstudio {args.command}: error: {printable(error)}", file=sys.stderr)
        return 2
    except (OSError, ValueError, ProjectError) as error:  # control characters escaped: one line
        print(f"segstudio {args.command}: error: {printable(error)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"segstudio {args.command}: error: out of memory", file=sys.stderr)
        return 1


def gui_main() -> int:
    """Entry point of the ``segstudio-gui`` launcher (desktop file)."""
    return main(["gui", *sys.argv[1:]])
