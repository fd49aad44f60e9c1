"""Model weights: an explicit file, the torch hub cache, or a download made only when asked.

Lookup order: a file the user names, then torch hub's checkpoint cache
(``torch.hub.get_dir()/checkpoints/<file name>``), where torchvision keeps its weights too, so
weights fetched by any torch program are reused. Nothing is downloaded behind the user's back:
``resolve_weights(..., download=False)`` raises :class:`WeightsMissing` saying which file to place
where. A download streams into ``<file>.part`` (resumed with an HTTP Range request after an
interruption), is checked against the published sha256 and against the hash prefix torchvision
puts in its file names (``resnet50-0676ba61.pth``), and only then renamed into place, so a file
with the final name is always complete and verified.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

ProgressCallback = Callable[[int, int | None], None]
"""``progress(bytes_done, bytes_total)``; total is None when the server does not say. It may raise
(e.g. to cancel): the ``.part`` file is kept and the next download resumes from it."""

PART_SUFFIX = ".part"
CHUNK_BYTES = 1 << 20
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")  # torch.hub's HASH_REGEX


class WeightSourceLike(Protocol):
    """Where a model's published weights live (the registry's weight source)."""

    url: str
    sha256: str | None
    file_name: str


class SpecLike(Protocol):
    """The part of a model spec this module needs."""

    name: str
    weights: tuple[WeightSourceLike, ...]


class WeightsError(OSError):
    """Weights cannot be had as asked; the message says which file and what to do."""


class WeightsMissing(WeightsError):
    """No weights on disk and no download asked for; the message names the file to place."""


class ChecksumError(WeightsError):
    """A file's content is not the published one; nothing is left under the final name."""


def checkpoint_dir() -> Path:
    """torch hub's checkpoint folder, shared with torchvision (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _sources(spec: SpecLike) -> tuple[WeightSourceLike, ...]:
    return tuple(getattr(spec, "weights", ()) or ())


def local_path(source: WeightSourceLike) -> Path:
    """Where a source's file lives here: the file itself for a ``file://`` URL (a registered
    checkpoint), else its name in the hub cache."""
    parsed = urllib.parse.urlparse(source.url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    return checkpoint_dir() / source.file_name


def cached_weights(spec: SpecLike) -> Path | None:
    """The first of the spec's weight files found on this computer, or None."""
    for source in _sources(spec):
        path = local_path(source)
        if path.is_file():
            return path
    return None


def weights_present(spec: SpecLike) -> bool:
    """True when the spec's weights are on disk, or when the model needs none (random init)."""
    return not _sources(spec) or cached_weights(spec) is not None


def place_hint(spec: SpecLike) -> str:
    """One line telling the user which file to put where (or where to get it)."""
    sources = _sources(spec)
    if not sources:
        return f"model {spec.name!r} has no published weights; give a weights file"
    source = sources[0]
    path = local_path(source)
    return f"place {path.name} in {path.parent} (published at {source.url})"


def resolve_weights(
    spec: SpecLike,
    weights: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    progress: ProgressCallback | None = None,
) -> Path | None:
    """The weights file to load for ``spec``: ``weights`` if given, else the cache, else a download.

    Returns None for a model without published weights (nothing to load). Raises
    :class:`WeightsMissing` when the weights are absent and ``download`` is False.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsMissing(f"{path}: weights file not found")
        return path
    sources = _sources(spec)
    if not sources:
        return None
    found = cached_weights(spec)
    if found is not None:
        return found
    remote = [s for s in sources if urllib.parse.urlparse(s.url).scheme in ("http", "https")]
    if not download or not remote:
        raise WeightsMissing(f"weights for model {spec.name!r} are not on this computer: {place_hint(spec)}")
    source = remote[0]
    return download_file(source.url, local_path(source), sha256=source.sha256, progress=progress)


# -- download ------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, sha256: str | None, file_name: str) -> None:
    """Raise :class:`ChecksumError` unless ``path`` matches ``sha256`` and ``file_name``'s hash prefix."""
    expected = [h.lower() for h in (sha256,) if h]
    match = _HASH_IN_NAME.search(file_name)
    if match:
        expected.append(match.group(1))
    if not expected:
        return
    actual = file_sha256(path)
    for wanted in expected:
        if not actual.startswith(wanted):
            raise ChecksumError(
                f"{file_name}: downloaded content has sha256 {actual[:16]}..., expected {wanted[:16]}...; "
                "the file was discarded (a wrong or damaged download)"
            )


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Hosts a plain ``http`` download may come from (a local server, as the tests run)."""


def check_download(url: str, sha256: str | None, file_name: str) -> None:
    """Refuse a download that could not be trusted: plain ``http`` from another computer (anyone on
    the way could change it) or a file with no checksum to verify it against (a published sha256,
    or the hash prefix in a torchvision file name)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "https" and not (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS):
        raise WeightsError(f"{url}: weights are downloaded over https only")
    if not sha256 and not _HASH_IN_NAME.search(file_name):
        raise WeightsError(
            f"{url}: no published checksum for {file_name}; it cannot be verified, so it is not downloaded"
        )


def _content_total(response: http.client.HTTPResponse, offset: int) -> int | None:
    """Full file size from ``Content-Range`` (resumed) or ``Content-Length`` (+ ``offset``)."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].strip().isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": "segstudio"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _unreachable(url: str, dest: Path, reason: object) -> WeightsError:
    return WeightsError(
        f"cannot download {url} ({reason}); without a network, place {dest.name} in {dest.parent}"
    )


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part``: resumable, verified, renamed when complete.

    An interrupted download keeps its ``.part`` and resumes from it next time (a server that
    ignores Range just restarts it). A checksum mismatch deletes the ``.part`` and raises.
    """
    dest = Path(dest)
    check_download(url, sha256, dest.name)
    part = dest.with_name(dest.name + PART_SUFFIX)
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the .part already holds the whole file (or more)
            return _finish(part, dest, sha256)
        raise _unreachable(url, dest, f"HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _unreachable(url, dest, getattr(error, "reason", error)) from error
    with response:
        if response.status != 206:
            offset = 0  # the server sent the whole file: start over
        total = _content_total(response, offset)
        done = offset
        try:
            with open(part, "ab" if offset else "wb") as handle:
                while block := response.read1(CHUNK_BYTES):  # what has come: frequent progress
                    handle.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
                handle.flush()
                os.fsync(handle.fileno())
        except (OSError, http.client.HTTPException) as error:
            raise WeightsError(
                f"download of {url} stopped at {done} bytes ({error}); run it again to resume"
            ) from error
    if total is not None and done < total:
        raise WeightsError(f"download of {url} stopped at {done} of {total} bytes; run it again to resume")
    return _finish(part, dest, sha256)


def _finish(part: Path, dest: Path, sha256: str | None) -> Path:
    """Verify the complete ``.part`` and rename it to ``dest``; delete it when it is wrong."""
    try:
        verify_file(part, sha256, dest.name)
    except ChecksumError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


# -- loading -------------------------------------------------------------------------------------


_TORCH_ADVICE = re.compile(
    r"\x1b\[[0-9;]*m"  # terminal colours
    r"|\(Could this error message be improved\?[^)]*\)"
    r"|Check the documentation of torch\.load.*"
)
_REASON_CHARS = 240


def torch_reason(error: BaseException) -> str:
    """The gist of a torch error in one short line.

    torch's messages run over several lines of advice; ``weights_only`` failures even suggest
    loading with ``weights_only=False``, which would run code from the file, so that advice is
    dropped and only what the unpickler refused is kept.
    """
    text = _TORCH_ADVICE.sub("", str(error))
    marker = "WeightsUnpickler error:"
    if marker in text:
        refused = " ".join(text.split(marker, 1)[1].split())
        refused = refused.split(". Please use", 1)[0]
        text = f"refused by the tensors-only loader, which never runs code from a file: {refused}"
    line = " ".join(text.split())
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 1] + "…"


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A weights file as a dict (tensors only: ``weights_only``, so no code runs from the file)."""
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsMissing(f"{path}: weights file not found") from None
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        raise WeightsError(f"{path}: not a readable weights file ({torch_reason(error)})") from error
    if not isinstance(data, Mapping):
        raise WeightsError(f"{path}: expected a state dict, found {type(data).__name__}")
    return dict(data)


def state_dict_of(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The parameters inside a checkpoint: a bare state dict or one under ``state_dict``/``model``."""
    for key in ("state_dict", "model"):
        inner = checkpoint.get(key)
        if isinstance(inner, Mapping):
            return dict(inner)
    return dict(checkpoint)


def load_into(model: torch.nn.Module, path: str | os.PathLike[str], strict: bool = True) -> torch.nn.Module:
    """Load a weights file into ``model``; a mismatch names the file and the first offending keys."""
    return load_state(model, load_checkpoint(path), path, strict)


def load_state(
    model: torch.nn.Module,
    checkpoint: Mapping[str, Any],
    path: str | os.PathLike[str],
    strict: bool = True,
) -> torch.nn.Module:
    """Load an already read checkpoint (from ``path``, named in errors) into ``model``."""
    try:
        model.load_state_dict(state_dict_of(checkpoint), strict=strict)
    except RuntimeError as error:
        raise WeightsError(f"{path}: does not fit the model ({torch_reason(error)})") from error
    return model
