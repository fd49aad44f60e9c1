"""Compressed ``.npz`` files of plain arrays, the storage of trained forests and depth models.

Saves go through a temporary file in the same folder, fsync and rename, so a crash leaves the old
file or the new one; loads never unpickle and turn any unreadable file into one error naming it.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to one compressed ``.npz`` at ``path``, atomically and durably."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_npz(path: str | os.PathLike[str], error: type[Exception], description: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``; an unreadable file raises ``error`` naming it.

    A missing file stays ``FileNotFoundError`` so callers can tell "absent" from "broken".
    """
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise error(f"{path}: not a readable {description} ({exc})") from exc
