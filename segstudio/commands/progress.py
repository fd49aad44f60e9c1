"""A plain-text progress bar for the commands (stderr), with no dependency."""

from __future__ import annotations

from typing import TextIO


def progress_line(done: int, total: int, label: str, stream: TextIO, width: int = 24) -> None:
    """A plain-text progress bar: redrawn in place on a terminal, one line per step otherwise."""
    filled = width * done // max(1, total)
    text = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}"
    if stream.isatty():
        stream.write("\r" + text[:100].ljust(100) + ("\n" if done >= total else ""))
    else:
        stream.write(text + "\n")
    stream.flush()
