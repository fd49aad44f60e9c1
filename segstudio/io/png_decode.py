"""PNG pixels without OpenCV for the PNGs label writers make: rows unfiltered or Sub/Up filtered.

OpenCV (libpng + zlib) spends ~3.5 ms on a 640x480 panoptic PNG, most of it inflating long runs
byte by byte. Label PNGs written by segstudio (``png_encode``: no row filter) or by other fast
writers (Sub/Up filters) are decoded here instead: one ISA-L inflate (``io/deflate``) and a few
numpy passes, about 5x less. Anything else (Paeth or Average rows, interlacing, bit depths below
8, indexed colour) returns None and goes to OpenCV, as does a stream that does not hold exactly
the rows the header promises, so errors are still OpenCV's and the pixels always libpng's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segstudio.io import deflate
from segstudio.io.png import CHANNELS, GREY, GREY_ALPHA, RGB, RGBA, png_chunks

_NONE, _SUB, _UP = 0, 1, 2
PROBE_ROWS = 64
"""Rows inflated before the rest, to give up early on files with Paeth or Average rows: writers
that choose filters per row (zlib-6 writers such as PIL's) use them in the first 64 rows of 99%
of 640x480 COCO-like maps, so such files cost a small inflate before OpenCV decodes them."""


def _inflate_rows(stream: bytes, height: int, row_size: int) -> bytes | None:
    """The filtered rows of a zlib ``stream``, or None when they are not exactly ``height`` rows or
    the first ``PROBE_ROWS`` already use a filter left to OpenCV (then the rest is not inflated)."""
    inflater = deflate.decompressobj()
    probe = min(height, PROBE_ROWS) * row_size
    try:
        head = inflater.decompress(stream, probe)
        if len(head) < probe or max(head[::row_size]) > _UP:
            return None
        rest = inflater.decompress(inflater.unconsumed_tail) + inflater.flush()
    except deflate.ERRORS:
        return None
    if len(head) + len(rest) != height * row_size:
        return None
    return head + rest


def decode_simple_png(data: bytes, path: Path) -> np.ndarray | None:
    """Samples ``(H, W)`` or ``(H, W, C)`` in PNG channel order (RGB, not BGR), uint8 or uint16,
    of a PNG whose bytes are ``data`` (chunk CRCs checked), or None when OpenCV must decode it."""
    chunks = list(png_chunks(data, path))
    header = chunks[0][1]
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    bit_depth, colour_type, compression, filtering, interlace = header[8:13]
    if colour_type not in (GREY, GREY_ALPHA, RGB, RGBA) or bit_depth not in (8, 16):
        return None
    if (compression, filtering, interlace) != (0, 0, 0):
        return None
    pixel_bytes = CHANNELS[colour_type] * bit_depth // 8
    row_bytes = width * pixel_bytes
    raw = _inflate_rows(b"".join(body for kind, body in chunks if kind == b"IDAT"), height, 1 + row_bytes)
    if raw is None:
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + row_bytes)
    filters = rows[:, 0]
    if int(filters.max(initial=0)) > _UP:
        return None
    samples = rows[:, 1:].copy()
    sub = np.flatnonzero(filters == _SUB)
    if len(sub):  # each byte adds the reconstructed byte one pixel to its left, within its row
        shaped = samples[sub].reshape(len(sub), width, pixel_bytes)
        samples[sub] = np.cumsum(shaped, axis=1, dtype=np.uint8).reshape(len(sub), row_bytes)
    up = filters == _UP
    if up.any():  # each byte adds the reconstructed byte above: a run of Up rows is a cumulative sum
        edges = np.flatnonzero(np.diff(up.astype(np.int8), prepend=0, append=0))
        for start, stop in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            block = np.cumsum(samples[start:stop], axis=0, dtype=np.uint8)
            if start > 0:
                block += samples[start - 1]
            samples[start:stop] = block
    if bit_depth == 16:
        samples = samples.view(">u2").astype(np.uint16)
    channels = CHANNELS[colour_type]
    return samples.reshape((height, width) if channels == 1 else (height, width, channels))
