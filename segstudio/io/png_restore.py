"""PNG image data inflated by libdeflate and stored again uncompressed, for libpng to unfilter.

libpng spends most of a label PNG's decode inflating it with zlib (~2.8 of ~3.0 ms for a 640x480
panoptic map with Paeth rows, which ``png_unfilter`` declines); libdeflate
(``imagecodecs.deflate_decode``) inflates the same stream in ~0.6 ms. The inflated rows are
wrapped again as a zlib stream of *stored* (uncompressed) deflate blocks in one IDAT chunk, every
other chunk kept, and libpng decodes that file: its inflate is then a copy, and it still does
every row filter, bit depth, palette, transparency and interlacing exactly as it does for the
original file, so the pixels are libpng's own.

Integrity is kept: ``png.png_chunks`` has checked every chunk's CRC before this runs, and
libdeflate checks the stream's Adler-32. A stream that does not inflate to exactly the image
data's size (corrupt, cut short, or with data after the image) gets None here, and the caller
decodes the original file, so libpng's errors and warnings are what they were.
"""

from __future__ import annotations

import struct

import imagecodecs

from segstudio.io import deflate
from segstudio.io.png_encode import INDEXED, PNG_SIGNATURE, png_chunk

SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""Samples per pixel of each colour type (an indexed pixel is one index)."""
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
"""(x0, y0, dx, dy) of the seven passes of an interlaced PNG."""
STORED_BLOCK = 0xFFFF
"""Largest stored deflate block."""
RESTORE_MAX_BYTES = 256 * 2**20
"""Image data above which the original file goes to libpng as it is: stored again it would be
held three times at once (inflated, stored, decoded) for the same ~1.5x gain."""
_ZLIB_HEADER = b"\x78\x01"
"""CMF (deflate, 32K window) and FLG (fastest, check bits right) of a zlib stream."""


def image_data_size(header: bytes) -> int | None:
    """Bytes of the inflated image data (filter bytes included) that a 13-byte IHDR body
    announces; None for a colour type, bit depth or method that PNG does not define."""
    width, height, bit_depth, colour_type, compression, filter_method, interlace = struct.unpack(
        ">IIBBBBB", header
    )
    samples = SAMPLES.get(colour_type)
    if samples is None or bit_depth not in (1, 2, 4, 8, 16) or compression or filter_method:
        return None
    if colour_type == INDEXED and bit_depth == 16 or colour_type not in (0, INDEXED) and bit_depth < 8:
        return None
    bits = samples * bit_depth
    if interlace == 0:
        return height * (1 + (width * bits + 7) // 8)
    if interlace != 1:
        return None
    size = 0
    for x0, y0, dx, dy in ADAM7:
        pass_width, pass_height = max(0, width - x0 + dx - 1) // dx, max(0, height - y0 + dy - 1) // dy
        if pass_width and pass_height:
            size += pass_height * (1 + (pass_width * bits + 7) // 8)
    return size


def restored_png(chunks: list[tuple[bytes, bytes]]) -> bytes | None:
    """The PNG of ``chunks`` (every chunk up to IEND, CRCs already checked) with its IDAT
    stream inflated and stored again in one IDAT chunk; None where that does not apply: not
    IHDR first, IDATs not one run, a stream that does not inflate to exactly the image data,
    image data over ``RESTORE_MAX_BYTES``."""
    kinds = [kind for kind, _ in chunks]
    if kinds[0] != b"IHDR" or len(chunks[0][1]) != 13 or b"IDAT" not in kinds:
        return None
    first, count = kinds.index(b"IDAT"), kinds.count(b"IDAT")
    if kinds[first : first + count] != [b"IDAT"] * count:
        return None
    size = image_data_size(chunks[0][1])
    if size is None or size > RESTORE_MAX_BYTES:
        return None
    stream = b"".join(body for _, body in chunks[first : first + count]) if count > 1 else chunks[first][1]
    try:
        inflated = imagecodecs.deflate_decode(stream, out=size)
    except (imagecodecs.DeflateError, ValueError, MemoryError):
        return None  # corrupt, or more data than the image holds: libpng says what it says
    if len(inflated) != size:
        return None
    return b"".join(
        (
            PNG_SIGNATURE,
            *(png_chunk(kind, body) for kind, body in chunks[:first]),
            *_idat_chunk(stored_zlib_pieces(inflated)),
            *(png_chunk(kind, body) for kind, body in chunks[first + count :]),
        )
    )


def stored_zlib(data: bytes) -> bytes:
    """``data`` as a zlib stream of stored deflate blocks (no compression), Adler-32 at the end."""
    return b"".join(stored_zlib_pieces(data))


def stored_zlib_pieces(data: bytes) -> list[bytes | memoryview]:
    """``stored_zlib(data)`` in pieces (views of ``data``), so that it is copied once, into the file."""
    view = memoryview(data)
    pieces: list[bytes | memoryview] = [_ZLIB_HEADER]
    for start in range(0, max(len(data), 1), STORED_BLOCK):
        block = view[start : start + STORED_BLOCK]
        last = start + STORED_BLOCK >= len(data)
        pieces.append(struct.pack("<BHH", last, len(block), len(block) ^ 0xFFFF))
        pieces.append(block)
    pieces.append(struct.pack(">I", imagecodecs.deflate_adler32(data)))
    return pieces


def _idat_chunk(pieces: list[bytes | memoryview]) -> list[bytes | memoryview]:
    """An IDAT chunk of the concatenated ``pieces``, in pieces (length, type, body, CRC)."""
    crc = deflate.crc32(b"IDAT")
    for piece in pieces:
        crc = deflate.crc32(piece, crc)
    return [struct.pack(">I", sum(len(piece) for piece in pieces)), b"IDAT", *pieces, struct.pack(">I", crc)]
