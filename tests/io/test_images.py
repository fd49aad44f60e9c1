"""Image reading: RGB (never BGR), 16-bit depth, EXIF orientation, cheap sizes, clear errors."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio.io.images import ImageReadError, ImageSize, image_size, read_depth, read_rgb, write_png

RED = (255, 0, 0)


def _tiff_orientation_block(orientation: int, big_endian: bool) -> bytes:
    """A minimal EXIF/TIFF block whose IFD0 holds only the Orientation tag."""
    order = ">" if big_endian else "<"
    header = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", 8)
    entry = struct.pack(order + "HHIH2x", 0x0112, 3, 1, orientation)
    return header + struct.pack(order + "H", 1) + entry + struct.pack(order + "I", 0)


def _png_with_orientation(rgb: np.ndarray, orientation: int, big_endian: bool = False) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    data = encoded.tobytes()
    payload = _tiff_orientation_block(orientation, big_endian)
    chunk = (
        struct.pack(">I", len(payload)) + b"eXIf" + payload + struct.pack(">I", zlib.crc32(b"eXIf" + payload))
    )
    return data[:33] + chunk + data[33:]  # signature (8) + IHDR (25), then eXIf


def _jpeg_with_orientation(rgb: np.ndarray, orientation: int, big_endian: bool = False) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    data = encoded.tobytes()
    payload = b"Exif\x00\x00" + _tiff_orientation_block(orientation, big_endian)
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


# What each EXIF orientation means, written independently of the code under test.
DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def test_write_png_saves_rgb_and_read_rgb_returns_rgb(tmp_path: Path) -> None:
    red = np.zeros((4, 6, 3), np.uint8)
    red[...] = RED
    path = tmp_path / "red.png"
    write_png(path, red)
    assert tuple(read_rgb(path)[0, 0]) == RED
    # The file itself holds red: OpenCV (BGR) sees blue = 0, red = 255.
    assert tuple(cv2.imread(str(path))[0, 0]) == (0, 0, 255)


def test_read_rgb_of_a_file_written_by_another_tool(tmp_path: Path) -> None:
    bgr_red = np.zeros((3, 3, 3), np.uint8)
    bgr_red[..., 2] = 255
    path = tmp_path / "external.jpg"
    assert cv2.imwrite(str(path), bgr_red)
    rgb = read_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (3, 3, 3)
    assert rgb[1, 1, 0] > 240 and rgb[1, 1, 1] < 15 and rgb[1, 1, 2] < 15


def test_grey_and_rgba_files_read_as_three_channel_rgb(tmp_path: Path) -> None:
    write_png(tmp_path / "grey.png", np.full((2, 3), 77, np.uint8))
    assert read_rgb(tmp_path / "grey.png").tolist() == np.full((2, 3, 3), 77).tolist()
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[...] = (10, 20, 30, 128)
    write_png(tmp_path / "rgba.png", rgba)
    assert tuple(read_rgb(tmp_path / "rgba.png")[0, 0]) == (10, 20, 30)


def test_depth_round_trip_keeps_every_16_bit_value(tmp_path: Path) -> None:
    depth = np.arange(0, 65536, 1, dtype=np.uint32).reshape(256, 256).astype(np.uint16)
    path = tmp_path / "depth.png"
    write_png(path, depth)
    back = read_depth(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, depth)


def test_depth_refuses_8_bit_and_colour(tmp_path: Path) -> None:
    write_png(tmp_path / "eight.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageReadError, match=r"eight\.png: 8-bit"):
        read_depth(tmp_path / "eight.png")
    write_png(tmp_path / "colour.png", np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(ImageReadError, match=r"colour\.png: .*3 channels"):
        read_depth(tmp_path / "colour.png")


def test_non_ascii_paths(tmp_path: Path) -> None:
    folder = tmp_path / "données 图像"
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    write_png(folder / "café.png", rgb)
    np.testing.assert_array_equal(read_rgb(folder / "café.png"), rgb)
    assert image_size(folder / "café.png") == (5, 7)
    depth = np.full((5, 7), 4321, np.uint16)
    write_png(folder / "глубина.png", depth)
    np.testing.assert_array_equal(read_depth(folder / "глубина.png"), depth)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("big_endian", [False, True])
def test_exif_orientation_of_png(tmp_path: Path, orientation: int, big_endian: bool) -> None:
    stored = np.random.default_rng(orientation).integers(0, 256, (5, 8, 3), dtype=np.uint8)
    path = tmp_path / "oriented.png"
    path.write_bytes(_png_with_orientation(stored, orientation, big_endian))
    rgb = read_rgb(path)
    np.testing.assert_array_equal(rgb, DISPLAYED[orientation](stored))
    assert image_size(path) == rgb.shape[:2]


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_of_jpeg(tmp_path: Path, orientation: int) -> None:
    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:16, :16] = RED  # a red block marks the stored top-left corner
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg_with_orientation(stored, orientation, big_endian=orientation == 6))
    rgb = read_rgb(path)
    expected = DISPLAYED[orientation](stored)
    assert rgb.shape == expected.shape
    red_found, red_expected = rgb[..., 0] > 128, expected[..., 0] > 128
    assert np.mean(red_found != red_expected) < 0.02  # JPEG blurs the block's edges a little
    assert image_size(path) == rgb.shape[:2]


def test_image_size_reads_only_the_header(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    write_png(path, np.random.default_rng(1).integers(0, 256, (300, 200, 3), dtype=np.uint8))
    data = bytearray(path.read_bytes())
    data[len(data) // 2 :] = b"\x00" * (len(data) - len(data) // 2)  # pixels destroyed, header intact
    path.write_bytes(bytes(data))
    assert image_size(path) == ImageSize(height=300, width=200)
    with pytest.raises(ImageReadError, match="big.png"):
        read_rgb(path)


def test_image_size_of_other_formats_decodes(tmp_path: Path) -> None:
    path = tmp_path / "image.bmp"
    assert cv2.imwrite(str(path), np.zeros((9, 4, 3), np.uint8))
    assert image_size(path) == ImageSize(9, 4)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.png", None, "file not found"),
        ("empty.png", b"", "empty file"),
        ("notes.png", b"this is not an image at all" * 10, "not an image"),
        ("truncated.png", "truncate", "not an image"),
    ],
)
def test_errors_name_the_file_and_the_problem(tmp_path: Path, name: str, content, problem: str) -> None:
    path = tmp_path / name
    if content == "truncate":
        write_png(path, np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8))
        path.write_bytes(path.read_bytes()[:300])
    elif content is not None:
        path.write_bytes(content)
    readers = (read_rgb, read_depth) if content == "truncate" else (read_rgb, read_depth, image_size)
    for reader in readers:  # image_size reads only a truncated file's (intact) header
        with pytest.raises(ImageReadError) as caught:
            reader(path)
        assert str(path) in str(caught.value) and problem in str(caught.value)
        assert isinstance(caught.value, OSError)


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="folder"):
        read_rgb(tmp_path)


def test_write_png_refuses_what_png_cannot_hold(tmp_path: Path) -> None:
    for array in (np.zeros((2, 2), np.uint32), np.zeros((2, 2), np.float32), np.zeros((2, 2, 2), np.uint8)):
        with pytest.raises(ValueError, match="out.png"):
            write_png(tmp_path / "out.png", array)
    assert not (tmp_path / "out.png").exists()
