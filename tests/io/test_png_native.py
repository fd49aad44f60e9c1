"""The compiled PNG path (``io.png_native`` on ``segstudio._native.pixels``): libpng's pixels,
libpng's errors, and the same PQ as the pure path.

Files are built byte by byte (``_png_files``), each filter type forced on every row, every layout
the compiled path takes, odd sizes, label-like and noise samples; the pure path and libpng decode
the same bytes. (``test_png_restore`` and ``test_png_unfilter`` run on both paths too.)
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import _png_files as made
import imagecodecs
import numpy as np
import pytest
from _png_files import GREY, RGB, chunk, filtered_rows, layout_png, row_bytes, stripes

from segstudio import _native
from segstudio.benchmarks.panoptic_data import write_generated_dataset
from segstudio.core.panoptic import rgb_to_ids
from segstudio.io.coco_panoptic import evaluate_panoptic_files, read_panoptic_png
from segstudio.io.images import ImageReadError
from segstudio.io.png import decode_png, decode_rgb_ids, png_chunks
from segstudio.io.png_native import decode_samples

TAKEN = [(kind, depth) for kind in (GREY, RGB, made.GREY_ALPHA, made.RGBA) for depth in (8, 16)]
SIZES = [(1, 1), (1, 9), (9, 1), (7, 5), (19, 12)]


def test_the_extension_is_built() -> None:
    """The dev install builds it (the Makefile checks too): without it every test of the pure
    path would still pass and the speed would be gone unnoticed."""
    assert _native.pixels is not None


def _samples(width: int, height: int, colour_type: int, bit_depth: int, data: str, seed: int) -> np.ndarray:
    if data == "noise":  # Paeth's worst case: every byte an edge, all three predictors chosen
        rng = np.random.default_rng(seed)
        return rng.integers(0, 2**bit_depth, (height, width, made.SAMPLES[colour_type]))
    return stripes(width, height, colour_type, bit_depth, seed)


def _image_data(data: bytes) -> tuple[bytes, bytes]:
    chunks = list(png_chunks(data, Path("x.png")))
    return chunks[0][1], b"".join(body for kind, body in chunks if kind == b"IDAT")


@pytest.mark.parametrize(("colour_type", "bit_depth"), TAKEN)
@pytest.mark.parametrize("kind", range(5))
@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("data", ["labels", "noise"])
def test_every_filter_on_every_row_decodes_as_libpng(
    colour_type: int,
    bit_depth: int,
    kind: int,
    width: int,
    height: int,
    data: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    samples = _samples(width, height, colour_type, bit_depth, data, seed=kind + width * height)
    png = layout_png(samples, colour_type, bit_depth, idats=2, filters=[kind])
    expected = imagecodecs.png_decode(png)
    ours = decode_samples(*_image_data(png))
    assert ours is not None, "the compiled path must take this file"
    assert ours.dtype == expected.dtype and ours.shape == expected.shape and ours.flags.writeable
    np.testing.assert_array_equal(ours, expected)
    np.testing.assert_array_equal(ours.reshape(samples.shape), samples)
    np.testing.assert_array_equal(decode_png(png, Path("x.png")), expected)
    monkeypatch.setattr(_native, "pixels", None)
    assert decode_samples(*_image_data(png)) is None
    np.testing.assert_array_equal(decode_png(png, Path("x.png")), expected)  # the pure path


@pytest.mark.parametrize(
    ("colour_type", "bit_depth", "interlace"), [(made.INDEXED, 8, 0), (GREY, 4, 0), (RGB, 8, 1), (GREY, 1, 0)]
)
def test_other_layouts_are_left_to_libpng(colour_type: int, bit_depth: int, interlace: int) -> None:
    samples = stripes(11, 6, colour_type, bit_depth, seed=3)
    png = layout_png(samples, colour_type, bit_depth, interlace)
    assert decode_samples(*_image_data(png)) is None
    np.testing.assert_array_equal(decode_png(png, Path("x.png")), imagecodecs.png_decode(png))


@pytest.mark.parametrize("kind", [*range(5), None])
@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("data", ["labels", "noise"])
def test_panoptic_ids_come_straight_from_the_rows(
    kind: int | None, width: int, height: int, data: str
) -> None:
    samples = _samples(width, height, RGB, 8, data, seed=width + height)
    png = layout_png(samples, RGB, 8, idats=3, **({} if kind is None else {"filters": [kind]}))
    ids = decode_rgb_ids(png, Path("x.png"))
    assert ids is not None and ids.dtype == np.uint32 and ids.flags.writeable
    np.testing.assert_array_equal(ids, rgb_to_ids(imagecodecs.png_decode(png)))


@pytest.mark.parametrize(("colour_type", "bit_depth"), [(made.RGBA, 8), (RGB, 16), (GREY, 8)])
def test_ids_of_other_layouts_are_left_to_the_rgb_path(colour_type: int, bit_depth: int) -> None:
    png = layout_png(stripes(5, 4, colour_type, bit_depth, seed=1), colour_type, bit_depth)
    assert decode_rgb_ids(png, Path("x.png")) is None


def _rgb_file(stream: bytes, width: int = 6, height: int = 4) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, RGB, 0, 0, 0)
    return made.SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")


@pytest.mark.usefixtures("pixel_loops")
@pytest.mark.parametrize("damage", ["filter type 5", "cut short", "bad adler32", "extra rows"])
def test_broken_panoptic_pngs_fail_or_decode_as_libpng_naming_the_file(tmp_path: Path, damage: str) -> None:
    kinds = iter([made.PAETH, made.SUB] * 2)
    rows = filtered_rows(row_bytes(stripes(6, 4, RGB, 8, seed=2), 8), 3, kinds)
    stream = zlib.compress(rows)
    if damage == "filter type 5":
        stream = zlib.compress(rows[:19] + b"\x05" + rows[20:])
    elif damage == "cut short":
        stream = stream[: len(stream) // 2]
    elif damage == "bad adler32":
        stream = stream[:-1] + bytes([stream[-1] ^ 1])
    else:
        stream = zlib.compress(rows + rows[:19])
    path = tmp_path / "broken.png"
    path.write_bytes(_rgb_file(stream))
    try:
        expected = rgb_to_ids(imagecodecs.png_decode(path.read_bytes()))
    except imagecodecs.PngError as error:
        with pytest.raises(ImageReadError) as caught:
            read_panoptic_png(path)
        assert str(caught.value) == f"{path}: corrupt or truncated PNG ({error})"
        return
    np.testing.assert_array_equal(read_panoptic_png(path), expected)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((b"\x00" * 7, bytearray(6), 1, 6, 3), None),
        ((b"\x00" * 7, bytearray(5), 1, 6, 3), "output bytes"),
        ((b"\x00" * 6, bytearray(6), 1, 6, 3), "filtered"),
        ((b"\x00" * 7, bytearray(6), 1, 6, 4), "multiple of bpp"),
        ((b"\x00" * 7, bytearray(6), 1, 6, 5), "bpp"),
        ((b"\x06" + b"\x00" * 6, bytearray(6), 1, 6, 3), "row 0 has unknown filter type 6"),
    ],
)
def test_unfilter_refuses_what_does_not_add_up(arguments: tuple, message: str | None) -> None:
    assert _native.pixels is not None
    if message is None:
        assert _native.pixels.unfilter(*arguments) is None
        return
    with pytest.raises(ValueError, match=message):
        _native.pixels.unfilter(*arguments)


def test_pq_is_the_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated COCO-like pairs (PIL-style adaptive filters, as ``bench io``'s) scored on the
    compiled path and on the pure one: the same numbers, to the last bit."""
    data = write_generated_dataset(tmp_path, 6, width=96, height=72, predictions=6, seed=5)
    files = (data.gt_json, data.pred_json, tmp_path / "panoptic", tmp_path / "pred")
    compiled = evaluate_panoptic_files(*files)
    monkeypatch.setattr(_native, "pixels", None)
    assert evaluate_panoptic_files(*files) == compiled
    assert compiled["All"]["n"] > 0 and 0 < compiled["All"]["pq"] < 1
