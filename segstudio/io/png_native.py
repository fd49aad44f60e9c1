"""PNG pixels through the compiled unfilter (``segstudio._native.pixels``): libdeflate inflates,
C undoes the row filters straight into the array.

This is ``png_restore``'s path without libpng: no stream stored again, no CRC-32 and Adler-32
recomputed over it (the chunk CRCs are checked by ``png.png_chunks`` first, and libdeflate checks
the stream's Adler-32), every filter type (Paeth and Average rows too, unlike ``png_unfilter``'s
numpy). It takes 8- and 16-bit grey, grey+alpha, RGB and RGBA, not interlaced, the samples as
stored (the caller checks that no chunk asks for a transform); anything else, a stream that does
not inflate to exactly the image's size or a row of an unknown filter type gets None, and the
caller's libpng path decodes the file or names what is wrong with it, as before. Pixels are
libpng's (tests hold them equal). Without the extension, ``available()`` is False and callers
keep their pure paths.
"""

from __future__ import annotations

from typing import NamedTuple

import imagecodecs
import numpy as np

from segstudio import _native
from segstudio.core.runs import unpack_pair_counts
from segstudio.io.safe_files import pixel_limit_problem

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
"""Samples per pixel of the colour types taken here (grey, RGB, grey+alpha, RGBA)."""
RGB = 2


def available() -> bool:
    """Whether the compiled unfilter is there (read per call: tests switch it off)."""
    return _native.pixels is not None


def decode_samples(header: bytes, idat: bytes) -> np.ndarray | None:
    """Samples ``(H, W)`` or ``(H, W, C)`` (uint8, or native uint16 for 16-bit files, as libpng
    gives them) of a PNG from its 13-byte IHDR body and its joined IDAT bodies; None where this
    does not apply (see the module doc)."""
    layout = _layout(header)
    if layout is None:
        return None
    height, width, bit_depth, channels = layout
    rows = _inflated(idat, height, width * channels * bit_depth // 8)
    if rows is None:
        return None
    shape = (height, width) if channels == 1 else (height, width, channels)
    samples = np.empty(shape, np.uint8 if bit_depth == 8 else ">u2")
    pixel_bytes = channels * bit_depth // 8
    try:
        _native.pixels.unfilter(rows, samples, height, width * pixel_bytes, pixel_bytes)
    except ValueError:
        return None  # an unknown filter type: libpng's error
    return samples if bit_depth == 8 else samples.astype(np.uint16)


class RgbRows(NamedTuple):
    """The inflated image data of an 8-bit RGB PNG: ``height`` rows of a filter byte and
    ``3 * width`` bytes, not yet unfiltered."""

    height: int
    width: int
    data: bytes


def rgb_rows(header: bytes, idat: bytes) -> RgbRows | None:
    """The inflated rows of an 8-bit RGB PNG (a COCO panoptic map) from its IHDR body and joined
    IDAT bodies; None where ``decode_samples`` would give None or the file is not 8-bit RGB."""
    layout = _layout(header)
    if layout is None or layout[2:] != (8, 3) or header[9] != RGB:
        return None
    height, width = layout[:2]
    data = _inflated(idat, height, 3 * width)
    return None if data is None else RgbRows(height, width, data)


def plain_rgb_rows(data: bytes) -> RgbRows | None:
    """The inflated rows of PNG bytes that are plainly an 8-bit RGB PNG (every chunk whole with its
    CRC right, the layout ``rgb_rows`` takes), the chunks walked in C with the GIL released:
    ``png.rgb_rows``' answer without its Python (~0.1 ms of chunk parsing per file, which the
    threads of ``eval panoptic`` would take turns on). None for anything else and without the
    extension: the caller then reads the file as before, naming any problem."""
    if _native.pixels is None:
        return None
    found = _native.pixels.plain_rgb_png(data)
    if found is None:
        return None
    height, width, idat = found
    if pixel_limit_problem(height, width) is not None:
        return None
    rows = _inflated(idat, height, 3 * width)
    return None if rows is None else RgbRows(height, width, rows)


def rgb_ids(rows: RgbRows) -> np.ndarray | None:
    """The uint32 map ``R + 256 G + 65536 B`` of ``rows`` in one pass, without an RGB image in
    between; None for a row of an unknown filter type (libpng's error)."""
    ids = np.empty((rows.height, rows.width), np.uint32)
    try:
        _native.pixels.unfilter_rgb_ids(rows.data, ids, rows.height, rows.width)
    except ValueError:
        return None
    return ids


def pair_counts(first: RgbRows, second: RgbRows) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(ids of ``first``, ids of ``second``, pixel counts) of every distinct pair of ids along the
    two maps, in increasing order: ``runs.compiled_pair_counts`` of their ``rgb_ids``, from the
    rows in one compiled pass without the maps (PQ's overlaps of an image pair). None where the
    sizes differ or a row has an unknown filter type: the caller decodes each map."""
    answer = pair_answer(first, second)
    return None if answer is None else unpack_pair_counts(*answer)


def pair_answer(first: RgbRows, second: RgbRows) -> tuple[bytes, bytes] | None:
    """:func:`pair_counts` as the extension gives it (``runs.unpack_pair_counts`` reads it), for
    ``core.pq.pq_of_pair_counts``."""
    if first.height != second.height or first.width != second.width:
        return None
    try:
        return _native.pixels.pair_counts_rgb(first.data, second.data, first.height, first.width)
    except ValueError:
        return None


def _layout(header: bytes) -> tuple[int, int, int, int] | None:
    """(height, width, bit depth, channels) of an IHDR this path takes, else None."""
    if _native.pixels is None or len(header) != 13:
        return None
    width = int.from_bytes(header[0:4], "big")
    height = int.from_bytes(header[4:8], "big")
    bit_depth, colour_type, compression, filter_method, interlace = header[8:13]
    channels = CHANNELS.get(colour_type)
    if channels is None or bit_depth not in (8, 16) or compression or filter_method or interlace:
        return None
    if not width or not height or pixel_limit_problem(height, width) is not None:
        return None  # libpng refuses it without allocating the image
    return height, width, bit_depth, channels


def _inflated(idat: bytes, height: int, stride: int) -> bytes | None:
    """The image data (a filter byte and ``stride`` bytes per row), or None when the stream does
    not inflate to exactly that size (libpng then decides: a warning for trailing data, an error
    for a short or corrupt stream)."""
    size = height * (stride + 1)
    try:
        rows = imagecodecs.deflate_decode(idat, out=size)
    except (imagecodecs.DeflateError, ValueError, MemoryError):
        return None
    return rows if len(rows) == size else None
