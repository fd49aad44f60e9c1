"""PNG image data inflated by libdeflate and stored again for libpng (``io.png_restore``):
pixels bit-identical to libpng on the original file, errors unchanged.

Files are built here byte by byte (every colour type and bit depth PNG defines, Adam7
interlacing, each row filter forced in turn, several IDAT chunks), independently of
``segstudio.io``, and each is decoded by ``decode_png`` and by libpng on the original bytes.
"""

from __future__ import annotations

import struct
import zlib
from itertools import cycle
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from _png_files import (
    GREY,
    GREY_ALPHA,
    INDEXED,
    PAETH,
    RGB,
    RGBA,
    SIGNATURE,
    chunk,
    image_data,
)
from _png_files import filtered_rows as _filtered
from _png_files import layout_png as _png
from _png_files import row_bytes as _row_bytes
from _png_files import stripes as _samples

from segstudio.io.images import ImageReadError
from segstudio.io.png import decode_png, png_chunks
from segstudio.io.png_restore import image_data_size, restored_png, stored_zlib

pytestmark = pytest.mark.usefixtures("pixel_loops")  # every test on both paths
LAYOUTS = [(GREY, depth) for depth in (1, 2, 4, 8, 16)] + [(INDEXED, depth) for depth in (1, 2, 4, 8)]
LAYOUTS += [(kind, depth) for kind in (RGB, GREY_ALPHA, RGBA) for depth in (8, 16)]


def _restored(data: bytes) -> bytes | None:
    return restored_png(list(png_chunks(data, Path("x.png"))))


def _libpng_error(data: bytes, path: Path) -> str:
    with pytest.raises(imagecodecs.PngError) as error:
        imagecodecs.png_decode(data)
    return f"{path}: corrupt or truncated PNG ({error.value})"


@pytest.mark.parametrize(("colour_type", "bit_depth"), LAYOUTS)
@pytest.mark.parametrize("interlace", [0, 1])
@pytest.mark.parametrize(("width", "height"), [(13, 7), (1, 1), (3, 10), (29, 9)])
def test_pixels_are_libpngs_own(
    colour_type: int, bit_depth: int, interlace: int, width: int, height: int
) -> None:
    samples = _samples(width, height, colour_type, bit_depth, seed=width * height + bit_depth)
    data = _png(samples, colour_type, bit_depth, interlace, idats=3)
    restored = _restored(data)
    assert restored is not None, "the restored path must be taken"
    assert zlib.crc32(restored) != zlib.crc32(data)
    expected = imagecodecs.png_decode(data)
    decoded = decode_png(data, Path("x.png"))
    assert decoded.dtype == expected.dtype and decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)
    assert np.array_equal(imagecodecs.png_decode(restored), expected)
    if colour_type != INDEXED and bit_depth == 8:  # and the samples are the ones written
        assert np.array_equal(decoded.reshape(samples.shape), samples)


def test_image_data_size_matches_what_was_written() -> None:
    for width, height in [(1, 1), (7, 3), (8, 8), (9, 17), (100, 1)]:
        for interlace in (0, 1):
            samples = np.zeros((height, width, 3), np.int64)
            header = struct.pack(">IIBBBBB", width, height, 16, RGB, 0, 0, interlace)
            assert image_data_size(header) == len(image_data(samples, 16, interlace))
    assert image_data_size(struct.pack(">IIBBBBB", 4, 4, 16, INDEXED, 0, 0, 0)) is None
    assert image_data_size(struct.pack(">IIBBBBB", 4, 4, 8, 5, 0, 0, 0)) is None
    assert image_data_size(struct.pack(">IIBBBBB", 4, 4, 8, RGB, 0, 0, 2)) is None


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 200_001])
def test_stored_zlib_is_a_zlib_stream_of_the_bytes(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, np.uint8).tobytes()
    stream = stored_zlib(data)
    assert zlib.decompress(stream) == data
    assert len(stream) == 2 + 5 * max(1, -(-size // 65535)) + size + 4


def _with_stream(data: bytes, stream: bytes) -> bytes:
    """``data`` (one IDAT) with its IDAT body replaced, CRC made right."""
    out, offset = [data[:8]], 8
    while offset < len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = stream if kind == b"IDAT" else data[offset + 8 : offset + 8 + length]
        out.append(chunk(kind, body))
        offset += 12 + length
    return b"".join(out)


def _rgb_png(rows: bytes, width: int = 5, height: int = 4) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, RGB, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _paeth_rows(width: int = 5, height: int = 4) -> bytes:
    samples = np.arange(width * height * 3).reshape(height, width, 3) * 37 % 256
    return _filtered(_row_bytes(samples, 8), 3, cycle([PAETH]))


@pytest.mark.parametrize(
    "damage",
    ["cut short", "bad adler32", "bad filter type", "rows missing", "garbage"],
)
def test_corrupt_streams_give_libpngs_error_naming_the_file(tmp_path: Path, damage: str) -> None:
    rows = _paeth_rows()
    stream = zlib.compress(rows)
    if damage == "cut short":
        stream = stream[: len(stream) // 2]
    elif damage == "bad adler32":
        stream = stream[:-1] + bytes([stream[-1] ^ 1])
    elif damage == "bad filter type":
        stream = zlib.compress(rows[:16] + b"\x07" + rows[17:])
    elif damage == "rows missing":
        stream = zlib.compress(rows[: 2 * 16])
    else:
        stream = b"\x78\x9c" + bytes(range(40))
    data = _with_stream(_rgb_png(rows), stream)
    path = tmp_path / "broken.png"
    if damage != "bad filter type":
        assert _restored(data) is None
    with pytest.raises(ImageReadError) as error:
        decode_png(data, path)
    assert str(error.value) == _libpng_error(data, path)


def test_extra_image_data_decodes_as_libpng_does() -> None:
    """libpng warns about data past the last row and decodes the rows: so does decode_png."""
    rows = _paeth_rows()
    data = _with_stream(_rgb_png(rows), zlib.compress(rows + rows[:16]))
    assert _restored(data) is None
    assert np.array_equal(decode_png(data, Path("x.png")), imagecodecs.png_decode(data))


def test_bit_flip_in_idat_is_named_by_its_crc(tmp_path: Path) -> None:
    data = bytearray(_rgb_png(_paeth_rows()))
    data[data.index(b"IDAT") + 10] ^= 0x10
    with pytest.raises(ImageReadError, match=r"broken\.png: corrupt PNG \(bad CRC in IDAT chunk\)"):
        decode_png(bytes(data), tmp_path / "broken.png")


@pytest.mark.parametrize(
    ("colour_type", "bit_depth", "interlace"), [(RGBA, 16, 0), (RGB, 8, 1), (GREY, 8, 0)]
)
def test_image_data_of_several_stored_blocks(colour_type: int, bit_depth: int, interlace: int) -> None:
    """Over 64 KiB of image data: the stored stream has several blocks, moved into place."""
    width, height = 161, 130 if bit_depth == 16 else 420
    samples = _samples(width, height, colour_type, bit_depth, seed=7)
    data = _png(samples, colour_type, bit_depth, interlace, idats=2)
    restored = _restored(data)
    assert restored is not None
    assert image_data_size(list(png_chunks(data, Path("x.png")))[0][1]) > 65535
    expected = imagecodecs.png_decode(data)
    assert np.array_equal(imagecodecs.png_decode(restored), expected)
    assert np.array_equal(decode_png(data, Path("x.png")), expected)
