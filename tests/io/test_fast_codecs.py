"""The fast writers and readers: PNGs written directly, label zips deflated through ISA-L, PNGs
read through libpng (imagecodecs).

They must be what standard readers read: every PNG decodes with OpenCV and Pillow to exactly
the pixels given, every zip opens with zipfile and numpy, the PNG reader gives OpenCV's pixels
for every row filter, and a torn or bit-flipped file is refused naming itself. Each write path
is also checked against the plain-zlib fallback.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.panoptic import rgb_to_ids
from segstudio.io import deflate
from segstudio.io.coco_panoptic import read_panoptic_png
from segstudio.io.images import ImageReadError
from segstudio.io.label_file import (
    LabelFileError,
    _member,
    read_label_file,
    read_label_tokens,
    write_label_file,
)
from segstudio.io.png import decode_png, png_chunk, png_header
from segstudio.io.png_encode import encode_png
from segstudio.io.zip_members import pack_members, read_members

DATE = (1980, 1, 1, 0, 0, 0)


def test_isal_is_in_use() -> None:
    assert deflate.accelerated()  # a dependency: without it everything still works, only slower


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, deflate.RAW])
def test_deflate_streams_are_standard(wbits: int) -> None:
    data = bytes(np.repeat(np.arange(200, dtype=np.uint8), 997))
    packed = deflate.compress(data, wbits=wbits)
    assert zlib.decompress(packed, wbits) == data
    assert deflate.decompress(zlib.compress(data, 9) if wbits > 0 else packed, wbits) == data
    assert deflate.crc32(data) == zlib.crc32(data)
    with pytest.raises(deflate.ERRORS):
        deflate.decompress(packed[:-5] + b"xxxxx", wbits)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([np.uint8, np.uint16]).flatmap(
        lambda dtype: arrays(
            dtype,
            st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([0, 3, 4])).map(
                lambda s: s[:2] if s[2] == 0 else s
            ),
        )
    )
)
def test_png_encoder_round_trips_through_opencv_and_pillow(pixels: np.ndarray) -> None:
    data = encode_png(pixels, "test")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels.ndim == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB if pixels.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    assert decoded.dtype == pixels.dtype
    np.testing.assert_array_equal(decoded.reshape(pixels.shape), pixels)
    if pixels.dtype == np.uint8:
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)


def test_indexed_png_keeps_indices_and_colours() -> None:
    values = np.arange(60, dtype=np.uint8).reshape(6, 10) % 4
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    data = encode_png(values, "test", palette=colours)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P" and png_header(data, Path("x.png")).colour_type == 3
    np.testing.assert_array_equal(np.asarray(image), values)
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), colours[values])


@pytest.mark.parametrize(
    ("pixels", "problem"),
    [
        (np.zeros((2, 2), np.float32), "uint8 or uint16"),
        (np.zeros((2, 2, 5), np.uint8), "shape"),
        (np.zeros((0, 3), np.uint8), "empty"),
    ],
)
def test_png_encoder_refuses_what_png_cannot_hold(pixels: np.ndarray, problem: str) -> None:
    with pytest.raises(ValueError, match=f"where.png: .*{problem}"):
        encode_png(pixels, "where.png")


def _pieces(members: dict[str, bytes]) -> dict[str, list[bytes]]:
    """Each member in two pieces, as label files give them (header, array memory)."""
    return {name: [data[:7], data[7:]] for name, data in members.items()}


def test_zip_members_are_a_standard_zip() -> None:
    members = {"a.npy": b"x" * 10_000, "b.npy": bytes(range(256)) * 7, "empty": b""}
    data = pack_members(_pieces(members), DATE)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in archive.namelist()} == members
        assert [info.date_time for info in archive.infolist()] == [DATE] * 3
    assert read_members(data) == members
    assert read_members(data, {"b.npy", "missing"}) == {"b.npy": members["b.npy"]}
    assert pack_members(_pieces(members), DATE) == data  # the same bytes for the same members


def test_zip_members_read_what_zipfile_writes_at_any_level() -> None:
    members = {"a": b"abc" * 5000, "b": b"stored"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a", members["a"], zipfile.ZIP_DEFLATED, 9)
        archive.writestr("b", members["b"], zipfile.ZIP_STORED)
    assert read_members(buffer.getvalue()) == members
    assert read_members(pack_members(_pieces(members), DATE, compresslevel=6)) == members


def test_a_flipped_byte_in_a_member_is_refused() -> None:
    data = bytearray(pack_members({"a": [bytes(range(256)) * 40]}, DATE))
    data[60] ^= 0x10  # inside the deflated member
    with pytest.raises((zipfile.BadZipFile, *deflate.ERRORS)):
        read_members(bytes(data))


def _labels() -> LabelMap:
    category = np.zeros((40, 50), np.uint16)
    category[5:20, 10:40] = 3
    instance = np.zeros((40, 50), np.uint32)
    instance[5:20, 10:25] = 70_000
    return LabelMap(category, instance, np.full((40, 50), Provenance.HUMAN, np.uint8), {(3, 70_000)})


@pytest.mark.parametrize("compresslevel", [1, 6])
def test_label_files_round_trip_and_open_with_numpy(tmp_path: Path, compresslevel: int) -> None:
    labels = _labels()
    path = tmp_path / "labels.npz"
    revision = write_label_file(path, labels, base="b0", compresslevel=compresslevel)
    stored = read_label_file(path)
    for name in ("category", "instance", "provenance"):
        np.testing.assert_array_equal(getattr(stored.labels, name), getattr(labels, name))
        assert getattr(stored.labels, name).flags.writeable  # the editor draws into them
    assert stored.labels.crowd == labels.crowd
    assert (stored.revision, stored.base) == (revision, "b0")
    assert read_label_tokens(path) == (revision, "b0")
    with np.load(path, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["instance"], labels.instance)


def test_a_torn_label_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "labels.npz"
    write_label_file(path, _labels(), compresslevel=1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LabelFileError, match="labels.npz: corrupt or truncated"):
        read_label_file(path)
    flipped = bytearray(data)
    flipped[200] ^= 0xFF
    path.write_bytes(bytes(flipped))
    with pytest.raises(LabelFileError, match="labels.npz: corrupt or truncated"):
        read_label_file(path)


def test_without_isal_the_same_formats_come_from_zlib(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fast_png = encode_png(np.arange(120, dtype=np.uint8).reshape(10, 12), "x")
    monkeypatch.setattr(deflate, "_fast", None)
    assert not deflate.accelerated()
    data = bytes(np.repeat(np.arange(50, dtype=np.uint8), 333))
    assert zlib.decompress(deflate.compress(data, wbits=deflate.RAW), deflate.RAW) == data
    assert deflate.decompress(deflate.compress(data)) == data
    slow_png = encode_png(np.arange(120, dtype=np.uint8).reshape(10, 12), "x")
    decoded = [cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_UNCHANGED) for d in (fast_png, slow_png)]
    np.testing.assert_array_equal(decoded[0], decoded[1])
    write_label_file(tmp_path / "labels.npz", _labels(), compresslevel=1)
    np.testing.assert_array_equal(
        read_label_file(tmp_path / "labels.npz").labels.instance, _labels().instance
    )


def test_npy_members_read_as_numpy_reads_them() -> None:
    arrays = {
        "c": np.arange(12, dtype=">u2").reshape(3, 4),
        "f": np.asfortranarray(np.arange(12, dtype=np.uint32).reshape(3, 4)),
        "s": np.array("token"),
        "e": np.zeros((0, 2), np.int64),
    }
    members = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, version=(2, 0) if name == "f" else None)
        members[f"{name}.npy"] = buffer.getvalue()
    for name, array in arrays.items():
        read = _member(members, name)
        assert read.dtype == array.dtype and read.shape == array.shape and read.flags.writeable
        np.testing.assert_array_equal(read, array)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([{"x": 1}], object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        _member({"o.npy": buffer.getvalue()}, "o")
    with pytest.raises(ValueError, match="cut short"):
        _member({"c.npy": members["c.npy"][:-3]}, "c")


def _opencv_png(pixels: np.ndarray, png_filter: int | None, level: int = 6) -> bytes:
    bgr = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_PNG_COMPRESSION, level]
    if png_filter is not None:
        params += [cv2.IMWRITE_PNG_FILTER, png_filter]
    ok, encoded = cv2.imencode(".png", bgr, params)
    assert ok
    return encoded.tobytes()


def _label_like(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Blocks of a few values plus some noise: the rows differ from the ones above and beside."""
    blocks = (-(-shape[0] // 8), -(-shape[1] // 9))
    coarse = rng.integers(0, np.iinfo(dtype).max, blocks + shape[2:], dtype=dtype)
    pixels = np.repeat(np.repeat(coarse, 8, axis=0), 9, axis=1)[: shape[0], : shape[1]]
    noise = rng.random(pixels.shape[:2]) < 0.05
    pixels[noise] = rng.integers(0, 255, pixels[noise].shape, dtype=dtype)
    return np.ascontiguousarray(pixels)


@pytest.mark.parametrize("png_filter", ["none", "sub", "up", "avg", "paeth", "ours"])
@pytest.mark.parametrize(
    ("shape", "dtype"), [((30, 41, 3), np.uint8), ((30, 41), np.uint8), ((30, 41), np.uint16)]
)
def test_pngs_decode_to_the_pixels_written(png_filter: str, shape: tuple[int, ...], dtype: type) -> None:
    pixels = _label_like(np.random.default_rng(len(shape) + len(png_filter)), shape, dtype)
    if png_filter == "ours":
        data = encode_png(pixels, "x")
    else:
        data = _opencv_png(pixels, getattr(cv2, f"IMWRITE_PNG_FILTER_{png_filter.upper()}"))
    decoded = decode_png(data, Path("x.png"))
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, pixels)


def test_mixed_row_filters_decode_exactly() -> None:
    pixels = _label_like(np.random.default_rng(7), (40, 33, 3), np.uint8)
    rows = np.zeros((40, 1 + 99), np.uint8)
    flat = pixels.reshape(40, 99)
    for y in range(40):  # a pattern of none / sub / up rows, filtered by hand
        kind = (0, 1, 2, 2, 1)[y % 5] if y else 1
        rows[y, 0] = kind
        if kind == 0:
            rows[y, 1:] = flat[y]
        elif kind == 1:
            rows[y, 1:] = flat[y] - np.concatenate([np.zeros(3, np.uint8), flat[y, :-3]])
        else:
            rows[y, 1:] = flat[y] - flat[y - 1]
    good = encode_png(pixels, "x")
    ihdr = good[8:33]
    data = good[:8] + ihdr + png_chunk(b"IDAT", zlib.compress(rows.tobytes())) + png_chunk(b"IEND", b"")
    np.testing.assert_array_equal(decode_png(data, Path("x.png")), pixels)


def test_panoptic_pngs_read_the_same_whatever_the_filters(tmp_path: Path) -> None:
    rgb = _label_like(np.random.default_rng(5), (30, 41, 3), np.uint8)
    for name, data in (
        ("ours.png", encode_png(rgb, "x")),
        ("paeth.png", _opencv_png(rgb, cv2.IMWRITE_PNG_FILTER_PAETH)),
    ):
        (tmp_path / name).write_bytes(data)
        np.testing.assert_array_equal(read_panoptic_png(tmp_path / name), rgb_to_ids(rgb))


def _with_rows(rows: bytes, good: bytes) -> bytes:
    """``good``'s header (its first 33 bytes) with ``rows`` as its one IDAT, CRCs intact."""
    return good[:33] + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


def test_a_stream_shorter_than_its_rows_is_refused_naming_the_file() -> None:
    short = _with_rows(b"\0" * 50, encode_png(np.zeros((10, 10), np.uint8), "x"))
    with pytest.raises(ImageReadError, match=r"^short\.png: corrupt or truncated PNG \(.+\)$"):
        decode_png(short, Path("short.png"))


def test_an_unknown_row_filter_is_refused_naming_the_file() -> None:
    rows = np.zeros((12, 1 + 30), np.uint8)
    rows[5, 0] = 9  # filter types stop at 4 (Paeth)
    data = _with_rows(rows.tobytes(), encode_png(np.zeros((12, 10, 3), np.uint8), "x"))
    with pytest.raises(ImageReadError, match=r"^bad\.png: corrupt or truncated PNG"):
        decode_png(data, Path("bad.png"))


def _a_label_png(tmp_path: Path) -> Path:
    path = tmp_path / "map.png"
    path.write_bytes(_opencv_png(_label_like(np.random.default_rng(3), (60, 70, 3), np.uint8), None))
    return path


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_a_torn_panoptic_png_is_one_line_naming_the_file(tmp_path: Path, keep: float) -> None:
    path = _a_label_png(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageReadError, match=r"map\.png: truncated PNG") as caught:
        read_panoptic_png(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("where", [0.2, 0.5, 0.8])
def test_a_bit_flip_in_a_panoptic_png_is_one_line_naming_the_file(tmp_path: Path, where: float) -> None:
    path = _a_label_png(tmp_path)
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x08
    path.write_bytes(bytes(data))
    with pytest.raises(
        ImageReadError, match=r"map\.png: corrupt PNG \(bad CRC in (IDAT|IHDR) chunk\)"
    ) as caught:
        read_panoptic_png(path)
    assert "\n" not in str(caught.value)
