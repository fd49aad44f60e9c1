"""PNG files built byte by byte for the readers' tests.

OpenCV cannot write what label readers must cope with: indexed PNGs (VOC's kind), 1/2/4-bit
samples, every filter type, interlacing. Written independently of ``segstudio.io.png`` so that
a bug there cannot hide in both the files and the reader.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, INDEXED = 0, 3


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunk_bodies(data: bytes) -> dict[bytes, bytes]:
    """The body of the first chunk of each type in a PNG's bytes."""
    chunks, offset = {}, len(SIGNATURE)
    while offset < len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        chunks.setdefault(kind, data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    return chunks


def packed_rows(samples: np.ndarray, bit_depth: int = 8) -> bytes:
    """Raw image data of (H, W) samples: each row filter type 0, then the samples packed MSB first."""
    per_byte = 8 // bit_depth
    rows = []
    for row in samples.astype(np.uint8):
        packed = bytearray()
        for start in range(0, len(row), per_byte):
            value = 0
            for n, sample in enumerate(row[start : start + per_byte]):
                value |= int(sample) << (8 - bit_depth * (n + 1))
            packed.append(value)
        rows.append(b"\x00" + bytes(packed))
    return b"".join(rows)


def png_file(
    raw_rows: bytes,
    width: int,
    height: int,
    *,
    colour_type: int = INDEXED,
    bit_depth: int = 8,
    interlace: int = 0,
    colors: Sequence[tuple[int, int, int]] | None = None,
) -> bytes:
    """A PNG of already filtered ``raw_rows``, indexed by default.

    An indexed PNG gets a colour table (``colors``, else one ramp entry per possible index) and an
    opaque tRNS chunk, as VOC's files have.
    """
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    table = b""
    if colour_type == INDEXED:
        if colors is None:
            colors = [(i, 255 - i, i // 2) for i in range(min(2**bit_depth, 256))]
        table = chunk(b"PLTE", b"".join(bytes(c) for c in colors)) + chunk(b"tRNS", b"\xff" * len(colors))
    return (
        SIGNATURE
        + chunk(b"IHDR", header)
        + table
        + chunk(b"IDAT", zlib.compress(raw_rows))
        + chunk(b"IEND", b"")
    )
