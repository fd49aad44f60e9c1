"""PNG rows unfiltered in numpy (``io.png_unfilter``): bit-identical to libpng, or declined.

Rows are filtered here by hand, byte by byte as the PNG specification writes them, with each
filter type forced per row, and decoded both by ``png_unfilter`` and by libpng.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest

from segstudio.io.images import ImageReadError
from segstudio.io.png import decode_png, png_chunks
from segstudio.io.png_encode import PNG_SIGNATURE, encode_png, png_chunk
from segstudio.io.png_unfilter import (
    EDGES_MAX,
    PAETH_ROWS_MAX,
    REST_AFTER,
    RETRY_EVERY,
    decode_filtered,
    unfilter,
)

pytestmark = pytest.mark.usefixtures("pixel_loops")  # every test on both paths
NONE, SUB, UP, AVERAGE, PAETH = range(5)
COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter_rows(pixels: np.ndarray, kinds: list[int]) -> np.ndarray:
    """(H, 1 + row bytes): each row of ``pixels`` filtered with its kind, as an encoder does."""
    height, width = pixels.shape[:2]
    bpp = 1 if pixels.ndim == 2 else pixels.shape[2]
    samples = pixels.reshape(height, width * bpp).astype(int)
    rows = np.zeros((height, 1 + width * bpp), np.uint8)
    for y, kind in enumerate(kinds):
        rows[y, 0] = kind
        for x in range(width * bpp):
            a = samples[y, x - bpp] if x >= bpp else 0
            b = samples[y - 1, x] if y else 0
            c = samples[y - 1, x - bpp] if y and x >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            rows[y, 1 + x] = (samples[y, x] - predictor) % 256
    return rows


def _png(pixels: np.ndarray, rows: np.ndarray) -> bytes:
    height, width = pixels.shape[:2]
    bpp = 1 if pixels.ndim == 2 else pixels.shape[2]
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPE[bpp], 0, 0, 0)
    return b"".join(
        (PNG_SIGNATURE, png_chunk(b"IHDR", header), png_chunk(b"IDAT", zlib.compress(rows.tobytes())),
         png_chunk(b"IEND", b""))
    )  # fmt: skip


def _label_like(rng: np.random.Generator, height: int, width: int, bpp: int) -> np.ndarray:
    """Regions of a few colours with ragged edges: what label maps look like."""
    colours = rng.integers(0, 256, (4, bpp), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    region = ((xx + 2 * np.sin(yy) > width / 2).astype(int) + 2 * (yy + xx // 3 > height / 2)) % 4
    pixels = colours[region]
    return pixels[..., 0] if bpp == 1 else pixels


@pytest.fixture(autouse=True)
def awake() -> None:
    """The decoder taking files again (it rests after declining some in a row, maybe in an
    earlier test): a plain file offered until it takes one."""
    pixels = np.zeros((4, 4), np.uint8)
    chunks = dict(png_chunks(encode_png(pixels, "x"), Path("x.png")))
    taken = (decode_filtered(chunks[b"IHDR"], chunks[b"IDAT"]) for _ in range(RETRY_EVERY + 1))
    assert any(result is not None for result in taken)


@pytest.mark.parametrize("bpp", [1, 2, 3, 4])
@pytest.mark.parametrize("data", ["labels", "noise"])
@pytest.mark.parametrize("pattern", ["none", "sub", "up", "paeth", "mixed"])
def test_rows_unfilter_as_libpng_decodes_them(bpp: int, data: str, pattern: str) -> None:
    rng = np.random.default_rng(bpp * 10 + len(pattern) + len(data))
    height, width = 12, 19
    if data == "noise":  # the worst case for Paeth: every byte is an edge
        pixels = rng.integers(0, 256, (height, width, bpp), dtype=np.uint8)
        pixels = pixels[..., 0] if bpp == 1 else pixels
    else:
        pixels = _label_like(rng, height, width, bpp)
    single = {"none": NONE, "sub": SUB, "up": UP, "paeth": PAETH}
    kinds = [single[pattern]] * height if pattern in single else rng.choice([0, 1, 2, 4], height).tolist()
    rows = _filter_rows(pixels, kinds)
    libpng = imagecodecs.png_decode(_png(pixels, rows))
    np.testing.assert_array_equal(libpng, pixels)  # the hand-made filters are right
    ours = unfilter(rows, bpp)
    assert ours is not None
    np.testing.assert_array_equal(ours.reshape(pixels.shape), libpng)


def test_a_whole_file_of_plain_rows_decodes_here_and_as_libpng() -> None:
    pixels = _label_like(np.random.default_rng(1), 48, 64, 3)
    for data in (encode_png(pixels, "x"), _png(pixels, _filter_rows(pixels, [SUB, UP, UP, NONE] * 12))):
        chunks = dict(png_chunks(data, Path("x.png")))
        ours = decode_filtered(chunks[b"IHDR"], chunks[b"IDAT"])
        assert ours is not None and ours.flags.writeable
        np.testing.assert_array_equal(ours, imagecodecs.png_decode(data))
        np.testing.assert_array_equal(decode_png(data, Path("x.png")), pixels)


@pytest.mark.parametrize(
    "kinds",
    [
        [AVERAGE] + [UP] * 19,  # Average rows: libpng's
        [SUB] * 19 + [AVERAGE],
        [PAETH] + [UP] * 19,  # Paeth among the first rows: an adaptive-filter encoder's file
        [UP] * 16 + [PAETH] * 4,  # later Paeth rows are done here
    ],
)
def test_files_this_decoder_declines_still_decode_exactly(kinds: list[int]) -> None:
    pixels = _label_like(np.random.default_rng(2), 20, 24, 3)
    data = _png(pixels, _filter_rows(pixels, kinds))
    chunks = dict(png_chunks(data, Path("x.png")))
    declined = decode_filtered(chunks[b"IHDR"], chunks[b"IDAT"]) is None
    assert declined == (AVERAGE in kinds or PAETH in kinds[:16])
    np.testing.assert_array_equal(decode_png(data, Path("x.png")), pixels)


def test_too_many_paeth_rows_or_corrections_are_left_to_libpng() -> None:
    rng = np.random.default_rng(4)
    labels = _label_like(rng, PAETH_ROWS_MAX + 2, 30, 3)
    assert unfilter(_filter_rows(labels, [PAETH] * len(labels)), 3) is None
    noise = rng.integers(0, 256, (8, EDGES_MAX // 6, 3), dtype=np.uint8)
    assert unfilter(_filter_rows(noise, [UP] + [PAETH] * 7), 3) is None
    assert unfilter(_filter_rows(noise[:2], [UP, PAETH]), 3) is not None


def test_a_stream_with_more_data_than_the_image_decodes_as_libpng_decodes_it() -> None:
    pixels = _label_like(np.random.default_rng(5), 10, 12, 3)
    rows = _filter_rows(pixels, [SUB] * 10).tobytes() + b"\0" * 37
    data = _png(pixels, np.frombuffer(rows, np.uint8)[None])
    np.testing.assert_array_equal(decode_png(data, Path("x.png")), pixels)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_broken_stream_is_one_error_naming_the_file(damage: str) -> None:
    pixels = _label_like(np.random.default_rng(6), 10, 12, 3)
    stream = zlib.compress(_filter_rows(pixels, [SUB] * 10).tobytes())
    stream = stream[: len(stream) // 2] if damage == "truncated" else stream[:2] + b"\xff" * 40
    header = struct.pack(">IIBBBBB", 12, 10, 8, 2, 0, 0, 0)
    data = PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")
    with pytest.raises(ImageReadError, match=r"^broken\.png: corrupt or truncated PNG") as caught:
        decode_png(data, Path("broken.png"))
    assert "\n" not in str(caught.value)


def test_coco_pngs_decode_as_libpng_decodes_them(coco_panoptic_sample: Path) -> None:
    for png in sorted((coco_panoptic_sample / "panoptic_examples").glob("*.png")):
        data = png.read_bytes()
        np.testing.assert_array_equal(decode_png(data, png), imagecodecs.png_decode(data))
        chunks = list(png_chunks(data, png))
        rows = np.frombuffer(zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT")), np.uint8)
        width, height = struct.unpack(">II", chunks[0][1][:8])
        rows = rows.reshape(height, 1 + 3 * width)
        assert PAETH in rows[:, 0]  # COCO's PIL-written files: Sub, Up and Paeth rows
        ours = _unfilter_in_pieces(rows)
        np.testing.assert_array_equal(ours.reshape(height, width, 3), imagecodecs.png_decode(data))


def _unfilter_in_pieces(rows: np.ndarray) -> np.ndarray:
    """``unfilter`` over an image with more Paeth rows than it takes at once, 8 rows at a time,
    each piece led by the previous piece's last row as a None row (what its first row needs)."""
    out = np.empty((rows.shape[0], rows.shape[1] - 1), np.uint8)
    previous = None
    for start in range(0, rows.shape[0], 8):
        piece = rows[start : start + 8]
        if previous is not None:
            piece = np.concatenate([np.concatenate([[NONE], previous]).astype(np.uint8)[None], piece])
        done = unfilter(piece, 3)
        assert done is not None
        done = done[1:] if previous is not None else done
        out[start : start + len(done)] = done
        previous = done[-1]
    return out


def test_after_files_it_declines_in_a_row_it_rests_and_tries_again_now_and_then() -> None:
    pixels = _label_like(np.random.default_rng(7), 20, 24, 3)
    plain = dict(png_chunks(_png(pixels, _filter_rows(pixels, [SUB] + [UP] * 19)), Path("p.png")))
    paeth = dict(png_chunks(_png(pixels, _filter_rows(pixels, [PAETH] * 20)), Path("q.png")))
    assert decode_filtered(plain[b"IHDR"], plain[b"IDAT"]) is not None
    for _ in range(REST_AFTER):
        assert decode_filtered(paeth[b"IHDR"], paeth[b"IDAT"]) is None
    tried = [decode_filtered(plain[b"IHDR"], plain[b"IDAT"]) is not None for _ in range(RETRY_EVERY)]
    # resting, except the RETRY_EVERY-th file, which is decoded here: awake again from then on
    assert tried == [False] * (RETRY_EVERY - REST_AFTER) + [True] * REST_AFTER
    np.testing.assert_array_equal(
        decode_png(_png(pixels, _filter_rows(pixels, [PAETH] * 20)), Path("q")), pixels
    )


@pytest.mark.parametrize("layout", ["split-idat", "idat-before-ihdr", "two-ihdr", "multi-idat"])
def test_unusual_chunk_layouts_decode_as_libpng_decodes_them_or_fail_naming_the_file(layout: str) -> None:
    pixels = _label_like(np.random.default_rng(8), 10, 12, 3)
    stream = zlib.compress(_filter_rows(pixels, [SUB] * 10).tobytes())
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 12, 10, 8, 2, 0, 0, 0))
    half = len(stream) // 2
    first, second = png_chunk(b"IDAT", stream[:half]), png_chunk(b"IDAT", stream[half:])
    note = png_chunk(b"tEXt", b"Comment\0between")
    body = {
        "split-idat": ihdr + first + note + second,
        "idat-before-ihdr": first + ihdr + second,
        "two-ihdr": ihdr + ihdr + first + second,
        "multi-idat": ihdr + note + first + second + note,
    }[layout]
    data = PNG_SIGNATURE + body + png_chunk(b"IEND", b"")
    try:
        expected = imagecodecs.png_decode(data)
    except Exception:  # noqa: BLE001 - whatever libpng refuses must be refused here too
        with pytest.raises(ImageReadError, match=r"^odd\.png: "):
            decode_png(data, Path("odd.png"))
        return
    np.testing.assert_array_equal(decode_png(data, Path("odd.png")), expected)
