"""Cityscapes gtFine files: official labelIds, instanceIds (labelId * 1000 + k) and RGB colour PNGs."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio.core.labels import VOID, LabelMap
from segstudio.core.palette import ClassDef, Palette, builtin_palette
from segstudio.io.cityscapes import read_cityscapes, write_cityscapes
from segstudio.io.datasets import DatasetError
from segstudio.io.images import write_png

CITYSCAPES = builtin_palette("cityscapes")
ROAD, SKY, PERSON, CAR = 0, 10, 11, 13  # train ids
FILE_NAME = "aachen/aachen_000000_000019_leftImg8bit.png"


def _scene() -> LabelMap:
    """Road below, sky above, two cars (instances 5 and 2), a crowd of people, a void corner."""
    category = np.full((6, 8), ROAD, np.uint16)
    category[:2] = SKY
    instance = np.zeros((6, 8), np.uint32)
    category[3:5, 1:3], instance[3:5, 1:3] = CAR, 5
    category[3:5, 5:7], instance[3:5, 5:7] = CAR, 2
    category[2, 3:5], instance[2, 3:5] = PERSON, 9
    category[0, 0] = VOID
    return LabelMap.from_arrays(category, instance, crowd={(PERSON, 9)})


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_written_files_carry_official_ids_and_rgb_colours(tmp_path: Path) -> None:
    write_cityscapes(tmp_path / "gt", [({"id": "f", "file_name": FILE_NAME}, _scene())], CITYSCAPES)
    base = tmp_path / "gt" / "aachen" / "aachen_000000_000019"
    label_ids = _read(Path(f"{base}_gtFine_labelIds.png"))
    assert label_ids.dtype == np.uint8
    assert label_ids[5, 0] == 7 and label_ids[1, 4] == 23 and label_ids[0, 0] == 0  # road, sky, unlabeled
    assert label_ids[3, 1] == label_ids[3, 5] == 26 and label_ids[2, 3] == 24  # car, person

    instance_path = Path(f"{base}_gtFine_instanceIds.png")
    assert struct.unpack(">IIB", instance_path.read_bytes()[16:25])[2] == 16  # 16-bit PNG
    instance_ids = _read(instance_path)
    assert instance_ids.dtype == np.uint16
    assert instance_ids[3, 5] == 26000  # car instance 2 is the class's first (k = 0) ...
    assert instance_ids[3, 1] == 26001  # ... and instance 5 its second
    assert instance_ids[2, 3] == 24  # a crowd is a "group": bare labelId
    assert instance_ids[5, 0] == 7 and instance_ids[0, 0] == 0

    bgr = _read(Path(f"{base}_gtFine_color.png"))
    assert tuple(bgr[3, 1]) == (142, 0, 0)  # car is RGB (0, 0, 142): stored as RGB, read by OpenCV as BGR
    assert tuple(bgr[1, 4][::-1]) == (70, 130, 180) and tuple(bgr[0, 0]) == (0, 0, 0)  # sky, void


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    scene = _scene()
    write_cityscapes(tmp_path / "gt", [({"id": "f", "file_name": FILE_NAME}, scene)], CITYSCAPES)
    dataset = read_cityscapes(tmp_path / "gt")
    assert dataset.palette == CITYSCAPES
    ((entry, labels),) = dataset.records
    assert entry == {"id": "aachen_000000_000019", "file_name": FILE_NAME, "height": 6, "width": 8}
    np.testing.assert_array_equal(labels.category, scene.category)
    masks = {(s.category, s.iscrowd, s.box) for s in labels.segments()}
    assert masks == {(s.category, s.iscrowd, s.box) for s in scene.segments()}
    assert labels.instance[3, 5] == 1 and labels.instance[3, 1] == 2  # 26000, 26001 in order
    assert labels.crowd == {(PERSON, 3)}  # the group became one crowd segment


def test_reader_maps_unevaluated_labels_to_void_and_checks_consistency(tmp_path: Path) -> None:
    label_ids = np.array([[7, 4, 26, 29]], np.uint8)  # road, static, car, caravan (not a train class)
    write_png(tmp_path / "x_gtFine_labelIds.png", label_ids)
    write_png(tmp_path / "x_gtFine_instanceIds.png", np.array([[7, 4, 26003, 29000]], np.uint16))
    ((entry, labels),) = read_cityscapes(tmp_path).records
    assert labels.category.tolist() == [[ROAD, VOID, CAR, VOID]]
    assert labels.instance.tolist() == [[0, 0, 1, 0]] and labels.crowd == set()
    assert entry["file_name"] == "x_leftImg8bit.png"

    write_png(tmp_path / "x_gtFine_instanceIds.png", np.array([[7, 4, 24000, 29000]], np.uint16))
    with pytest.raises(DatasetError, match=r"x_gtFine_instanceIds.png: pixel \(2, 0\) has instance id 24000"):
        read_cityscapes(tmp_path)
    (tmp_path / "x_gtFine_instanceIds.png").unlink()
    ((_, labels),) = read_cityscapes(tmp_path).records  # no instance file: classes only
    assert labels.instance.tolist() == [[0, 0, 0, 0]]


def test_non_cityscapes_palettes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"palette 'voc' is not a Cityscapes palette: class 0 'background'"):
        write_cityscapes(tmp_path / "gt", [], builtin_palette("voc"))
    recoloured = Palette("mine", [ClassDef(ROAD, "road", (1, 2, 3)), ClassDef(CAR, "car", (9, 9, 9), True)])
    scene = LabelMap.from_arrays(np.array([[ROAD, CAR]], np.uint16), np.array([[0, 4]], np.uint32))
    write_cityscapes(tmp_path / "gt", [({"id": 1, "file_name": "a.png"}, scene)], recoloured)
    assert _read(tmp_path / "gt" / "a_gtFine_instanceIds.png").tolist() == [[7, 26000]]
    assert _read(tmp_path / "gt" / "a_gtFine_color.png")[0, 0].tolist() == [3, 2, 1]


def test_read_errors_name_the_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no \*_gtFine_labelIds.png files found"):
        read_cityscapes(tmp_path)
    write_png(tmp_path / "y_gtFine_labelIds.png", np.zeros((2, 2), np.uint16))
    with pytest.raises(DatasetError, match="y_gtFine_labelIds.png: labelIds must be an 8-bit PNG"):
        read_cityscapes(tmp_path)
