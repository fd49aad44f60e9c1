"""PNG files written directly: rows without filters, deflated at the fastest level.

Label PNGs (panoptic ids, class values, masks) are few values in long runs. Written with no row
filter and ISA-L's fastest deflate (``io/deflate``) they come out smaller than OpenCV's level-1
files and 5-10x faster; they are standard PNGs that every reader decodes to the same pixels.
imagecodecs' libpng writer at its fastest settings (level 1, no filter or Sub) takes ~5 ms for
a 640x480 panoptic map where this takes ~0.6 ms, so label PNGs stay written here. Pixels are
given in RGB order, as everywhere outside OpenCV calls, so no channel swap is needed.
"""

from __future__ import annotations

import struct

import numpy as np

from segstudio.io import deflate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB, INDEXED, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
"""PNG colour types."""
_COLOUR_TYPE_OF_CHANNELS = {1: GREY, 2: GREY_ALPHA, 3: RGB, 4: RGBA}


def png_chunk(kind: bytes, body: bytes | memoryview) -> bytes:
    """One encoded chunk: length, type, body, CRC."""
    crc = deflate.crc32(body, deflate.crc32(kind))
    return b"".join((struct.pack(">I", len(body)), kind, body, struct.pack(">I", crc)))


def unfiltered_rows(samples: np.ndarray) -> np.ndarray:
    """(H, 1 + row bytes) uint8: each row of ``samples`` (H, W[, C]) in PNG byte order after a
    filter byte 0 (none); 16-bit samples big-endian, as PNG stores them."""
    height = samples.shape[0]
    if samples.dtype.itemsize == 2:
        samples = samples.astype(">u2", copy=False)
    row_bytes = samples.reshape(height, -1).view(np.uint8)
    rows = np.empty((height, 1 + row_bytes.shape[1]), np.uint8)
    rows[:, 0] = 0
    rows[:, 1:] = row_bytes
    return rows


def encode_png(pixels: np.ndarray, where: object, *, palette: np.ndarray | None = None) -> bytes:
    """A PNG of ``pixels``: uint8 or uint16 grey (H, W), grey+alpha (H, W, 2), RGB (H, W, 3) or RGBA
    (H, W, 4), channels in RGB order; with ``palette`` ((N <= 256, 3) uint8), an indexed PNG of
    uint8 indices (H, W). ValueError starting with ``where`` for anything else."""
    pixels = np.asarray(pixels)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{where}: PNG holds uint8 or uint16 samples, got {pixels.dtype}")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2] if pixels.ndim == 3 else 0
    if channels not in _COLOUR_TYPE_OF_CHANNELS:
        raise ValueError(f"{where}: expected (H, W) or (H, W, 1..4) pixels, got shape {pixels.shape}")
    if pixels.size == 0:
        raise ValueError(f"{where}: cannot write an empty image of shape {pixels.shape}")
    height, width = pixels.shape[:2]
    if palette is not None and (pixels.dtype != np.uint8 or channels != 1):
        raise ValueError(f"{where}: an indexed PNG holds (H, W) uint8 indices")
    colour_type = INDEXED if palette is not None else _COLOUR_TYPE_OF_CHANNELS[channels]
    bit_depth = 8 * pixels.dtype.itemsize
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = [PNG_SIGNATURE, png_chunk(b"IHDR", header)]
    if palette is not None:
        chunks.append(png_chunk(b"PLTE", np.ascontiguousarray(palette, np.uint8).tobytes()))
    rows = unfiltered_rows(pixels)
    chunks += [png_chunk(b"IDAT", deflate.compress(rows.data)), png_chunk(b"IEND", b"")]
    return b"".join(chunks)
