"""The project's lossless label file: a zip of ``.npy`` arrays (``np.load`` opens it for debugging).

Why this format: ``category`` (uint16) and ``instance`` (uint32) must round-trip exactly, which
8/16-bit PNGs cannot promise for instance ids; deflate shrinks label maps a hundredfold; every zip
member carries a CRC-32 that is checked on read, so a torn or bit-flipped file is detected instead
of loading as wrong labels; and arrays load with ``allow_pickle=False``, so a file can never run code.

Members: ``format`` (version), ``category``, ``instance``, ``provenance``, ``crowd`` ((N, 2) int64
pairs), ``revision`` (a fresh token per write) and ``base`` (for autosaves: the revision of the
saved labels they were made on top of; empty otherwise). Files are written atomically, and
their bytes depend only on the arrays and tokens (members carry a fixed date), so two writers of
the same labels and tokens (a pre-label run on a cluster and one in-process) write the same file.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import uuid
import zipfile
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.core.labels import CATEGORY_DTYPE, INSTANCE_DTYPE, VOID, LabelMap, Provenance
from segstudio.io import deflate
from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.zip_members import FAST_ZLIB_LEVEL, pack_members, read_members

LABEL_FILE_SUFFIX = ".npz"
LABEL_FORMAT_VERSION = 1
_MEMBER_DATE = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: member times say nothing about labels

_ARRAY_DTYPES = {"category": CATEGORY_DTYPE, "instance": INSTANCE_DTYPE, "provenance": np.uint8}
# What a torn, bit-flipped or foreign file makes zipfile/numpy raise (OSError: seeks past a truncation).
_DECODE_ERRORS = (
    zipfile.BadZipFile,
    *deflate.ERRORS,
    KeyError,
    ValueError,
    EOFError,
    NotImplementedError,
    OSError,
)


class LabelFileError(ValueError):
    """A label file is corrupt, truncated or from a newer segstudio; the message names the file."""


@dataclass(frozen=True)
class StoredLabels:
    """A label map as read from disk with its write token and (for autosaves) its base token."""

    labels: LabelMap
    revision: str
    base: str


SAVE_COMPRESSLEVEL = FAST_ZLIB_LEVEL
"""Saves deflate fast (ISA-L's level 1 through ``io/deflate``): a 12 MP label map is written in
~25 ms instead of ~710 ms at zlib's level 6, for a file ~20% larger (368 KB against 303 KB), and a
save runs on the GUI thread. Callers may still ask for a higher level (zipfile's zlib)."""


def write_label_file(
    path: str | Path,
    labels: LabelMap,
    base: str = "",
    compresslevel: int = SAVE_COMPRESSLEVEL,
    revision: str | None = None,
    *,
    durable: bool = True,
) -> str:
    """Write ``labels`` atomically and return the new file's revision token (``revision`` when
    given: the project records it before writing, to tell afterwards whether the write landed;
    ``durable=False``: no fsync, for files in a folder flushed as a whole, see ``atomic_directory``)."""
    try:  # arrays may have been swapped since construction: never write what could not be read
        LabelMap(labels.category, labels.instance, labels.provenance)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    if any(not (0 <= c < VOID and 0 <= i <= np.iinfo(INSTANCE_DTYPE).max) for c, i in labels.crowd):
        raise ValueError(f"{path}: crowd pairs must be (category 0..{VOID - 1}, uint32 instance)")
    revision = revision or uuid.uuid4().hex
    members = {
        "format": np.array(LABEL_FORMAT_VERSION, np.uint16),
        "category": labels.category,
        "instance": labels.instance,
        "provenance": labels.provenance,
        "crowd": np.array(sorted(labels.crowd), np.int64).reshape(-1, 2),
        "revision": np.array(revision),
        "base": np.array(base),
    }
    encoded = {f"{name}.npy": _npy_pieces(np.asarray(array)) for name, array in members.items()}
    atomic_write_bytes(path, pack_members(encoded, _MEMBER_DATE, compresslevel), durable=durable)
    return revision


def _npy_pieces(array: np.ndarray) -> tuple[bytes, memoryview]:
    """An array's ``.npy`` bytes as (header, the array's own memory): nothing copied."""
    if not array.flags.c_contiguous:  # C order, as the header will say (0-d arrays always are)
        array = np.ascontiguousarray(array)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return header.getvalue(), memoryview(array.reshape(-1).view(np.uint8))


def _member(archive: Mapping[str, bytes], name: str) -> np.ndarray:
    """One array of the archive's members (their CRC-32 checked when read), as ``np.load``
    reads it with ``allow_pickle=False``; the header's meaning is cached, as every label file
    of one image size has the same headers (numpy parses each with ``ast``, ~0.15 ms)."""
    data = archive[f"{name}.npy"]
    major = data[6] if len(data) > 6 and data.startswith(b"\x93NUMPY") else None
    if major not in (1, 2):
        return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    start = 10 if major == 1 else 12
    if len(data) < start:
        raise ValueError(f"member {name!r} is cut short")
    length = int.from_bytes(data[8:start], "little")
    shape, fortran_order, dtype = _npy_header(data[: start + length])
    if dtype.hasobject:
        raise ValueError(f"member {name!r} holds Python objects, which are never loaded")
    count = math.prod(shape)
    if len(data) - start - length < count * dtype.itemsize:
        raise ValueError(f"member {name!r} is cut short")
    # a copy, writable as numpy's own reader gives it: editors and OpenCV draw into label maps
    array = np.frombuffer(data, dtype, count, offset=start + length).copy()
    return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


@functools.lru_cache(maxsize=64)
def _npy_header(header: bytes) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) of an ``.npy`` header, read by numpy's own parser."""
    stream = io.BytesIO(header)
    major, _ = np.lib.format.read_magic(stream)
    if major == 1:
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def _token(archive: Mapping[str, bytes], name: str) -> str:
    value = _member(archive, name)
    if value.shape != () or value.dtype.kind != "U":
        raise ValueError(f"member {name!r} is not a text token")
    return str(value)


@contextlib.contextmanager
def _reading(path: Path, names: Collection[str] | None = None) -> Iterator[Mapping[str, bytes]]:
    """Open the archive, refuse newer formats and turn any decoding failure into LabelFileError.

    FileNotFoundError passes through: a missing file is "no labels yet", not corruption.
    """
    try:
        members = None if names is None else {f"{name}.npy" for name in ("format", *names)}
        archive = read_members(path.read_bytes(), members)
        version = _member(archive, "format")
        if version.shape != () or version.dtype.kind != "u":
            raise ValueError("member 'format' is not a version number")
        if int(version) > LABEL_FORMAT_VERSION:
            raise LabelFileError(
                f"{path}: label format {int(version)} was written by a newer segstudio "
                f"(this one reads up to {LABEL_FORMAT_VERSION}); upgrade segstudio"
            )
        yield archive
    except (FileNotFoundError, LabelFileError):
        raise
    except PermissionError as error:
        raise LabelFileError(f"{path}: permission denied") from error
    except _DECODE_ERRORS as error:
        raise LabelFileError(f"{path}: corrupt or truncated label file ({error})") from error


def _labels(archive: Mapping[str, bytes]) -> LabelMap:
    arrays = {}
    for name, dtype in _ARRAY_DTYPES.items():
        array = _member(archive, name)
        expected = np.dtype(dtype)
        if array.dtype.kind != expected.kind or array.dtype.itemsize != expected.itemsize:
            raise ValueError(f"{name} map has dtype {array.dtype}, expected {expected}")
        arrays[name] = array.astype(expected, copy=False)  # byte order only: values are exact
    if arrays["provenance"].size and int(arrays["provenance"].max()) > max(Provenance):
        raise ValueError(f"provenance value {int(arrays['provenance'].max())} is not a Provenance")
    crowd = _member(archive, "crowd")
    if crowd.dtype.kind not in "iu" or crowd.ndim != 2 or crowd.shape[1] != 2:
        raise ValueError(f"crowd must be (N, 2) integers, got {crowd.dtype} {crowd.shape}")
    pairs = {(int(c), int(i)) for c, i in crowd.tolist()}
    return LabelMap(arrays["category"], arrays["instance"], arrays["provenance"], pairs)


def read_label_file(path: str | Path) -> StoredLabels:
    """Read and check a label file; FileNotFoundError when absent, LabelFileError when unusable."""
    with _reading(Path(path)) as archive:
        return StoredLabels(_labels(archive), _token(archive, "revision"), _token(archive, "base"))


def read_label_tokens(path: str | Path) -> tuple[str, str]:
    """(revision, base) of a label file without decoding its maps: cheap enough for every autosave."""
    with _reading(Path(path), ("revision", "base")) as archive:
        return _token(archive, "revision"), _token(archive, "base")
