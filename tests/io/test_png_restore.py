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
from _png_files import SIGNATURE, chunk

from segstudio.io.images import ImageReadError
from segstudio.io.png import decode_png, png_chunks
from segstudio.io.png_restore import ADAM7, image_data_size, restored_png, stored_zlib

GREY, RGB, INDEXED, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
SAMPLES = {GREY: 1, RGB: 3, INDEXED: 1, GREY_ALPHA: 2, RGBA: 4}
LAYOUTS = [(GREY, depth) for depth in (1, 2, 4, 8, 16)] + [(INDEXED, depth) for depth in (1, 2, 4, 8)]
LAYOUTS += [(kind, depth) for kind in (RGB, GREY_ALPHA, RGBA) for depth in (8, 16)]
NONE, SUB, UP, AVERAGE, PAETH = range(5)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _row_bytes(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """(H, bytes) of (H, W, C) samples packed as PNG stores them (MSB first, 16-bit big-endian)."""
    height = samples.shape[0]
    if bit_depth == 16:
        return samples.astype(">u2").reshape(height, -1).view(np.uint8)
    flat = samples.reshape(height, -1).astype(np.uint8)
    if bit_depth == 8:
        return flat
    bits = np.unpackbits(flat[:, :, None], axis=2)[:, :, 8 - bit_depth :].reshape(height, -1)
    return np.packbits(bits, axis=1)


def _filtered(rows: np.ndarray, bpp: int, kinds: cycle) -> bytes:
    """Each row filtered with the next kind of ``kinds``, byte by byte as the specification says."""
    out = bytearray()
    above = [0] * rows.shape[1]
    for row in rows.tolist():
        kind = next(kinds)
        out.append(kind)
        for x, value in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b, c = above[x], above[x - bpp] if x >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            out.append((value - predictor) % 256)
        above = row
    return bytes(out)


def _image_data(samples: np.ndarray, bit_depth: int, interlace: int) -> bytes:
    """The filtered image data of (H, W, C) samples, every filter type in turn (per pass when
    interlaced)."""
    bpp = max(1, samples.shape[2] * bit_depth // 8)
    kinds = cycle([PAETH, AVERAGE, SUB, UP, NONE, PAETH])
    if not interlace:
        return _filtered(_row_bytes(samples, bit_depth), bpp, kinds)
    passes = [samples[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7]
    return b"".join(_filtered(_row_bytes(p, bit_depth), bpp, kinds) for p in passes if p.size)


def _png(samples: np.ndarray, colour_type: int, bit_depth: int, interlace: int = 0, idats: int = 1) -> bytes:
    height, width = samples.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    stream = zlib.compress(_image_data(samples, bit_depth, interlace), 9)
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


def _samples(width: int, height: int, colour_type: int, bit_depth: int, seed: int) -> np.ndarray:
    """Label-like samples: regions of few values, noise in one corner (so Paeth's three choices occur)."""
    rng = np.random.default_rng(seed)
    top = 2**bit_depth
    channels = SAMPLES[colour_type]
    region = rng.integers(0, top, (3, 3, channels))
    samples = np.kron(region, np.ones((height // 3 + 1, width // 3 + 1, 1), np.int64))[:height, :width]
    samples[: height // 2, : width // 2] = rng.integers(0, top, (height // 2, width // 2, channels))
    return samples


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
            assert image_data_size(header) == len(_image_data(samples, 16, interlace))
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
