"""SAM image embeddings kept on disk, so an image embedded yesterday costs nothing today.

Optional (the app's Models > Click-to-segment model > "Keep embeddings on disk"): one file per
embedding, named by a digest of its key (the image's pixel digest and the weights' digest, see
``SamPredictor.key``), written atomically, the least recently used files removed past a size
bound. A file that cannot be read back, or holds another key, is ignored with a note and removed:
the image is embedded again. A 1024-px SAM 2.1 embedding is about 16 MB.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from segstudio.io.atomic import atomic_write_bytes

DEFAULT_MAX_BYTES = 1 << 30
"""About 60 embeddings of 1024-px images."""
FORMAT = 1
SUFFIX = ".sam.pt"

NoteCallback = Callable[[str], None]


class EmbeddingStore:
    """A folder of embeddings bounded to ``max_bytes``; ``note`` hears about files it had to drop."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        max_bytes: int = DEFAULT_MAX_BYTES,
        note: NoteCallback = lambda text: None,
    ) -> None:
        self.folder = Path(folder)
        self.max_bytes = max(0, int(max_bytes))
        self.note = note

    def path(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}{SUFFIX}"

    def load(
        self, key: str, device: torch.device | str = "cpu"
    ) -> tuple[dict[str, Any], tuple[int, int]] | None:
        """The features and original (height, width) stored under ``key``; None when absent or unusable."""
        path = self.path(key)
        try:
            stored = torch.load(path, map_location=device, weights_only=True)
        except FileNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001 (any unreadable file: embed again)
            self._drop(path, f"unreadable ({type(error).__name__}: {error})")
            return None
        problem = _problem(stored, key)
        if problem is not None:
            self._drop(path, problem)
            return None
        _touch(path)  # recently used: kept longest
        features = {"image_embed": stored["image_embed"], "high_res_feats": list(stored["high_res_feats"])}
        return features, (int(stored["orig_hw"][0]), int(stored["orig_hw"][1]))

    def save(self, key: str, features: dict[str, Any], orig_hw: tuple[int, int]) -> None:
        """Store an embedding (atomically: a file is whole or absent), then keep within the bound."""
        record = {
            "format": FORMAT,
            "key": key,
            "orig_hw": [int(orig_hw[0]), int(orig_hw[1])],
            "image_embed": features["image_embed"].detach().cpu(),
            "high_res_feats": [t.detach().cpu() for t in features["high_res_feats"]],
        }
        buffer = io.BytesIO()
        torch.save(record, buffer)
        if buffer.tell() > self.max_bytes:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        atomic_write_bytes(path, buffer.getvalue(), durable=False)
        _touch(path)
        self._prune(keep=path)

    def _prune(self, keep: Path) -> None:
        """Remove the least recently used files until the folder holds at most ``max_bytes``;
        ``keep`` (the file just written) goes last."""
        files = []
        for path in self.folder.glob(f"*{SUFFIX}"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            files.append((path == keep, stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, _, size, _ in files)
        for _, _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size

    def _drop(self, path: Path, why: str) -> None:
        self.note(f"SAM embedding cache: ignored {path.name}: {why}; the image is embedded again")
        path.unlink(missing_ok=True)


def _touch(path: Path) -> None:
    """Mark ``path`` used now, to the nanosecond: the file system's own write times tick every few
    milliseconds, so two files written or used close together would tie and drop in name order."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _problem(stored: object, key: str) -> str | None:
    """Why a loaded record is not the embedding of ``key`` (None when it is)."""
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        return "not an embedding file of this version"
    if stored.get("key") != key:
        return "it holds another image's embedding"
    embed, high_res, orig_hw = stored.get("image_embed"), stored.get("high_res_feats"), stored.get("orig_hw")
    if not isinstance(embed, torch.Tensor) or embed.ndim != 4:
        return "no image embedding in it"
    if not isinstance(high_res, list | tuple) or not all(isinstance(t, torch.Tensor) for t in high_res):
        return "no high-resolution features in it"
    if not isinstance(orig_hw, list | tuple) or len(orig_hw) != 2:
        return "no image size in it"
    return None
