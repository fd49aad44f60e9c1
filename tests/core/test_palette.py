"""Palettes: validation messages, and the built-ins checked against their public definitions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segstudio.core.labels import VOID
from segstudio.core.palette import (
    BUILTIN_PALETTES,
    CITYSCAPES_TRAIN_ID_TO_LABEL_ID,
    ClassDef,
    Palette,
    PaletteError,
    builtin_palette,
    voc_color_map,
)

PACKAGED = Path(__file__).resolve().parents[2] / "segstudio" / "core" / "palettes"

# The PASCAL VOC colours of classes 0..20 as published (VOC2012 SegmentationClass PNG palette).
VOC_COLORS = [
    (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
    (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0), (64, 0, 128), (192, 0, 128),
    (64, 128, 128), (192, 128, 128), (0, 64, 0), (128, 64, 0), (0, 192, 0), (128, 192, 0), (0, 64, 128),
]  # fmt: skip
VOC_NAMES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
]  # fmt: skip


def _palette(*entries: dict) -> dict:
    return {"name": "t", "classes": list(entries)}


# --- validation --------------------------------------------------------------------------------


def test_duplicate_id_names_both_entries() -> None:
    with pytest.raises(
        PaletteError, match=r"class #1 \('car'\): duplicate id 7 \(also used by class #0 \('bus'\)\)"
    ):
        Palette("t", [ClassDef(7, "bus", (1, 2, 3)), ClassDef(7, "car", (4, 5, 6))])


def test_duplicate_name_is_refused() -> None:
    with pytest.raises(PaletteError, match=r"class #1 \('car'\): duplicate name \(also used by class #0\)"):
        Palette("t", [ClassDef(1, "car", (1, 2, 3)), ClassDef(2, "car", (4, 5, 6))])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": 1, "name": "car"}, r"class #0 \('car'\): missing field 'color'"),
        ({"name": "car", "color": [0, 0, 0]}, r"class #0 \('car'\): missing field 'id'"),
        ({"id": 1, "color": [0, 0, 0]}, r"class #0: missing field 'name'"),
        ({"id": 1, "name": "car", "color": [0, 256, 0]}, r"class #0 \('car'\): color \[0, 256, 0\]"),
        ({"id": 1, "name": "car", "color": [0, -1, 0]}, r"class #0 \('car'\): color"),
        ({"id": 1, "name": "car", "color": [0, 0]}, r"class #0 \('car'\): color"),
        ({"id": 1, "name": "car", "color": [0, 0, 1.5]}, r"class #0 \('car'\): color"),
        ({"id": 1, "name": "car", "color": "red"}, r"class #0 \('car'\): color"),
        ({"id": -1, "name": "car", "color": [0, 0, 0]}, r"class #0 \('car'\): id -1 must be an integer"),
        ({"id": VOID, "name": "car", "color": [0, 0, 0]}, rf"class #0 \('car'\): id {VOID} must"),
        ({"id": True, "name": "car", "color": [0, 0, 0]}, r"class #0 \('car'\): id True must"),
        ({"id": "3", "name": "car", "color": [0, 0, 0]}, r"class #0 \('car'\): id '3' must"),
        ({"id": 1, "name": " ", "color": [0, 0, 0]}, r"class #0 \(' '\): name must be a non-empty string"),
        ({"id": 1, "name": 5, "color": [0, 0, 0]}, r"class #0 \(5\): name must be a non-empty string"),
        ({"id": 1, "name": "car", "color": [0, 0, 0], "isthing": 2}, r"class #0 \('car'\): isthing 2"),
        ({"id": 1, "name": "car", "color": [0, 0, 0], "supercategory": 3}, r"supercategory must be a string"),
        ([1, "car"], r"class #0: expected an object, got list"),
    ],
)
def test_bad_class_entry_is_refused_with_its_index_and_name(entry: object, message: str) -> None:
    with pytest.raises(PaletteError, match=message):
        Palette.from_dict(_palette(entry))


def test_error_names_the_offending_entry_not_the_first() -> None:
    good = {"id": 0, "name": "road", "color": [1, 2, 3]}
    bad = {"id": 1, "name": "car", "color": [1, 2, 300]}
    with pytest.raises(PaletteError, match=r"^class #1 \('car'\)"):
        Palette.from_dict(_palette(good, bad))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a palette must be an object"),
        ({"name": "t"}, "a palette needs a list field 'classes'"),
        ({"classes": {}}, "a palette needs a list field 'classes'"),
        ({"classes": [], "void_color": [0, 0, 999]}, r"void_color \[0, 0, 999\]"),
        ({"classes": [], "void_color": [True, 0, 0]}, "void_color"),
        ({"classes": [], "name": 3}, "palette name 3"),
        ({"classes": [], "name": ""}, "palette name ''"),
    ],
)
def test_bad_palette_object_is_refused(data: object, message: str) -> None:
    with pytest.raises(PaletteError, match=message):
        Palette.from_dict(data)


def test_classes_built_in_code_are_validated_too() -> None:
    with pytest.raises(PaletteError, match=r"class #0 \('sky'\): color \(0, 0, 256\)"):
        Palette("t", [ClassDef(0, "sky", (0, 0, 256))])
    with pytest.raises(PaletteError, match="void_color"):
        Palette("t", [], void_color=(0, 0, 256))


def test_from_dict_round_trips_and_reads_isthing_and_supercategory() -> None:
    data = _palette(
        {"id": 3, "name": "car", "color": [0, 0, 142], "isthing": 1, "supercategory": "vehicle"},
        {"id": 0, "name": "road", "color": [128, 64, 128]},
    )
    palette = Palette.from_dict(data)
    assert palette[3] == ClassDef(3, "car", (0, 0, 142), True, "vehicle")
    assert palette[0] == ClassDef(0, "road", (128, 64, 128), False, "")
    assert palette.ids == [3, 0] and palette.thing_ids == {3}
    assert Palette.from_dict(palette.to_dict()) == palette


def test_palette_is_immutable_so_shared_builtins_stay_intact() -> None:
    palette = builtin_palette("voc")
    with pytest.raises(AttributeError):
        palette.name = "mine"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        palette.classes = ()  # type: ignore[misc]
    assert builtin_palette("voc").name == "voc" and len(builtin_palette("voc")) == 21


def test_color_lut_places_colours_by_id_and_clears_unknown_and_void() -> None:
    lut = builtin_palette("voc").color_lut(alpha=200, void_alpha=10)
    assert lut.shape == (VOID + 1, 4) and lut.dtype == np.uint8
    assert tuple(lut[15]) == (192, 128, 128, 200)
    assert tuple(lut[21]) == (0, 0, 0, 0)
    assert tuple(lut[VOID]) == (224, 224, 192, 10)


# --- built-ins -----------------------------------------------------------------------------------


def test_builtin_names_and_cache() -> None:
    assert BUILTIN_PALETTES == ("voc", "cityscapes", "ade20k", "coco-panoptic")
    for name in BUILTIN_PALETTES:
        palette = builtin_palette(name)
        assert palette.name == name
        assert builtin_palette(name) is palette
        assert Palette.from_dict(palette.to_dict()) == palette


def test_unknown_builtin_lists_the_choices() -> None:
    with pytest.raises(PaletteError, match="unknown built-in palette 'pascal'.*voc, cityscapes, ade20k"):
        builtin_palette("pascal")


def test_voc_matches_the_devkit() -> None:
    voc = builtin_palette("voc")
    assert [c.name for c in voc] == VOC_NAMES
    assert voc.ids == list(range(21))
    assert [c.color for c in voc] == VOC_COLORS
    assert voc.by_name("person") == ClassDef(15, "person", (192, 128, 128), True)
    assert voc.by_name("tvmonitor").color == (0, 64, 128)
    assert voc.thing_ids == set(range(1, 21))
    assert voc.void_color == (224, 224, 192)


def test_voc_color_map_is_the_bit_interleaved_map() -> None:
    cmap = voc_color_map()
    assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
    assert [tuple(int(v) for v in row) for row in cmap[:21]] == VOC_COLORS
    assert tuple(cmap[255]) == (224, 224, 192)
    # spreading 8 bits over three channels is a bijection: 256 distinct colours
    assert len({tuple(row) for row in cmap}) == 256


def test_cityscapes_matches_labels_py() -> None:
    cityscapes = builtin_palette("cityscapes")
    assert [c.name for c in cityscapes] == [
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
        "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
        "bicycle",
    ]  # fmt: skip
    assert cityscapes.ids == list(range(19))
    assert cityscapes[13] == ClassDef(13, "car", (0, 0, 142), True, "vehicle")
    assert cityscapes[0].color == (128, 64, 128) and cityscapes[10].color == (70, 130, 180)
    assert cityscapes.by_name("traffic sign").color == (220, 220, 0)
    assert cityscapes[18].color == (119, 11, 32)
    things = {c.name for c in cityscapes if c.isthing}
    assert things == {"person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"}


def test_cityscapes_train_ids_map_to_official_label_ids() -> None:
    assert dict(CITYSCAPES_TRAIN_ID_TO_LABEL_ID) == {
        0: 7, 1: 8, 2: 11, 3: 12, 4: 13, 5: 17, 6: 19, 7: 20, 8: 21, 9: 22, 10: 23,
        11: 24, 12: 25, 13: 26, 14: 27, 15: 28, 16: 31, 17: 32, 18: 33,
    }  # fmt: skip
    with pytest.raises(TypeError):
        CITYSCAPES_TRAIN_ID_TO_LABEL_ID[19] = 34  # type: ignore[index]


@pytest.mark.parametrize(
    ("class_id", "name", "color", "isthing"),
    [
        (0, "wall", (120, 120, 120), False),
        (1, "building", (180, 120, 120), False),
        (2, "sky", (6, 230, 230), False),
        (3, "floor", (80, 50, 50), False),
        (4, "tree", (4, 200, 3), False),
        (6, "road", (140, 140, 140), False),
        (7, "bed", (204, 5, 255), True),
        (12, "person", (150, 5, 61), True),
        (20, "car", (0, 102, 200), True),
        (44, "chest of drawers", (6, 51, 255), True),
        (48, "skyscraper", (140, 140, 140), False),
        (89, "television", (0, 255, 194), True),
        (127, "bicycle", (255, 245, 0), True),
        (149, "flag", (92, 0, 255), True),
    ],
)
def test_ade20k_spot_checks(class_id: int, name: str, color: tuple, isthing: bool) -> None:
    assert builtin_palette("ade20k")[class_id] == ClassDef(class_id, name, color, isthing)


def test_ade20k_counts_and_panoptic_split() -> None:
    ade = builtin_palette("ade20k")
    assert ade.ids == list(range(150))
    assert len(ade.thing_ids) == 100
    # the SceneParse150 ids (1-based) of the 100 ADE20K instance classes
    instance_classes = {
        8, 9, 11, 13, 15, 16, 19, 20, 21, 23, 24, 25, 28, 31, 32, 33, 34, 36, 37, 38, 39, 40, 42, 43, 44,
        45, 46, 48, 50, 51, 54, 56, 57, 58, 59, 63, 65, 66, 67, 68, 70, 71, 72, 73, 74, 75, 76, 77, 79,
        81, 82, 83, 84, 86, 87, 88, 89, 90, 91, 93, 94, 96, 98, 99, 103, 104, 105, 108, 109, 111, 112,
        113, 116, 117, 119, 120, 121, 122, 124, 125, 126, 127, 128, 130, 131, 133, 134, 135, 136, 137,
        138, 139, 140, 143, 144, 145, 147, 148, 149, 150,
    }  # fmt: skip
    assert ade.thing_ids == {label - 1 for label in instance_classes}


def test_coco_panoptic_is_the_official_category_file(coco_panoptic_sample: Path) -> None:
    source = coco_panoptic_sample / "panoptic_coco_categories.json"
    assert (PACKAGED / "coco_panoptic.json").read_bytes() == source.read_bytes()
    categories = json.loads(source.read_text())
    coco = builtin_palette("coco-panoptic")
    assert len(coco) == 133
    assert len(coco.thing_ids) == 80 and len(coco) - len(coco.thing_ids) == 53
    for class_def, category in zip(coco, categories, strict=True):
        assert class_def.id == category["id"]
        assert class_def.name == category["name"]
        assert class_def.supercategory == category["supercategory"]
        assert class_def.isthing == bool(category["isthing"])
        assert list(class_def.color) == category["color"]
    assert coco[1] == ClassDef(1, "person", (220, 20, 60), True, "person")
    assert coco.by_name("car").id == 3


def test_from_categories_requires_a_list() -> None:
    with pytest.raises(PaletteError, match="a category list must be a list, got dict"):
        Palette.from_categories({"id": 1}, "t")


def test_background_ids_name_the_classes_that_mean_nothing_in_particular() -> None:
    assert builtin_palette("voc").background_ids == {0}
    classes = [
        ClassDef(0, "_background_", (0, 0, 0)),
        ClassDef(1, "Unlabeled", (1, 1, 1)),
        ClassDef(2, "dog", (2, 2, 2)),
    ]
    labelme = Palette("p", classes)
    assert labelme.background_ids == {0, 1}
