"""Which classes a new image folder gets (issue 16): what its data says, from real files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from segstudio.core.palette import builtin_palette, voc_color_map
from segstudio.io import palette_guess
from segstudio.io.palette_guess import guess_palette
from segstudio.io.png_encode import encode_png

DATA = Path(__file__).resolve().parents[1] / "data"


def _photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), rgb)
    return path


def _indexed_label(path: Path, values: list[int]) -> Path:
    """A VOC-style indexed PNG holding ``values`` (and the 255 void border)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((12, 16), 255, np.uint8)
    pixels[1:-1, 1:-1] = np.resize(np.array(values, np.uint8), (10, 14))
    path.write_bytes(encode_png(pixels, path, palette=voc_color_map()))
    return path


def _grey_label(path: Path, values: list[int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.resize(np.array(values, np.uint8), (12, 16)))
    return path


def test_cityscapes_file_names(tmp_path: Path) -> None:
    folder = tmp_path / "leftImg8bit" / "val" / "frankfurt"
    _photo(folder / "frankfurt_000000_000294_leftImg8bit.png")
    guess = guess_palette(folder)
    assert guess is not None and guess.palette == builtin_palette("cityscapes")
    assert "_leftImg8bit.png" in guess.reason


def test_voc_layout_label_pngs_beside_the_photos(tmp_path: Path) -> None:
    voc = tmp_path / "VOC2012"
    for name in ("2007_000032", "2007_000033"):
        _photo(voc / "JPEGImages" / f"{name}.jpg")
    _indexed_label(voc / "SegmentationClass" / "2007_000032.png", [0, 1, 15])
    _indexed_label(voc / "SegmentationClass" / "2007_000033.png", [0, 20])
    guess = guess_palette(voc / "JPEGImages")
    assert guess is not None and guess.palette == builtin_palette("voc")
    assert "SegmentationClass" in guess.reason and "0-20" in guess.reason


def test_values_beyond_voc_choose_the_first_palette_that_holds_them(tmp_path: Path) -> None:
    _photo(tmp_path / "images" / "ADE_val_00000001.jpg")
    _grey_label(tmp_path / "annotations" / "ADE_val_00000001.png", [0, 3, 87, 149])
    guess = guess_palette(tmp_path / "images")
    assert guess is not None and guess.palette == builtin_palette("ade20k")
    assert "0-149" in guess.reason


def test_masks_named_with_a_suffix_in_the_same_folder(tmp_path: Path) -> None:
    _photo(tmp_path / "shots" / "kitchen.jpg")
    _grey_label(tmp_path / "shots" / "kitchen_mask.png", [0, 5, 11])
    guess = guess_palette(tmp_path / "shots")
    assert guess is not None and guess.palette == builtin_palette("voc")


def test_unrelated_grey_pictures_and_depth_maps_are_no_clue(tmp_path: Path) -> None:
    folder = tmp_path / "holiday"
    _photo(folder / "beach.jpg")
    _grey_label(folder / "scan.png", [0, 1, 2])  # named after no photo
    depth = np.full((12, 16), 1500, np.uint16)
    assert cv2.imwrite(str(folder / "beach_depth.png"), depth)  # 16-bit: a depth map, not labels
    assert guess_palette(folder) is None


def test_values_no_builtin_palette_holds_give_no_guess(tmp_path: Path) -> None:
    _photo(tmp_path / "a" / "x.jpg")
    _grey_label(tmp_path / "a" / "x_label.png", [0, 201, 230])
    assert guess_palette(tmp_path / "a") is None


def test_a_coco_panoptic_file_beside_the_photos_gives_its_categories(tmp_path: Path) -> None:
    coco = builtin_palette("coco-panoptic")
    categories = [c.to_dict() for c in coco]  # the full COCO panoptic list: the built-in palette
    (tmp_path / "annotations").mkdir()
    images = [{"id": 139, "file_name": "000000000139.jpg", "width": 16, "height": 12}]
    (tmp_path / "annotations" / "panoptic_val2017.json").write_text(
        json.dumps({"images": images, "annotations": [], "categories": categories})
    )
    _photo(tmp_path / "val2017" / "000000000139.jpg")
    guess = guess_palette(tmp_path / "val2017")
    assert guess is not None and guess.palette is coco
    assert "panoptic_val2017.json" in guess.reason


def test_a_coco_file_beside_the_folder_that_lists_none_of_its_photos_is_no_clue(tmp_path: Path) -> None:
    (tmp_path / "other-dataset").mkdir()
    (tmp_path / "other-dataset" / "instances.json").write_text(
        json.dumps(
            {"images": [{"id": 1, "file_name": "elsewhere.jpg"}], "categories": [{"id": 1, "name": "a"}]}
        )
    )
    _photo(tmp_path / "holiday" / "beach.jpg")
    assert guess_palette(tmp_path / "holiday") is None


def test_a_coco_instances_file_gives_its_own_classes_as_things(tmp_path: Path) -> None:
    categories = [{"id": 1, "name": "person"}, {"id": 44, "name": "bottle"}, {"id": 90, "name": "widget"}]
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "instances.json").write_text(json.dumps({"annotations": [], "categories": categories}))
    _photo(folder / "photo.jpg")
    guess = guess_palette(folder)
    assert guess is not None
    assert [(c.id, c.name, c.isthing) for c in guess.palette] == [
        (1, "person", True),
        (44, "bottle", True),
        (90, "widget", True),
    ]
    assert guess.palette[1].color == builtin_palette("coco-panoptic")[1].color  # COCO's own colour


def test_the_real_coco_sample_categories(tmp_path: Path) -> None:
    """The repository's COCO panoptic sample: its category file lists COCO's 133 classes."""
    guess = guess_palette(DATA / "coco-panoptic-sample")
    assert guess is not None and guess.palette is builtin_palette("coco-panoptic")


def test_a_big_coco_file_is_read_from_its_tail(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(palette_guess, "WHOLE_JSON_BYTES", 1000)
    monkeypatch.setattr(palette_guess, "JSON_PART_BYTES", 600)
    images = [{"id": n, "file_name": f"val/{n:012d}.jpg", "width": 640, "height": 480} for n in range(200)]
    categories = [{"id": 3, "name": "car"}, {"id": 7, "name": "lamp"}]
    (tmp_path / "annotations").mkdir()
    big = tmp_path / "annotations" / "big.json"
    big.write_text(json.dumps({"images": images, "annotations": [], "categories": categories}))
    assert big.stat().st_size > 10_000
    _photo(tmp_path / "val" / "000000000001.jpg")  # listed in the file's head
    guess = guess_palette(tmp_path / "val")
    assert guess is not None and [c.name for c in guess.palette] == ["car", "lamp"]


def test_broken_files_are_no_clue_and_raise_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    _photo(folder / "p.jpg")
    (folder / "notes.json").write_text("{not json")
    (folder / "p_mask.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))  # a header cut short
    (folder / "p_label.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8) + b"IHDR" + bytes(10) + b"\x08\x00")
    assert guess_palette(folder) is None
