"""Atomic writes: a file or a folder appears complete or not at all.

Files go to a temporary sibling, are fsynced, then ``os.replace``d over the target (and the
folder entry fsynced), so a crash leaves the old or the new content, never a torn file.
Output folders are built under a temporary name and renamed into place when complete; what is
written inside one may skip its own fsync (``durable=False``: one fsync per file made a dataset
export wait on the disk twice per image), because the folder is flushed to disk as a whole
before it is renamed into place.
Temporary names carry an owner token (``leftovers.owner_token``), so what a killed writer left
is recognised and removed by the next operation on the same target.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from segstudio.io.leftovers import owner_token, remove_stale_staging


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would race with other threads.
_UMASK = _read_umask()


def _new_file_mode(target: Path) -> int:
    """Permissions the file would get from a plain ``open(target, "wb")``.

    ``mkstemp`` creates files readable by the owner only; without this, every atomically saved
    file (labels, exported datasets) would silently become private to the user who wrote it.
    """
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on this platform (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically and durably; ``durable=False`` leaves the flush to
    disk to the caller (inside an :func:`atomic_directory`, which flushes before it appears)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}{owner_token()}", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.chmod(tmp_name, _new_file_mode(target))
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    if durable:
        _fsync_dir(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(
    path: str | os.PathLike[str], data: Any, indent: int | None = 2, *, durable: bool = True
) -> None:
    atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n", durable=durable)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``path`` only if the block finishes without error.

    An existing ``path`` is refused unless ``overwrite``; then it is replaced only after the
    new content is complete. On error the temporary folder is removed and ``path`` is untouched.
    The content is flushed to disk before the rename, so files written into the folder need not
    be fsynced one by one (``atomic_write_bytes(..., durable=False)``).
    Stale staging folders a killed run left for the same ``path`` are removed first.
    """
    target = Path(path)
    remove_stale_staging(target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists (choose another output folder)")
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}{owner_token()}"
    staging = Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=target.parent))
    os.chmod(staging, 0o777 & ~_UMASK)  # mkdtemp makes it private; the result should not be
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        _flush_tree(staging)
        if target.exists():
            _swap_in(staging, target)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(target.parent)


def _flush_tree(folder: Path) -> None:
    """Everything written under ``folder`` on disk: one ``sync`` where there is one, else an
    fsync of every file and folder."""
    if hasattr(os, "sync"):
        os.sync()
        return
    for parent, _, files in os.walk(folder):  # pragma: no cover - Windows
        for name in files:
            with open(os.path.join(parent, name), "rb+") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(parent))


def _swap_in(staging: Path, target: Path) -> None:
    """Replace an existing ``target`` by ``staging``, putting the old one back if the swap fails.

    Two renames, not one: a crash between them leaves the old content in a ``.old`` sibling.
    """
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}{owner_token()}", suffix=".old", dir=target.parent))
    os.replace(target, trash / target.name)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(trash / target.name, target)
        trash.rmdir()
        raise
    shutil.rmtree(trash, ignore_errors=True)
