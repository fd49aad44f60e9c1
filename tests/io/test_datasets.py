"""What every format shares: label file names, record checks, COCO categories, JSON errors."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from segstudio.core.labels import LabelMap
from segstudio.core.palette import ClassDef, Palette, builtin_palette
from segstudio.io.datasets import (
    DatasetError,
    categories_palette,
    coco_categories,
    label_file_path,
    named_records,
    read_json,
)

PALETTE = Palette("p", [ClassDef(1, "a", (1, 2, 3))])


def test_label_file_path_replaces_only_the_final_extension() -> None:
    assert label_file_path("a.b.c.jpeg", ".png") == PurePosixPath("a.b.c.png")
    assert label_file_path("sub\\x.jpg", ".png") == PurePosixPath("sub/x.png")
    assert label_file_path("city/f_leftImg8bit.png", "_gtFine_labelIds.png") == PurePosixPath(
        "city/f_leftImg8bit_gtFine_labelIds.png"
    )
    for outside in ("/etc/x.jpg", "../x.jpg", "a/../../x.jpg"):
        with pytest.raises(ValueError, match="must be a relative path inside the dataset"):
            label_file_path(outside, ".png")


def test_named_records_refuse_two_images_writing_one_file() -> None:
    labels = LabelMap.from_arrays(np.ones((2, 2), np.uint16))
    records = [({"id": 1, "file_name": "x.jpg"}, labels), ({"id": 2, "file_name": "x.png"}, labels)]
    names = named_records(records, PALETTE, lambda f: label_file_path(f, ".png"))
    assert next(names)[2] == PurePosixPath("x.png")
    with pytest.raises(ValueError, match=r"image 2 \('x.png'\): another image also writes x.png"):
        next(names)
    again = [({"id": 1, "file_name": "x.jpg"}, labels), ({"id": 1, "file_name": "y.jpg"}, labels)]
    with pytest.raises(ValueError, match=r"image 1 \('y.jpg'\): image id used twice"):
        list(named_records(again, PALETTE, lambda f: label_file_path(f, ".png")))


def test_categories_fill_in_colour_and_isthing(tmp_path: Path) -> None:
    data = {"categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "widget"}, {"id": 3, "name": "x"}]}
    categories = coco_categories(data, tmp_path / "c.json")
    for things_by_default in (True, False):
        palette = categories_palette(
            categories, "c", tmp_path / "c.json", things_by_default=things_by_default
        )
        person = builtin_palette("coco-panoptic")[1]
        assert (palette[1].color, palette[1].isthing) == (person.color, True)  # a COCO class: its own
        assert palette[2].isthing is things_by_default and palette[2].color not in (
            (0, 0, 0),
            palette[3].color,
        )
    with pytest.raises(DatasetError, match=r"c\.json: category #1 needs an integer 'id'"):
        coco_categories({"categories": [{"id": 1}, {"id": True}]}, tmp_path / "c.json")
    with pytest.raises(DatasetError, match=r"c\.json: missing list field 'categories'"):
        coco_categories({}, tmp_path / "c.json")


def test_json_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing\.json: file not found"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"a": 1,\n  ]')
    with pytest.raises(DatasetError, match=r"bad\.json: not valid JSON \(line 2, column 3"):
        read_json(tmp_path / "bad.json")
