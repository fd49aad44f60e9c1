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
from hypothesis import given, settings
from hypothesis import strategies as st

from segstudio import _native
from segstudio.benchmarks.panoptic_data import write_generated_dataset
from segstudio.core.panoptic import rgb_to_ids
from segstudio.io.coco_panoptic import evaluate_panoptic_files, read_panoptic_png
from segstudio.io.images import ImageReadError
from segstudio.io.png import decode_png, decode_rgb_ids, png_chunks, png_header, rgb_rows
from segstudio.io.png_native import RgbRows, decode_samples, pair_counts, plain_rgb_rows

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


def _counts_of_maps(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What ``pair_counts`` must give: numpy's unique pairs of the two id maps, with their counts."""
    keys, counts = np.unique(first.astype(np.uint64) << np.uint64(32) | second, return_counts=True)
    return (keys >> np.uint64(32)).astype(np.uint32), keys.astype(np.uint32), counts


def _rows(png: bytes) -> RgbRows:
    rows = rgb_rows(png, Path("x.png"))
    assert rows is not None, "the compiled path must take this file"
    return rows


@pytest.mark.parametrize("kind", [*range(5), None])
@pytest.mark.parametrize(("width", "height"), [*SIZES, (700, 3), (1030, 2)])  # rows over 512 and 1024 values
@pytest.mark.parametrize("data", ["labels", "noise"])
def test_pair_counts_from_two_pngs_rows_are_those_of_their_id_maps(
    kind: int | None, width: int, height: int, data: str
) -> None:
    filters = {} if kind is None else {"filters": [kind]}
    pngs = [
        layout_png(_samples(width, height, RGB, 8, data, seed=seed), RGB, 8, idats=2, **filters)
        for seed in (width, height + 1)
    ]
    maps = [rgb_to_ids(imagecodecs.png_decode(png)) for png in pngs]
    counted = pair_counts(_rows(pngs[0]), _rows(pngs[1]))
    assert counted is not None
    for ours, expected in zip(counted, _counts_of_maps(*maps), strict=True):
        assert ours.dtype == expected.dtype
        np.testing.assert_array_equal(ours, expected)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 12),
    st.lists(st.integers(0, 4), min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
)
def test_pair_counts_of_any_filters_and_regions_are_numpys(
    width: int, height: int, filters: list[int], seed: int
) -> None:
    """Few ids in blocks (long runs, runs across row ends) with any mix of row filters."""
    rng = np.random.default_rng(seed)
    pngs = []
    for _ in range(2):
        palette = rng.integers(0, 256, (3, 3))
        blocks = rng.integers(0, 3, (height // 3 + 1, width // 4 + 1))
        samples = palette[np.kron(blocks, np.ones((3, 4), np.int64))[:height, :width]]
        pngs.append(layout_png(samples, RGB, 8, filters=filters))
    maps = [rgb_to_ids(imagecodecs.png_decode(png)) for png in pngs]
    counted = pair_counts(_rows(pngs[0]), _rows(pngs[1]))
    assert counted is not None
    for ours, expected in zip(counted, _counts_of_maps(*maps), strict=True):
        np.testing.assert_array_equal(ours, expected)


def test_pair_counts_leave_other_sizes_and_unknown_filters_to_the_maps() -> None:
    """None, so the caller decodes each map: ``pq_image`` names the sizes, libpng the broken row."""
    first = _rows(layout_png(stripes(6, 4, RGB, 8, seed=1), RGB, 8))
    assert pair_counts(first, _rows(layout_png(stripes(6, 5, RGB, 8, seed=1), RGB, 8))) is None
    assert pair_counts(first, _rows(layout_png(stripes(5, 4, RGB, 8, seed=1), RGB, 8))) is None
    broken = RgbRows(first.height, first.width, first.data[:19] + b"\x05" + first.data[20:])  # row 1's filter
    assert pair_counts(first, broken) is None and pair_counts(broken, first) is None
    assert _native.pixels is not None
    with pytest.raises(ValueError, match="b: row 1 has unknown filter type 5"):
        _native.pixels.pair_counts_rgb(first.data, broken.data, 4, 6)
    with pytest.raises(ValueError, match="filtered bytes each"):
        _native.pixels.pair_counts_rgb(first.data, first.data[:-1], 4, 6)
    with pytest.raises(ValueError, match="height >= 1"):
        _native.pixels.pair_counts_rgb(b"", b"", 0, 6)


@pytest.mark.parametrize("broken", ["gt", "pred"])
def test_a_pair_with_a_broken_row_fails_as_its_map_alone_does(tmp_path: Path, broken: str) -> None:
    """A file whose stream and CRCs are fine but whose row has filter type 5: the pair's compiled
    count declines it and the map's own decoding gives libpng's error, naming the file."""
    data = write_generated_dataset(tmp_path, 2, width=24, height=16, predictions=2, seed=3)
    folder = tmp_path / ("panoptic" if broken == "gt" else "pred")
    path = sorted(folder.glob("*.png"))[1]
    rows = _rows(path.read_bytes())
    damaged = rows.data[: 3 * 24 + 1] + b"\x05" + rows.data[3 * 24 + 2 :]
    path.write_bytes(_rgb_file(zlib.compress(damaged), 24, 16))
    with pytest.raises(ImageReadError) as alone:
        read_panoptic_png(path)
    with pytest.raises(ImageReadError) as in_pair:
        evaluate_panoptic_files(data.gt_json, data.pred_json, jobs=2)
    assert str(in_pair.value) == str(alone.value) and str(path) in str(alone.value)


# -- plain 8-bit RGB files' chunks walked in C (png_native.plain_rgb_rows, eval panoptic's reads) --


def _plain_rgb_file(
    *, idats: int = 1, extra: tuple[tuple[bytes, bytes, int], ...] = (), seed: int = 0
) -> bytes:
    """An 8-bit RGB file of label-like rows, its stream cut into ``idats`` IDATs; ``extra`` chunks
    (type, body, index among the chunks after the IHDR) put in between."""
    rows = filtered_rows(row_bytes(stripes(13, 7, RGB, 8, seed), 8), 3, iter([made.UP, made.PAETH] * 4))
    stream = zlib.compress(rows)
    cut = [stream[len(stream) * n // idats : len(stream) * (n + 1) // idats] for n in range(idats)]
    chunks = [chunk(b"IDAT", body) for body in cut] + [chunk(b"IEND", b"")]
    for kind, body, index in extra:
        chunks.insert(index, chunk(kind, body))
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 13, 7, 8, RGB, 0, 0, 0))
    return made.SIGNATURE + header + b"".join(chunks)


def _python_rows(data: bytes) -> RgbRows | None | type[Exception]:
    """What eval's Python path makes of the bytes: the rows, None (libpng's to decode), or the error type."""
    path = Path("x.png")
    try:
        header = png_header(data, path)
        if (header.colour_type, header.bit_depth) != (RGB, 8):
            return ImageReadError
        return rgb_rows(data, path)
    except ImageReadError:
        return ImageReadError


@pytest.mark.parametrize(
    "data",
    [
        _plain_rgb_file(),
        _plain_rgb_file(idats=3),
        _plain_rgb_file(extra=((b"tEXt", b"Software\x00x", 0), (b"pHYs", bytes(9), 1))),
        _plain_rgb_file(idats=2, extra=((b"tIME", bytes(7), 2),)),  # after the IDATs
        _plain_rgb_file() + b"trailing bytes",  # after IEND: not read, as by png_chunks
    ],
)
def test_plain_rgb_files_are_walked_in_c_as_in_python(data: bytes) -> None:
    rows = plain_rgb_rows(data)
    assert rows is not None and rows == _python_rows(data)


@pytest.mark.parametrize(
    "data",
    [
        _plain_rgb_file(extra=((b"tRNS", bytes(6), 0),)),  # asks for a transform: libpng's
        _plain_rgb_file(extra=((b"gAMA", bytes(4), 0),)),
        _plain_rgb_file(idats=2, extra=((b"tEXt", b"a\x00b", 1),)),  # two runs of IDATs
        _plain_rgb_file(extra=((b"IHDR", struct.pack(">IIBBBBB", 13, 7, 8, RGB, 0, 0, 0), 0),)),
        _plain_rgb_file().replace(b"IHDR", b"IHDX"),
        _plain_rgb_file()[:-12],  # no IEND
        _plain_rgb_file()[:-20],  # cut inside the IDAT
        _rgb_file(zlib.compress(b"\x00" * 10)).replace(
            struct.pack(">IIBB", 3, 1, 8, RGB), struct.pack(">IIBB", 3, 1, 16, RGB)
        ),
    ],
)
def test_other_files_are_left_to_the_python_path(data: bytes) -> None:
    assert plain_rgb_rows(data) is None


def test_any_header_but_plain_8_bit_rgb_is_left_to_the_python_path() -> None:
    data = _plain_rgb_file()
    fields = [(24, 16), (25, 0), (25, 6), (26, 1), (27, 1), (28, 1), (19, 0), (23, 0)]  # IHDR bytes
    for offset, value in fields:
        changed = bytearray(data)
        changed[offset] = value
        body = bytes(changed[16:29])
        changed[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + body))
        assert plain_rgb_rows(bytes(changed)) is None, offset


@settings(max_examples=300, deadline=None)
@given(
    idats=st.integers(1, 4),
    text=st.binary(max_size=40),
    at=st.integers(0, 4),
    cut=st.integers(0, 400),
    flip=st.integers(0, 400),
    bit=st.integers(0, 7),
)
def test_damaged_files_are_taken_only_where_python_takes_them_alike(
    idats: int, text: bytes, at: int, cut: int, flip: int, bit: int
) -> None:
    data = bytearray(_plain_rgb_file(idats=idats, extra=((b"zTXt", text, min(at, idats)),)))
    if flip < len(data):
        data[flip] ^= 1 << bit
    data = data[: len(data) - cut // 4] if cut % 3 == 0 else data
    expected = _python_rows(bytes(data))
    rows = plain_rgb_rows(bytes(data))
    assert rows is None or rows == expected
    if expected is not ImageReadError and expected is not None and flip >= 8 and cut % 3 != 0:
        assert rows == expected  # what Python takes plainly, C takes too


def test_without_the_extension_nothing_is_walked_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_native, "pixels", None)
    assert plain_rgb_rows(_plain_rgb_file()) is None
