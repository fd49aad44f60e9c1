"""labelme folders: shapes rasterised as labelme does (file order, later on top), class names to a palette."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio.core.labels import VOID, LabelMap
from segstudio.core.palette import ClassDef, Palette, builtin_palette
from segstudio.io.datasets import DatasetError
from segstudio.io.labelme import read_labelme, write_labelme


def _shape(
    label: str, points: list, shape_type: str = "polygon", group_id: int | None = None, **extra
) -> dict:
    return {
        "label": label,
        "points": points,
        "group_id": group_id,
        "shape_type": shape_type,
        "flags": {},
        **extra,
    }


def _file(
    path: Path, shapes: list[dict], image_path: str = "img.jpg", height: int = 20, width: int = 30
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": None}
    if height:
        document |= {"imageHeight": height, "imageWidth": width}
    path.write_text(json.dumps(document))
    return path


def _only(
    folder: Path, palette: Palette | None = None, images_dir: Path | None = None
) -> tuple[dict, LabelMap, Palette, list[str]]:
    dataset = read_labelme(folder, palette, images_dir)
    ((entry, labels),) = dataset.records
    return entry, labels, dataset.palette, dataset.warnings


def _pixels(mask: np.ndarray) -> set[tuple[int, int]]:
    """(x, y) of the set pixels."""
    return {(int(x), int(y)) for y, x in np.argwhere(mask)}


def test_rectangle_covers_its_corners_inclusive(tmp_path: Path) -> None:
    _file(tmp_path / "a.json", [_shape("box", [[5, 7], [2, 3]], "rectangle")])  # corners in any order
    entry, labels, palette, _ = _only(tmp_path)
    assert entry == {"id": 1, "file_name": "img.jpg", "height": 20, "width": 30}
    expected = {(x, y) for x in range(2, 6) for y in range(3, 8)}  # columns 2..5, rows 3..7: 20 pixels
    assert _pixels(labels.category == palette.by_name("box").id) == expected


def test_polygon_includes_pixels_on_its_edges(tmp_path: Path) -> None:
    _file(tmp_path / "a.json", [_shape("tri", [[0, 0], [4, 0], [0, 4]])])
    _, labels, palette, _ = _only(tmp_path)
    expected = {(x, y) for x in range(5) for y in range(5) if x + y <= 4}
    assert _pixels(labels.category == palette.by_name("tri").id) == expected


def test_circle_area_is_pi_r_squared(tmp_path: Path) -> None:
    _file(
        tmp_path / "a.json", [_shape("disc", [[50, 40], [62, 56]], "circle")], height=100, width=100
    )  # r = 20
    _, labels, palette, _ = _only(tmp_path)
    mask = labels.category == palette.by_name("disc").id
    assert abs(mask.sum() - math.pi * 400) < 0.05 * math.pi * 400  # Pillow's ellipse, as labelme
    assert mask[40, 70] and not mask[40, 71] and mask[20, 50] and not mask[19, 50]


def test_mask_shape_is_placed_at_its_box(tmp_path: Path) -> None:
    crop = np.array([[1, 0, 1], [0, 1, 0]], np.uint8)
    png = base64.b64encode(cv2.imencode(".png", crop)[1].tobytes()).decode()
    _file(tmp_path / "a.json", [_shape("blob", [[4, 6], [6, 7]], "mask", mask=png)])
    _, labels, palette, _ = _only(tmp_path)
    assert _pixels(labels.category == palette.by_name("blob").id) == {(4, 6), (6, 6), (5, 7)}


def test_file_order_groups_and_instances(tmp_path: Path) -> None:
    shapes = [
        _shape("car", [[0, 0], [9, 9]], "rectangle"),
        _shape("person", [[5, 5], [14, 14]], "rectangle", group_id=1),  # on top of the car
        _shape("person", [[20, 0], [24, 4]], "rectangle", group_id=1),  # same (label, group): one instance
        _shape("person", [[20, 10], [24, 14]], "rectangle"),  # no group_id: an instance of its own
        _shape("person", [[15, 10], [18, 14]], "rectangle"),  # and so is this one
        _shape("car", [[26, 0], [28, 2]], "rectangle", group_id=1),  # same group_id, other label
    ]
    _file(tmp_path / "a.json", shapes)
    _, labels, palette, _ = _only(tmp_path)
    assert [(c.id, c.name, c.isthing) for c in palette] == [
        (0, "_background_", False),
        (1, "car", True),
        (2, "person", True),
    ]
    assert labels.category[7, 7] == 2 and labels.category[2, 2] == 1 and labels.category[19, 29] == 0
    # instance ids count (label, group_id) pairs in file order, as labelme's shapes_to_label
    assert labels.instance[2, 2] == 1 and labels.instance[7, 7] == labels.instance[2, 22] == 2
    assert (labels.instance[12, 22], labels.instance[12, 16], labels.instance[1, 27]) == (3, 4, 5)
    assert labels.instance[19, 29] == 0
    assert len({(s.category, s.instance) for s in labels.segments()}) == 6  # background included


def test_points_and_lines_are_drawn_as_labelme2voc_draws_them(tmp_path: Path) -> None:
    shapes = [
        _shape("dot", [[10, 10]], "point"),  # a disc of radius 5
        _shape("wire", [[20, 2], [20, 17]], "line"),  # 10 px wide
        _shape("path", [[40, 0], [50, 0], [50, 5]], "linestrip"),
        _shape("cloud", [[1, 1], [2, 2]], "points"),  # labelme cannot draw these either
    ]
    _file(tmp_path / "a.json", shapes, width=60)
    _, labels, palette, warnings = _only(tmp_path)
    dot = labels.category == palette.by_name("dot").id  # the numbers labelme's shape_to_mask gives
    assert dot[10, 5] and dot[10, 15] and dot[5, 10] and not dot[10, 16] and dot.sum() == 97
    wire = labels.category == palette.by_name("wire").id
    assert np.flatnonzero(wire.any(axis=0)).tolist() == list(range(16, 26)) and wire[10].sum() == 10
    assert (labels.category == palette.by_name("path").id).any()
    assert warnings == [f"{tmp_path / 'a.json'}: shape #3 (points 'cloud') has no area; skipped"]


def test_background_and_ignore_follow_labelme(tmp_path: Path) -> None:
    shapes = [
        _shape("cat", [[0, 0], [9, 9]], "rectangle"),
        _shape("__ignore__", [[5, 5], [12, 12]], "rectangle"),  # void, on top of the cat
        _shape("_background_", [[0, 0], [2, 2]], "rectangle"),  # class 0, on top again
    ]
    _file(tmp_path / "a.json", shapes)
    _, labels, palette, _ = _only(tmp_path)
    assert [c.name for c in palette] == ["_background_", "cat"]
    assert labels.category[1, 1] == 0 and labels.category[4, 4] == 1 and labels.category[19, 29] == 0
    assert labels.category[6, 6] == VOID and labels.category[12, 12] == VOID
    voc = builtin_palette("voc")
    _, labels, _, _ = _only(tmp_path, voc)
    assert labels.category[1, 1] == voc.by_name("background").id == labels.category[19, 29]
    assert labels.category[4, 4] == voc.by_name("cat").id and labels.category[6, 6] == VOID


def test_given_palette_matches_names_and_unknown_labels_are_errors(tmp_path: Path) -> None:
    voc = builtin_palette("voc")
    _file(tmp_path / "a.json", [_shape("person", [[0, 0], [2, 2]], "rectangle")])
    _, labels, palette, _ = _only(tmp_path, voc)
    assert palette is voc and labels.category[1, 1] == 15
    _file(tmp_path / "b.json", [_shape("unicorn", [[0, 0], [2, 2]], "rectangle")])
    with pytest.raises(DatasetError, match="b.json: label 'unicorn' is not a class of palette 'voc'"):
        read_labelme(tmp_path, voc)


def test_stuff_classes_of_a_given_palette_have_no_instances(tmp_path: Path) -> None:
    palette = Palette("p", [ClassDef(0, "sky", (1, 1, 1)), ClassDef(1, "car", (2, 2, 2), True)])
    _file(
        tmp_path / "a.json",
        [_shape("sky", [[0, 0], [3, 3]], "rectangle"), _shape("car", [[5, 5], [6, 6]], "rectangle")],
    )
    _, labels, _, _ = _only(tmp_path, palette)
    assert labels.instance[1, 1] == 0 and labels.instance[5, 5] == 2  # labelme counted the sky as 1


def test_image_paths_are_relative_to_the_folder_read(tmp_path: Path) -> None:
    _file(tmp_path / "ann" / "a.json", [], image_path="..\\images\\a.jpg")  # Windows separators too
    entry, _, _, _ = _only(tmp_path)
    assert entry["file_name"] == "images/a.jpg"
    with pytest.raises(DatasetError, match=r"a.json: imagePath '..\\\\images\\\\a.jpg' points outside"):
        read_labelme(tmp_path / "ann")
    entry, _, _, _ = _only(tmp_path / "ann", images_dir=tmp_path / "images")
    assert entry["file_name"] == "a.jpg"


def test_missing_size_is_read_from_the_image(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "img.png"), np.zeros((7, 9, 3), np.uint8))
    _file(tmp_path / "a.json", [], image_path="img.png", height=0)
    entry, labels, _, _ = _only(tmp_path)
    assert (entry["height"], entry["width"]) == labels.shape == (7, 9)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (_shape("x", [[0, 0], [1, 1]]), r"shape #0 \(polygon 'x'\): a polygon needs at least 3 points"),
        (_shape("x", [[0, 0]], "circle"), "a circle needs 2 points, found 1"),
        (_shape("x", [[0, 0], [1, 1]], "ellipse"), r"shape #0 \(ellipse 'x'\): unknown shape_type 'ellipse'"),
        (_shape("x", [[0, 0], [1, 1]], "mask", mask="bm90IGEgcG5n"), "mask is not a PNG image"),
        ({"points": []}, r"shapes\[0\].label: required field is missing"),
        (_shape("x", [[0, 0], [1e12, 0], [0, 5]]), "x coordinate 1e\\+12 lies far outside the 30x20 image"),
        (_shape("x", [[0, "1"], [1, 0], [0, 5]]), r"shapes\[0\].points\[0\]\[1\]: input should be a valid"),
    ],
)
def test_bad_shapes_name_file_and_shape(tmp_path: Path, shape: dict, message: str) -> None:
    _file(tmp_path / "bad.json", [shape])
    with pytest.raises(DatasetError, match=f"bad.json: .*{message}"):
        read_labelme(tmp_path)


def test_non_labelme_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"images": []}')
    with pytest.raises(DatasetError, match=r"other.json: not a labelme file \(no 'shapes' list\)"):
        read_labelme(tmp_path)


def test_write_then_read_is_lossless(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    category = rng.integers(0, 3, (12, 16)).astype(np.uint16)
    category[0] = VOID
    instance = np.where(category == 2, rng.integers(1, 4, (12, 16)), 0).astype(np.uint32)
    labels = LabelMap.from_arrays(category, instance)
    palette = Palette(
        "p",
        [ClassDef(0, "road", (1, 1, 1)), ClassDef(1, "sky", (2, 2, 2)), ClassDef(2, "car", (3, 3, 3), True)],
    )
    write_labelme(
        tmp_path / "out",
        [({"id": 1, "file_name": "sub/a.jpg"}, labels)],
        palette,
        images_dir=tmp_path / "images",
    )
    document = json.loads((tmp_path / "out" / "sub" / "a.json").read_text())
    assert document["imagePath"] == "../../images/sub/a.jpg"
    assert {s["shape_type"] for s in document["shapes"]} == {"mask"}
    ((entry, back),) = read_labelme(tmp_path / "out", palette, images_dir=tmp_path / "images").records
    assert entry["file_name"] == "sub/a.jpg"
    np.testing.assert_array_equal(back.category, labels.category)
    regions = {
        frozenset(
            map(
                tuple, np.argwhere((labels.category == s.category) & (labels.instance == s.instance)).tolist()
            )
        )
        for s in labels.segments()
    }
    regions_back = {
        frozenset(
            map(tuple, np.argwhere((back.category == s.category) & (back.instance == s.instance)).tolist())
        )
        for s in back.segments()
    }
    assert regions_back == regions
