"""PNG files read: the signature, chunks with their CRCs, the IHDR header, the pixels.

Format readers need the colour type and bit depth as stored (a panoptic PNG must be 8-bit RGB)
and the indices of an indexed PNG, which decoders expand to colours; label writers need a colour
table (``png_encode`` writes PNGs). Pixels of plain 8/16-bit PNGs come from ``png_native``
(libdeflate + the compiled unfilter, every filter type) where the optional extension is built,
else from ``png_unfilter`` (libdeflate + numpy, ~5x libpng on files without Paeth rows); the rest
from libpng through ``imagecodecs``
(about 3x less time than OpenCV's ``imdecode`` on Paeth/Average rows), in PNG channel order
(RGB, no swap), their image data inflated first by libdeflate and handed to libpng stored
uncompressed (``png_restore``: ~1.5x less time than libpng's own zlib inflate). Every chunk CRC
is checked here first, so a bit flip anywhere is refused with the chunk it hit. Errors are
ImageReadError naming the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import imagecodecs
import numpy as np

from segstudio.io import deflate, png_native
from segstudio.io.images import ImageReadError
from segstudio.io.png_encode import GREY, GREY_ALPHA, INDEXED, PNG_SIGNATURE, RGB, RGBA, png_chunk
from segstudio.io.png_restore import restored_png
from segstudio.io.png_unfilter import PLAIN_CHUNKS, decode_filtered
from segstudio.io.safe_files import check_pixels, check_regular_file, quiet_native_stderr

COLOUR_TYPES = {
    GREY: "greyscale",
    RGB: "RGB",
    INDEXED: "indexed",
    GREY_ALPHA: "greyscale+alpha",
    RGBA: "RGBA",
}
CHANNELS = {GREY: 1, RGB: 3, INDEXED: 1, GREY_ALPHA: 2, RGBA: 4}
"""Channels of a decoded pixel, per colour type (an indexed pixel is one index)."""


class PngHeader(NamedTuple):
    """The IHDR fields readers decide on."""

    width: int
    height: int
    bit_depth: int
    colour_type: int

    @property
    def kind(self) -> str:
        """``8-bit RGB``, ``16-bit greyscale``, ...: how error messages name the file's layout."""
        return f"{self.bit_depth}-bit {COLOUR_TYPES.get(self.colour_type, f'colour type {self.colour_type}')}"


def read_png_file(path: Path) -> bytes:
    """A PNG file's bytes; ImageReadError naming it when it cannot be read or is not a PNG."""
    check_regular_file(path, ImageReadError)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read ({error.strerror or error})") from error
    if not data.startswith(PNG_SIGNATURE):
        raise ImageReadError(f"{path}: not a PNG file")
    return data


def png_chunks(data: bytes, path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of every chunk of a PNG's bytes up to IEND, CRCs checked.

    ImageReadError naming ``path`` when a chunk is cut short, its CRC is wrong, or IEND is missing.
    """
    offset = len(PNG_SIGNATURE)
    while True:
        if offset + 8 > len(data):
            raise ImageReadError(f"{path}: truncated PNG (no IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        crc = data[offset + 8 + length : offset + 12 + length]
        name = kind.decode("latin-1")
        if len(body) < length or len(crc) < 4:
            raise ImageReadError(f"{path}: truncated PNG ({name} chunk cut short)")
        if struct.unpack(">I", crc)[0] != deflate.crc32(body, deflate.crc32(kind)):
            raise ImageReadError(f"{path}: corrupt PNG (bad CRC in {name} chunk)")
        yield kind, body
        offset += 12 + length
        if kind == b"IEND":
            return


def png_header(data: bytes, path: Path) -> PngHeader:
    """The IHDR of a PNG's bytes (which must be its first chunk, 13 bytes, CRC intact).

    A size over the pixel limit (``safe_files``) is refused here, before any decoder allocates it.
    """
    kind, body = next(png_chunks(data, path))
    if kind != b"IHDR" or len(body) != 13:
        raise ImageReadError(f"{path}: corrupt PNG (first chunk is not a 13-byte IHDR)")
    header = PngHeader(*struct.unpack(">IIBB", body[:10]))
    if header.width == 0 or header.height == 0:
        raise ImageReadError(f"{path}: corrupt PNG ({header.width}x{header.height} pixels)")
    check_pixels(header.height, header.width, path, ImageReadError)
    return header


def decode_png(data: bytes, path: Path) -> np.ndarray:
    """Samples ``(H, W)`` or ``(H, W, C)`` of PNG bytes in PNG channel order (RGB, not OpenCV's
    BGR), bit depth kept (1/2/4-bit grey scaled to 0..255, indexed expanded to RGB, as libpng
    does); ImageReadError naming ``path`` when a chunk is torn or bit-flipped or the pixels do not
    decode."""
    chunks = list(png_chunks(data, path))  # every CRC, before any decoder sees the bytes
    idat = _plain_image_data(chunks)
    if idat is not None:
        if png_native.available():
            samples = png_native.decode_samples(chunks[0][1], idat)
        else:
            samples = decode_filtered(chunks[0][1], idat)
        if samples is not None:
            return samples
    restored = restored_png(chunks)
    if restored is not None:
        try:
            return _libpng_decode(restored)
        except (imagecodecs.PngError, ValueError, MemoryError):
            pass  # the original file's own error below
    try:
        return _libpng_decode(data)
    except (imagecodecs.PngError, ValueError, MemoryError) as error:
        raise ImageReadError(f"{path}: corrupt or truncated PNG ({error})") from None


def decode_rgb_ids(data: bytes, path: Path) -> np.ndarray | None:
    """The uint32 map ``R + 256 G + 65536 B`` of 8-bit RGB PNG bytes in one compiled pass
    (``png_native``), CRCs checked first (ImageReadError naming ``path``); None where that path
    does not apply (no extension, another layout, a stream libpng must judge): the caller then
    converts ``decode_png``'s pixels."""
    rows = rgb_rows(data, path)
    return None if rows is None else png_native.rgb_ids(rows)


def rgb_rows(data: bytes, path: Path) -> png_native.RgbRows | None:
    """The inflated rows of 8-bit RGB PNG bytes for the compiled path (``png_native.rgb_ids``,
    ``png_native.pair_counts``), CRCs checked first (ImageReadError naming ``path``); None where
    ``decode_rgb_ids`` would give None."""
    if not png_native.available():
        return None
    chunks = list(png_chunks(data, path))
    idat = _plain_image_data(chunks)
    return None if idat is None else png_native.rgb_rows(chunks[0][1], idat)


def _plain_image_data(chunks: list[tuple[bytes, bytes]]) -> bytes | None:
    """The joined IDAT bodies of a file that ``png_unfilter``/``png_native`` may decode (see
    ``_plain_layout``), else None."""
    if not _plain_layout([kind for kind, _ in chunks]) or len(chunks[0][1]) != 13:
        return None
    idat = [body for kind, body in chunks if kind == b"IDAT"]
    return b"".join(idat) if len(idat) > 1 else idat[0]


def _libpng_decode(data: bytes) -> np.ndarray:
    with quiet_native_stderr():  # libpng's warnings ("IDAT: Too much image data")
        return imagecodecs.png_decode(data)


def _plain_layout(kinds: list[bytes]) -> bool:
    """Whether chunks of these types are a well-formed PNG that ``png_unfilter`` may decode: IHDR
    first and once, one run of IDATs, IEND last, nothing that changes the samples. Anything
    else goes to libpng, which decodes it or says what is wrong."""
    if kinds[0] != b"IHDR" or kinds.count(b"IHDR") != 1 or b"IDAT" not in kinds:
        return False
    if not PLAIN_CHUNKS.issuperset(kinds):
        return False
    first, count = kinds.index(b"IDAT"), kinds.count(b"IDAT")
    return kinds[first : first + count] == [b"IDAT"] * count


def indexed_as_grey(data: bytes, path: Path) -> bytes:
    """The same indexed PNG declared grey of its bit depth, so that decoding gives the indices."""
    chunks = list(png_chunks(data, path))
    header = chunks[0][1]
    grey_header = header[:9] + bytes([GREY]) + header[10:]
    idat = b"".join(png_chunk(kind, body) for kind, body in chunks if kind == b"IDAT")
    return PNG_SIGNATURE + png_chunk(b"IHDR", grey_header) + idat + png_chunk(b"IEND", b"")
