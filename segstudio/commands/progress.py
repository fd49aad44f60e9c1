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


def rate_text(done: int, total: int, seconds: float, unit: str = "images") -> str:
    """``12.5 images/s, ETA 0:01:05`` (ETA at the rate so far; ``--:--`` before the first)."""
    rate = done / seconds if seconds > 0 else 0.0
    if rate <= 0:
        return f"0.0 {unit}/s, ETA --:--"
    left = round((total - done) / rate)
    return f"{rate:.1f} {unit}/s, ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}"
