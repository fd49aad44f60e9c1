"""PNG files built byte by byte for the readers' tests.

OpenCV cannot write what label readers must cope with: indexed PNGs (VOC's kind), 1/2/4-bit
samples, every filter type, interlacing. Written independently of ``segstudio.io.png`` so that
a bug there cannot hide in both the files and the reader.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from itertools import cycle

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB, INDEXED, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
SAMPLES = {GREY: 1, RGB: 3, INDEXED: 1, GREY_ALPHA: 2, RGBA: 4}
NONE, SUB, UP, AVERAGE, PAETH = range(5)
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
"""(x0, y0, dx, dy) of the seven passes of an interlaced PNG."""


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


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def row_bytes(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """(H, bytes) of (H, W, C) samples packed as PNG stores them (MSB first, 16-bit big-endian)."""
    height = samples.shape[0]
    if bit_depth == 16:
        return samples.astype(">u2").reshape(height, -1).view(np.uint8)
    flat = samples.reshape(height, -1).astype(np.uint8)
    if bit_depth == 8:
        return flat
    bits = np.unpackbits(flat[:, :, None], axis=2)[:, :, 8 - bit_depth :].reshape(height, -1)
    return np.packbits(bits, axis=1)


def filtered_rows(rows: np.ndarray, bpp: int, kinds: Iterator[int]) -> bytes:
    """Each row filtered with the next kind of ``kinds``, byte by byte as the specification says."""
    out = bytearray()
    above = [0] * rows.shape[1]
    for row in rows.tolist():
        kind = next(kinds)
        out.append(kind)
        for x, value in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b, c = above[x], above[x - bpp] if x >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]
            out.append((value - predictor) % 256)
        above = row
    return bytes(out)


EVERY_FILTER = (PAETH, AVERAGE, SUB, UP, NONE, PAETH)
"""Row filters in turn: each kind follows each other one somewhere."""


def image_data(
    samples: np.ndarray, bit_depth: int, interlace: int, filters: Sequence[int] = EVERY_FILTER
) -> bytes:
    """The filtered image data of (H, W, C) samples, ``filters`` in turn (per pass when interlaced)."""
    bpp = max(1, samples.shape[2] * bit_depth // 8)
    kinds = cycle(filters)
    if not interlace:
        return filtered_rows(row_bytes(samples, bit_depth), bpp, kinds)
    passes = [samples[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7]
    return b"".join(filtered_rows(row_bytes(p, bit_depth), bpp, kinds) for p in passes if p.size)


def layout_png(
    samples: np.ndarray,
    colour_type: int,
    bit_depth: int,
    interlace: int = 0,
    idats: int = 1,
    filters: Sequence[int] = EVERY_FILTER,
) -> bytes:
    """A PNG of (H, W, C) samples of any layout, its rows filtered with ``filters`` in turn, its
    stream cut into ``idats`` IDAT chunks between two tEXt chunks (indexed: a colour table and tRNS)."""
    height, width = samples.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    stream = zlib.compress(image_data(samples, bit_depth, interlace, filters), 9)
    cut = np.linspace(0, len(stream), idats + 1).astype(int)
    table = b""
    if colour_type == INDEXED:
        colours = [(i, 255 - i, (i * 7) % 256) for i in range(2**bit_depth)]
        table = chunk(b"PLTE", b"".join(bytes(c) for c in colours))
        table += chunk(b"tRNS", bytes(range(len(colours))))
    return b"".join(
        [SIGNATURE, chunk(b"IHDR", header), table, chunk(b"tEXt", b"Comment\0before")]
        + [chunk(b"IDAT", stream[start:end]) for start, end in zip(cut[:-1], cut[1:], strict=True)]
        + [chunk(b"tEXt", b"Comment\0after"), chunk(b"IEND", b"")]
    )


def stripes(width: int, height: int, colour_type: int, bit_depth: int, seed: int) -> np.ndarray:
    """Label-like samples: regions of few values, noise in one corner (so Paeth's three choices occur)."""
    rng = np.random.default_rng(seed)
    top = 2**bit_depth
    channels = SAMPLES[colour_type]
    region = rng.integers(0, top, (3, 3, channels))
    samples = np.kron(region, np.ones((height // 3 + 1, width // 3 + 1, 1), np.int64))[:height, :width]
    samples[: height // 2, : width // 2] = rng.integers(0, top, (height // 2, width // 2, channels))
    return samples
