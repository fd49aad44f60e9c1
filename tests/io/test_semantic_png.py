"""Semantic label PNGs: grey and indexed (VOC-style) files, exact values, folder datasets."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from _png_files import GREY, chunk_bodies, packed_rows, png_file

from segstudio.core.labels import VOID, LabelMap
from segstudio.core.palette import ClassDef, Palette, builtin_palette
from segstudio.io.datasets import DatasetError
from segstudio.io.images import ImageReadError
from segstudio.io.semantic_png import (
    read_label_values,
    read_semantic_dataset,
    read_semantic_png,
    write_semantic_dataset,
    write_semantic_png,
)

VOC = builtin_palette("voc")


def _labels(seed: int = 0, shape: tuple[int, int] = (37, 53), high: int = 21) -> LabelMap:
    category = np.random.default_rng(seed).integers(0, high, shape).astype(np.uint16)
    category[:3, :5] = VOID
    return LabelMap.from_arrays(category)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filtered_rows(values: np.ndarray) -> bytes:
    """PNG rows using filter types 0..4 in turn (1 byte per pixel), as encoders like PIL's may."""
    out = bytearray()
    prior = [0] * values.shape[1]
    for y, row in enumerate(values.tolist()):
        kind = y % 5
        out.append(kind)
        for x, v in enumerate(row):
            left = row[x - 1] if x else 0
            up, up_left = prior[x], prior[x - 1] if x else 0
            predictor = [0, left, up, (left + up) // 2, _paeth(left, up, up_left)][kind]
            out.append((v - predictor) % 256)
        prior = row
    return bytes(out)


# -- one file ------------------------------------------------------------------------------------


def test_indexed_png_is_a_voc_style_palette_png_and_round_trips(tmp_path: Path) -> None:
    labels = _labels()
    path = tmp_path / "a.png"
    write_semantic_png(path, labels, palette=VOC)
    data = path.read_bytes()
    chunks = chunk_bodies(data)
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (width, height, bit_depth, colour_type) == (53, 37, 8, 3)
    plte = np.frombuffer(chunks[b"PLTE"], np.uint8).reshape(-1, 3)
    assert len(plte) == 256
    assert tuple(plte[255]) == (224, 224, 192)  # VOC void border
    assert tuple(plte[1]) == (128, 0, 0) and tuple(plte[15]) == (192, 128, 128)  # aeroplane, person
    # OpenCV expands the palette to colours, which is why the reader does not rely on it
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).ndim == 3
    back = read_semantic_png(path)
    np.testing.assert_array_equal(back.category, labels.category)
    assert read_label_values(path)[0, 0] == 255


def test_grey_png_round_trips(tmp_path: Path) -> None:
    labels = _labels(1, high=255)
    write_semantic_png(tmp_path / "g.png", labels)
    assert chunk_bodies((tmp_path / "g.png").read_bytes())[b"IHDR"][9] == 0  # grey
    np.testing.assert_array_equal(read_semantic_png(tmp_path / "g.png").category, labels.category)


def test_indexed_png_gives_indices_not_colours(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2, 255], [255, 2, 1, 0]], np.uint8)
    colors = [(0, 0, 0)] * 256
    colors[1], colors[2], colors[255] = (128, 0, 0), (0, 0, 0), (224, 224, 192)  # index 2 shares black
    (tmp_path / "x.png").write_bytes(png_file(packed_rows(indices), 4, 2, colors=colors))
    values = read_label_values(tmp_path / "x.png")
    assert values.dtype == np.uint8 and np.array_equal(values, indices)


@pytest.mark.parametrize("bit_depth", [1, 2, 4])
def test_low_bit_depth_pngs_give_their_samples(tmp_path: Path, bit_depth: int) -> None:
    samples = np.array([[0, 1, 2, 3, 1], [3, 2, 1, 0, 0]], np.uint8) % 2**bit_depth
    raw = packed_rows(samples, bit_depth)
    (tmp_path / "i.png").write_bytes(png_file(raw, 5, 2, bit_depth=bit_depth, colors=[(9, 9, 9)] * 4))
    (tmp_path / "g.png").write_bytes(png_file(raw, 5, 2, colour_type=GREY, bit_depth=bit_depth))
    for name in ("i.png", "g.png"):  # OpenCV would scale grey samples to 0..255
        values = read_label_values(tmp_path / name)
        assert values.dtype == np.uint8 and np.array_equal(values, samples), name


def test_grey_8_and_16_bit_are_read_as_stored(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.array([[0, 7, 255]], np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.array([[0, 300, 65535]], np.uint16))
    assert read_label_values(tmp_path / "a.png").tolist() == [[0, 7, 255]]
    assert read_label_values(tmp_path / "b.png").tolist() == [[0, 300, 65535]]
    assert read_label_values(tmp_path / "b.png").dtype == np.uint16


def test_indexed_png_with_every_filter_type_reads_exactly(tmp_path: Path) -> None:
    values = np.random.default_rng(2).integers(0, 256, (11, 13)).astype(np.uint8)
    path = tmp_path / "f.png"
    path.write_bytes(png_file(_filtered_rows(values), 13, 11))
    np.testing.assert_array_equal(read_label_values(path), values)


def test_interlaced_indexed_png_reads_exactly(tmp_path: Path) -> None:
    values = np.random.default_rng(3).integers(0, 256, (19, 23)).astype(np.uint8)
    passes = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ]
    raw = b""
    for x0, y0, dx, dy in passes:  # Adam7: seven sub-images, each row with filter byte 0
        sub = values[y0::dy, x0::dx]
        if sub.size:
            raw += np.hstack([np.zeros((sub.shape[0], 1), np.uint8), sub]).tobytes()
    path = tmp_path / "i.png"
    path.write_bytes(png_file(raw, 23, 19, interlace=1))
    np.testing.assert_array_equal(read_label_values(path), values)


def test_class_ids_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    labels = LabelMap.from_arrays(np.full((4, 4), 300, np.uint16))
    with pytest.raises(ValueError, match=r"b\.png: class id 300 cannot be written"):
        write_semantic_png(tmp_path / "b.png", labels, palette=VOC)
    with pytest.raises(ValueError, match="class id 255"):
        write_semantic_png(tmp_path / "b.png", LabelMap.from_arrays(np.full((4, 4), 255, np.uint16)))
    assert not (tmp_path / "b.png").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (png_file(b"\x00\x00\x00", 1, 1, bit_depth=16, colors=[]), r"corrupt PNG \(16-bit indexed\)"),
        (b"GIF89a", "not a PNG file"),
        (png_file(b"\x00\x01", 1, 1)[:-20], "truncated PNG"),
    ],
)
def test_unreadable_label_pngs_name_the_file(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match=f"bad.png: {message}"):
        read_semantic_png(path)


def test_corrupt_crc_and_colour_pngs_are_refused(tmp_path: Path) -> None:
    data = bytearray(png_file(b"\x00\x01", 1, 1))
    data[30] ^= 0xFF  # inside the IHDR CRC
    (tmp_path / "crc.png").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="bad CRC in IHDR"):
        read_semantic_png(tmp_path / "crc.png")
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(ImageReadError, match=r"rgb\.png: 8-bit RGB PNG; .*found 3 channels"):
        read_semantic_png(tmp_path / "rgb.png")


# -- folders -------------------------------------------------------------------------------------


def _images(folder: Path, sizes: dict[str, tuple[int, int]]) -> None:
    folder.mkdir(exist_ok=True)
    for name, (height, width) in sizes.items():
        cv2.imwrite(str(folder / name), np.full((height, width, 3), 90, np.uint8))


def test_dataset_round_trip_is_lossless(tmp_path: Path) -> None:
    _images(tmp_path / "images", {"a.jpg": (37, 53), "b.png": (20, 30), "unlabelled.jpg": (5, 5)})
    records = [
        ({"id": "a", "file_name": "a.jpg"}, _labels(4)),
        ({"id": "b", "file_name": "b.png"}, _labels(5, (20, 30))),
    ]
    write_semantic_dataset(tmp_path / "masks", records, VOC)
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["a.png", "b.png"]
    dataset = read_semantic_dataset(tmp_path / "masks", tmp_path / "images", VOC)
    assert [entry for entry, _ in dataset.records] == [
        {"id": "a", "file_name": "a.jpg", "height": 37, "width": 53},
        {"id": "b", "file_name": "b.png", "height": 20, "width": 30},
    ]
    for (_, read), (_, written) in zip(dataset.records, records, strict=True):
        np.testing.assert_array_equal(read.category, written.category)


def test_grey_dataset_and_subfolders(tmp_path: Path) -> None:
    records = [({"id": 1, "file_name": "city/x.jpg"}, _labels(6))]
    write_semantic_dataset(tmp_path / "out", records, VOC, indexed=False)
    written = tmp_path / "out" / "city" / "x.png"
    assert chunk_bodies(written.read_bytes())[b"IHDR"][9] == 0
    np.testing.assert_array_equal(read_semantic_png(written).category, records[0][1].category)


def test_failed_export_leaves_no_folder(tmp_path: Path) -> None:
    big = LabelMap.from_arrays(np.full((4, 4), 300, np.uint16))
    palette = Palette("voc-and-more", [*VOC, ClassDef(300, "many", (1, 2, 3))])
    records = [({"id": 1, "file_name": "ok.jpg"}, _labels()), ({"id": 2, "file_name": "big.jpg"}, big)]
    with pytest.raises(ValueError, match=r"image 2 \('big.jpg'\): class id 300"):
        write_semantic_dataset(tmp_path / "out", records, palette)
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_dataset_errors_name_the_files(tmp_path: Path) -> None:
    _images(tmp_path / "images", {"a.jpg": (37, 53), "small.jpg": (4, 4)})
    masks = tmp_path / "masks"
    masks.mkdir()
    write_semantic_png(masks / "a.png", _labels(), palette=VOC)
    write_semantic_png(masks / "orphan.png", _labels())
    with pytest.raises(DatasetError, match=r"no image for masks orphan.png \(matched by file stem\)"):
        read_semantic_dataset(masks, tmp_path / "images", VOC)
    (masks / "orphan.png").unlink()
    write_semantic_png(masks / "small.png", _labels())
    with pytest.raises(DatasetError, match=r"small.png: mask is 53x37 but small.jpg is 4x4"):
        read_semantic_dataset(masks, tmp_path / "images", VOC)
    (masks / "small.png").unlink()
    write_semantic_png(masks / "a.png", _labels(high=30))
    with pytest.raises(DatasetError, match=r"a.png: values \[21, .*\] are not classes of palette 'voc'"):
        read_semantic_dataset(masks, tmp_path / "images", VOC)
