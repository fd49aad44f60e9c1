"""Deflate (zlib streams, raw streams, CRC-32) through ISA-L when it is installed.

Label files and label PNGs are deflate streams of large runs: Python's zlib spends most of an
import or export compressing and inflating them (zlib level 1 ~2 ms per 640x480 map, inflate of a
panoptic PNG's rows ~1-3 ms). Intel's ISA-L (the ``isal`` package) does the same work 5-10x
faster at its level 1 and writes standard streams that every reader (zlib, libpng, zipfile) reads. Without it,
Python's zlib is used: the same formats, only slower. Levels are ISA-L's 0-3 (0: fastest);
with zlib they map to 1-4.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

try:
    from isal import isal_zlib as _fast
except ImportError:  # pragma: no cover - isal is a dependency; any platform without a wheel still works
    _fast = None

FAST_LEVEL = 1
"""Label data (long runs): ISA-L's level 1 takes ~0.8 ms for a 640x480 label file where zlib's
level 1 takes ~6 ms, and comes out smaller (24 KB against 31 KB; zlib 6: 14 KB in 19 ms)."""
RAW = -15
"""``wbits`` of a raw deflate stream (as in zip members)."""

ERRORS: tuple[type[Exception], ...] = (zlib.error,) if _fast is None else (zlib.error, _fast.error)
"""What a corrupt stream raises."""


def compress(data: bytes | memoryview, level: int = FAST_LEVEL, wbits: int = zlib.MAX_WBITS) -> bytes:
    """``data`` as a zlib stream (``wbits=RAW``: a raw deflate stream)."""
    if _fast is not None:
        return _fast.compress(data, level, wbits)
    packer = zlib.compressobj(level + 1, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def compress_pieces(
    pieces: Sequence[bytes | memoryview], level: int = FAST_LEVEL, wbits: int = zlib.MAX_WBITS
) -> tuple[bytes, int, int]:
    """(stream, CRC-32, length) of the concatenated ``pieces``, without concatenating them
    (an ``.npy`` member is a header and an array's memory)."""
    if _fast is not None:
        packer = _fast.compressobj(level, zlib.DEFLATED, wbits)
    else:
        packer = zlib.compressobj(level + 1, zlib.DEFLATED, wbits)
    out, crc, size = [], 0, 0
    for piece in pieces:
        out.append(packer.compress(piece))
        crc, size = crc32(piece, crc), size + len(piece)
    out.append(packer.flush())
    return b"".join(out), crc, size


def decompress(data: bytes | memoryview, wbits: int = zlib.MAX_WBITS, size: int = 0) -> bytes:
    """The bytes a zlib stream (``wbits=RAW``: raw deflate) holds; ``size`` is a hint of their length."""
    if _fast is not None:
        return _fast.decompress(data, wbits, size or 16384)
    return zlib.decompress(data, wbits, size or 16384)


def decompressobj(wbits: int = zlib.MAX_WBITS) -> Any:
    """An incremental inflater (``zlib.decompressobj``'s interface, ``max_length`` included)."""
    return (_fast or zlib).decompressobj(wbits)


def crc32(data: bytes | memoryview, value: int = 0) -> int:
    """CRC-32 as zlib computes it (zip members, PNG chunks)."""
    return (_fast or zlib).crc32(data, value)


def accelerated() -> bool:
    """Whether ISA-L is in use (benchmarks report it)."""
    return _fast is not None
