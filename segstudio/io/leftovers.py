"""Leftovers of killed operations: temporary files of atomic saves, staging folders of outputs.

Every temporary name we create carries an owner token, ``<host hash>-<pid>``, so a later run can
tell "its writer is dead" (same machine, process gone: remove it now) from "someone may still be
writing" (another machine, or a live process: remove it only when far too old to be in use).
Names without a token (older versions, or not ours) are removed only when far too old.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable
from pathlib import Path

TEMP_FILE_MAX_AGE_S = 3600.0
"""No atomic file write takes an hour: an older ``.tmp`` is a leftover whoever wrote it."""
STAGING_MAX_AGE_S = 24 * 3600.0
"""A staging folder of a writer we cannot check (another machine) is kept this long."""

_OWNER = re.compile(r"\.o([0-9a-f]{8})-(\d+)-")


def _host_hash() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


_HOST = _host_hash()


def owner_token() -> str:
    """The token this process puts in its temporary names: ``.o<host hash>-<pid>-``."""
    return f".o{_HOST}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would signal the process on Windows: never probe there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def is_stale(name: str, mtime: float, max_age_s: float, now: float | None = None) -> bool:
    """Whether a temporary ``name`` (modified at ``mtime``) is a leftover that may be removed."""
    now = time.time() if now is None else now
    match = _OWNER.search(name)
    if match is not None and match.group(1) == _HOST:
        pid = int(match.group(2))
        if pid != os.getpid() and not _alive(pid):
            return True
    return now - mtime > max_age_s


def remove_stale_temp_files(folders: Iterable[Path]) -> list[Path]:
    """Remove stale ``.<name>...tmp`` files (atomic saves cut short) directly inside ``folders``."""
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:  # missing or unreadable: nothing of ours to clean
            continue
        for entry in entries:
            if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and is_stale(
                    entry.name, entry.stat(follow_symlinks=False).st_mtime, TEMP_FILE_MAX_AGE_S
                ):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove stale staging folders of ``target`` (``.<name>.*.partial``, and ``.<name>.*.old``
    once ``target`` exists again): what a killed import or export left beside its output."""
    removed = []
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix):
            continue
        if not (name.endswith(".partial") or (name.endswith(".old") and target.exists())):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False) and is_stale(
                name[len(prefix) - 1 :], entry.stat(follow_symlinks=False).st_mtime, STAGING_MAX_AGE_S
            ):
                shutil.rmtree(entry.path)
                removed.append(Path(entry.path))
    return removed
