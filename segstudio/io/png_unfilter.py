"""PNG pixels of label maps decoded without libpng: libdeflate inflates, numpy unfilters.

Decoding a 640x480 label PNG with libpng takes ~2.9 ms, nearly all of it zlib inflating very
compressible data; libdeflate (``imagecodecs.deflate_decode``) inflates the same stream in
~0.2 ms. The row filters are then undone in numpy:

* None rows are the bytes; all Sub rows at once are a cumulative sum along the row, per channel;
* an Up row is one vector add of the row above;
* a Paeth row predicts from the left byte wherever the row above has ``b == c`` (above ==
  upper-left), so it is a cumulative sum along the row, corrected only at the positions where
  ``b != c`` (the edges of the row above), which are worked out one by one in Python.

uint8 sums wrap as the filters' mod-256 arithmetic does, so the result is bit-identical to
libpng's. Each Paeth row costs ~30 us of numpy calls, so this only pays where they are few:
PNGs written without filters or with None/Sub/Up (segstudio's own, ``png_encode``: ~10x
libpng). Files from adaptive-filter encoders (libpng's, PIL's: COCO's, with Paeth on ~1 row in
4) are seen after inflating their first rows and left to libpng, as are Average rows,
interlacing, bit depths other than 8, palettes and a stream that is not exactly the image's
size: the caller gets None and decodes with libpng (``png_restore``: after libdeflate).
"""

from __future__ import annotations

import zlib

import imagecodecs
import numpy as np

from segstudio.io.safe_files import pixel_limit_problem

NONE, SUB, UP, AVERAGE, PAETH = 0, 1, 2, 3, 4
"""PNG row filter types."""
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
"""Bytes per pixel of the 8-bit colour types handled here (grey, RGB, grey+alpha, RGBA)."""
PLAIN_CHUNKS = frozenset({b"IHDR", b"IDAT", b"IEND", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"pHYs"})
"""Chunks that leave the decoded samples as stored; any other one (tRNS, PLTE, sBIT, gAMA, ...)
goes to libpng, whose transforms it may ask for."""
PAETH_ROWS_MAX = 16
"""Paeth rows above which libpng is faster: each costs ~30 us of numpy calls here, and encoders
with adaptive filters (libpng's, PIL's: COCO's files) pick Paeth for ~1 row in 4."""
EDGES_MAX = 1024
"""Paeth corrections (one Python step each) above which libpng is faster (noise: every byte)."""
FIRST_ROWS = 16
"""Rows inflated first to see the filters: Paeth or Average there sends the file to libpng
before the whole stream is inflated (~6% of libpng's time, paid twice otherwise)."""


REST_AFTER, RETRY_EVERY = 8, 64
"""After ``REST_AFTER`` files declined in a row, only every ``RETRY_EVERY``-th file is tried: a
dataset's files come from one writer, and a declined file costs ~0.1-0.3 ms of looking first
(~5-10% of libpng's decode). Either path gives the same pixels, so this changes only time."""
_declined_in_a_row = 0


def decode_filtered(header: bytes, idat: bytes) -> np.ndarray | None:
    """Samples ``(H, W)`` or ``(H, W, C)`` of an 8-bit non-interlaced PNG from its 13-byte IHDR
    body and its joined IDAT bodies; None where this decoder does not apply (see module doc) or
    rests (``REST_AFTER``)."""
    global _declined_in_a_row
    if _declined_in_a_row >= REST_AFTER and _declined_in_a_row % RETRY_EVERY:
        _declined_in_a_row += 1
        return None
    samples = _decode(header, idat)
    _declined_in_a_row = 0 if samples is not None else _declined_in_a_row + 1
    return samples


def _decode(header: bytes, idat: bytes) -> np.ndarray | None:
    width = int.from_bytes(header[0:4], "big")
    height = int.from_bytes(header[4:8], "big")
    bit_depth, colour_type, compression, filter_method, interlace = header[8:13]
    channels = CHANNELS.get(colour_type)
    if channels is None or bit_depth != 8 or compression or filter_method or interlace:
        return None
    if pixel_limit_problem(height, width) is not None:
        return None  # libpng refuses it without allocating the image
    stride = width * channels
    if not _plain_first_rows(idat, stride + 1, min(height, FIRST_ROWS)):
        return None
    try:
        inflated = imagecodecs.deflate_decode(idat, out=height * (stride + 1))
    except (imagecodecs.DeflateError, ValueError, MemoryError):
        return None  # libpng decides: a warning for trailing data, an error for a short stream
    if len(inflated) != height * (stride + 1):
        return None
    rows = np.frombuffer(inflated, np.uint8).reshape(height, stride + 1)
    samples = unfilter(rows, channels)
    if samples is None:
        return None
    return samples.reshape(height, width) if channels == 1 else samples.reshape(height, width, channels)


def _plain_first_rows(idat: bytes, row_size: int, rows: int) -> bool:
    """Whether the first ``rows`` rows of the stream use only None, Sub and Up (a cheap look,
    ~1/30 of the rows inflated by zlib); False too when they do not inflate."""
    try:
        head = zlib.decompressobj().decompress(idat, rows * row_size)
    except zlib.error:
        return False
    return set(head[::row_size]) <= {NONE, SUB, UP}


def unfilter(rows: np.ndarray, bpp: int) -> np.ndarray | None:
    """The samples (H, row bytes) of filtered ``rows`` (H, 1 + row bytes), ``bpp`` bytes per
    pixel; None when a row is Average-filtered or has an unknown filter type, or when Paeth rows
    or their corrections are too many for this to beat libpng."""
    kinds = rows[:, 0]
    if kinds.size and int(kinds.max()) > PAETH or AVERAGE in kinds:
        return None
    if np.count_nonzero(kinds == PAETH) > PAETH_ROWS_MAX:
        return None
    height, stride = rows.shape[0], rows.shape[1] - 1
    filtered = rows[:, 1:]
    out = filtered.copy()  # None rows are done; every other row is rewritten from its bytes
    sub = kinds == SUB
    if sub.any():
        pixels = filtered[sub].reshape(-1, stride // bpp, bpp).transpose(0, 2, 1)  # channels, then pixels
        out[sub] = np.cumsum(pixels, axis=2, dtype=np.uint8).transpose(0, 2, 1).reshape(-1, stride)
    starts = np.flatnonzero(np.diff(kinds, prepend=np.uint8(255)))
    ends = np.append(starts[1:], height)
    zero = np.zeros(stride, np.uint8)
    budget = EDGES_MAX
    for start, end, kind in zip(starts.tolist(), ends.tolist(), kinds[starts].tolist(), strict=True):
        if kind == UP:  # row by row: numpy's cumsum down axis 0 runs one column at a time
            for y in range(start, end):
                np.add(filtered[y], out[y - 1] if y else zero, out=out[y])
        elif kind == PAETH:
            for y in range(start, end):
                budget -= _paeth_row(filtered[y], out[y - 1] if y else zero, out[y], bpp, budget)
                if budget < 0:
                    return None
    return out


def _paeth_row(filtered: np.ndarray, above: np.ndarray, out: np.ndarray, bpp: int, budget: int) -> int:
    """Undo Paeth on one row into ``out``; returns the corrections made (more than ``budget``
    means it gave up, leaving ``out`` unfinished).

    The first pixel's predictor is the byte above (left and upper-left are 0). Elsewhere, where
    ``above[x] == above[x - bpp]`` the predictor is the left byte, so ``out`` is a per-channel
    cumulative sum of the filtered bytes; at each other position the true predictor is worked
    out from the reconstructed left byte and the step there rewritten, so the sum stays exact.
    """
    steps = filtered.copy()
    steps[:bpp] += above[:bpp]
    edges = np.flatnonzero(above[bpp:] != above[:-bpp]) + bpp
    if len(edges) > budget:
        return len(edges)
    if len(edges):
        sums = np.cumsum(steps.reshape(-1, bpp).T, axis=1, dtype=np.uint8).T.ravel()
        # per edge: the filtered byte, b, c, and the uncorrected sums at x and x - bpp
        values = zip(
            edges.tolist(),
            filtered[edges].tolist(),
            above[edges].tolist(),
            above[edges - bpp].tolist(),
            sums[edges].tolist(),
            sums[edges - bpp].tolist(),
            strict=True,
        )
        shift = [0] * bpp  # correction so far of each channel's running sum
        for x, raw, b, c, summed, left_summed in values:
            channel = x % bpp
            a = (left_summed + shift[channel]) & 0xFF
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            wanted = (raw + predictor) & 0xFF
            delta = (wanted - summed - shift[channel]) & 0xFF
            if delta:
                steps[x] = (wanted - a) & 0xFF  # the step from the left byte to the true value
                shift[channel] += delta
    np.cumsum(steps.reshape(-1, bpp).T, axis=1, dtype=np.uint8, out=out.reshape(-1, bpp).T)
    return len(edges)
