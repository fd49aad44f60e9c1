"""Guards every reader applies before touching a file named by a user or by a dataset.

* Only regular files are read: a FIFO named ``x.png`` would block ``open`` forever, a folder or a
  dangling symlink in place of a mask must be an error naming it, not an image silently dropped.
* Names a dataset gives (``file_name``, ``imagePath``) stay inside the folder they are looked up
  in: ``../`` and absolute paths elsewhere are refused unless the user allows absolute paths.
* Sizes read from headers and dataset fields are checked against a pixel limit before anything
  of that size is allocated (``SEGSTUDIO_MAX_PIXELS``, default 400 MP), so a 1 MB PNG declaring
  100000x100000 pixels is refused instead of eating the machine's memory.
* Names printed in messages have their control characters escaped, so a file called
  ``a\\nb.png`` cannot forge a second line of output.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

PIXEL_LIMIT_VARIABLE = "SEGSTUDIO_MAX_PIXELS"
DEFAULT_PIXEL_LIMIT = 400_000_000
"""Largest image (width x height) read as labels or opened as a photo, unless configured."""


def pixel_limit() -> int:
    """The pixel limit in force: ``$SEGSTUDIO_MAX_PIXELS`` when set to a positive integer."""
    text = os.environ.get(PIXEL_LIMIT_VARIABLE, "")
    try:
        value = int(text)
    except ValueError:
        return DEFAULT_PIXEL_LIMIT
    return value if value > 0 else DEFAULT_PIXEL_LIMIT


def pixel_limit_problem(height: int, width: int) -> str | None:
    """Why an image of ``height`` x ``width`` may not be allocated, or None when it may."""
    limit = pixel_limit()
    if height * width <= limit:
        return None
    return (
        f"{width}x{height} pixels ({height * width / 1e6:.0f} MP) is over the pixel limit of "
        f"{limit / 1e6:g} MP (set {PIXEL_LIMIT_VARIABLE} to raise it)"
    )


def check_pixels(height: int, width: int, where: object, error_type: type[Exception]) -> None:
    """Raise ``error_type`` starting with ``where`` when the size is over the pixel limit."""
    problem = pixel_limit_problem(height, width)
    if problem is not None:
        raise error_type(f"{where}: {problem}")


def regular_file_problem(path: Path) -> str | None:
    """Why ``path`` is not a regular file that can be read (following symlinks), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "dangling symlink (its target does not exist)" if os.path.islink(path) else "file not found"
    except NotADirectoryError:
        return "file not found"
    except OSError as error:
        return f"cannot read ({error.strerror or error})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, socket or device is never read)"
    return None


def check_regular_file(path: Path, error_type: type[Exception]) -> None:
    """Raise ``error_type`` naming ``path`` unless it is a regular file (see the module docstring)."""
    problem = regular_file_problem(path)
    if problem is not None:
        raise error_type(f"{path}: {problem}")


def contained_path(
    root: Path, name: str, where: object, error_type: type[Exception], allow_absolute: bool = False
) -> Path:
    """``root / name`` for a file name a dataset gives, refused when it leaves ``root``.

    Backslashes count as separators (Windows-made datasets). ``..`` may not climb out of
    ``root`` (compared lexically: symlinks inside ``root`` are the user's own choice); an
    absolute ``name`` is accepted when it lies in ``root``, elsewhere only with
    ``allow_absolute``.
    """
    text = str(name).replace("\\", "/")
    base = os.path.normpath(os.path.abspath(root))  # strings, not pathlib: called per image
    inside = base.rstrip(os.sep) + os.sep
    if text.startswith("/"):
        target = os.path.normpath(text)
        if allow_absolute or target == base or target.startswith(inside):
            return Path(target)
        raise error_type(
            f"{where}: file name {printable(name)!r} is an absolute path outside {base} "
            "(allow absolute paths to import it)"
        )
    target = os.path.normpath(os.path.join(base, text))
    if not text or (target != base and not target.startswith(inside)):
        raise error_type(f"{where}: file name {printable(name)!r} leads outside {base}")
    return Path(target)


def printable(text: object) -> str:
    """``text`` with control characters (newlines, escape sequences, ...) written as escapes."""
    value = str(text)
    if value.isprintable():
        return value
    escaped = (c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in value)
    return "".join(escaped)


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hide what C libraries print to file descriptor 2 in the block (libpng's "libpng error:
    IDAT: CRC error", libjpeg's "Premature end of JPEG file"): the decoder's failure is reported
    once, by the caller, naming the file. Other threads' stderr output is lost for the block's
    duration (a decode call), which is why it wraps only native decoders."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2 (some GUI launchers)
        yield
        return
    with _STDERR_LOCK:
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def coordinates_problem(xy: Sequence[float], size: tuple[int, int]) -> str | None:
    """Why flat ``[x1, y1, x2, y2, ...]`` coordinates are unusable on a ``size`` image, or None.

    A shape may overhang its image (drawing clips it) but not by more than the image's own size:
    rasterisers work in 32-bit integers and in time proportional to the outline's length, so
    ``1e12`` overflows to a 1-pixel shape and ``1e8`` crashes pycocotools.
    """
    height, width = size
    xs, ys = xy[0::2], xy[1::2]
    for axis, values, extent in (("x", xs, width), ("y", ys, height)):
        if values and (min(values) < -extent or max(values) > 2 * extent):
            bad = min(values) if min(values) < -extent else max(values)
            return f"{axis} coordinate {bad:g} lies far outside the {width}x{height} image"
    return None
