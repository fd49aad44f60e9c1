"""COCO panoptic read / write / evaluate, on the real sample from the panoptic API."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _sample import sample_fixtures

from segstudio.core.labels import VOID, LabelMap
from segstudio.io.coco_panoptic import (
    evaluate_panoptic_files,
    read_coco_panoptic,
    read_panoptic_png,
    write_coco_panoptic,
)
from segstudio.io.datasets import DatasetError
from segstudio.io.images import ImageReadError

SKY = 187  # sky-other-merged: one stuff segment in each sample image

sample_json, sample_data = sample_fixtures("panoptic_examples.json")


@pytest.fixture()
def sample_copy(tmp_path: Path, coco_panoptic_sample: Path) -> Path:
    """A writable copy of the sample's JSON and PNG folder, to break on purpose."""
    shutil.copy(coco_panoptic_sample / "panoptic_examples.json", tmp_path / "gt.json")
    shutil.copytree(coco_panoptic_sample / "panoptic_examples", tmp_path / "gt")
    for png in (tmp_path / "gt").iterdir():
        png.chmod(0o644)
    (tmp_path / "gt.json").chmod(0o644)
    return tmp_path / "gt.json"


def _segments_by_id(labels: LabelMap, ids: np.ndarray) -> dict[int, dict]:
    """Area/bbox/category/iscrowd of each segment id of a PNG, via the label map read from it."""
    out = {}
    for s in labels.segments():
        mask = (labels.category == s.category) & (labels.instance == s.instance)
        (segment_id,) = np.unique(ids[mask]).tolist()
        out[segment_id] = {
            "category_id": s.category,
            "iscrowd": int(s.iscrowd),
            "area": s.area,
            "bbox": list(s.bbox),
        }
    return out


def test_reading_the_sample_gives_its_exact_segments(sample_json: Path, sample_data: dict) -> None:
    dataset = read_coco_panoptic(sample_json)
    assert len(dataset.palette) == len(sample_data["categories"]) == 133
    assert len(dataset.palette.thing_ids) == 80
    assert [r.image for r in dataset.records] == sample_data["images"]
    annotations = {a["image_id"]: a for a in sample_data["annotations"]}
    for record in dataset.records:
        annotation = annotations[record.image["id"]]
        assert record.labels.shape == (record.image["height"], record.image["width"])
        ids = read_panoptic_png(sample_json.with_suffix("") / annotation["file_name"])
        got = _segments_by_id(record.labels, ids)
        expected = {
            s["id"]: {k: s[k] for k in ("category_id", "iscrowd", "area", "bbox")}
            for s in annotation["segments_info"]
        }
        assert got == expected
        assert np.array_equal(record.labels.category == VOID, ids == 0)


def test_write_of_read_keeps_every_segment_and_id(
    tmp_path: Path, sample_json: Path, sample_data: dict
) -> None:
    dataset = read_coco_panoptic(sample_json)
    out = tmp_path / "export"
    json_path = write_coco_panoptic(
        out, [(r.image, r.labels) for r in dataset.records], dataset.palette, licenses=dataset.licenses
    )
    assert json_path == out / "annotations" / "panoptic.json"
    written = json.loads(json_path.read_text())
    assert written["images"] == sample_data["images"]
    assert written["licenses"] == sample_data["licenses"]
    assert written["categories"] == sample_data["categories"]
    original = {a["image_id"]: a for a in sample_data["annotations"]}
    for annotation in written["annotations"]:
        assert annotation["file_name"] == original[annotation["image_id"]]["file_name"]
        for segment in annotation["segments_info"]:
            assert set(segment) == {"id", "category_id", "iscrowd", "bbox", "area"}
            assert all(
                type(v) is int for v in (segment["id"], segment["iscrowd"], segment["area"], *segment["bbox"])
            )
        new_ids = read_panoptic_png(out / "annotations" / "panoptic" / annotation["file_name"])
        old_ids = read_panoptic_png(sample_json.with_suffix("") / annotation["file_name"])
        # COCO gives stuff its category colour as id and we keep thing ids: the PNGs are equal
        assert np.array_equal(new_ids, old_ids)
        key = lambda s: s["id"]  # noqa: E731
        assert sorted(annotation["segments_info"], key=key) == sorted(
            original[annotation["image_id"]]["segments_info"], key=key
        )

    again = read_coco_panoptic(json_path)
    for before, after in zip(dataset.records, again.records, strict=True):
        assert before.image == after.image
        assert np.array_equal(before.labels.category, after.labels.category)
        assert np.array_equal(before.labels.instance, after.labels.instance)
        assert before.labels.crowd == after.labels.crowd

    results = evaluate_panoptic_files(sample_json, json_path, pred_dir=out / "annotations" / "panoptic")
    for name in ("All", "Things", "Stuff"):
        assert (results[name]["pq"], results[name]["sq"], results[name]["rq"]) == (1.0, 1.0, 1.0)
    assert results["All"]["n"] == 8 and results["Things"]["n"] == 4 and results["Stuff"]["n"] == 4


def test_same_partition_even_when_ids_change(tmp_path: Path, sample_json: Path) -> None:
    """Thing instances renumbered 1..n (as a model would): new ids, same segments, PQ still 1."""
    dataset = read_coco_panoptic(sample_json)
    pairs = []
    for record in dataset.records:
        labels = record.labels.copy()
        values, inverse = np.unique(labels.instance, return_inverse=True)
        labels.instance = np.arange(len(values), dtype=np.uint32)[inverse.reshape(labels.shape)]
        renumber = dict(zip(values.tolist(), range(len(values)), strict=True))
        labels.crowd = {(c, renumber[i]) for c, i in labels.crowd}
        pairs.append((record.image, labels))
    json_path = write_coco_panoptic(tmp_path / "out", pairs, dataset.palette)
    results = evaluate_panoptic_files(sample_json, json_path)  # default folder: JSON path without .json
    assert results["All"]["pq"] == 1.0 and results["All"]["n"] == 8


def test_pngs_are_rgb_not_bgr(tmp_path: Path) -> None:
    from segstudio.core.palette import ClassDef, Palette

    palette = Palette("p", [ClassDef(1, "thing", (10, 20, 30), isthing=True)])
    labels = LabelMap.from_arrays(np.ones((2, 3), np.uint16), np.full((2, 3), 0x030201, np.uint32))
    write_coco_panoptic(tmp_path / "out", [({"id": 1, "file_name": "x.jpg"}, labels)], palette)
    bgr = cv2.imread(str(tmp_path / "out" / "annotations" / "panoptic" / "x.png"), cv2.IMREAD_UNCHANGED)
    assert bgr[0, 0].tolist() == [3, 2, 1]  # OpenCV reads B, G, R: R = 1, G = 2, B = 3 as written


def test_names_with_several_dots_numpy_ints_and_sizes(tmp_path: Path) -> None:
    from segstudio.core.palette import ClassDef, Palette

    palette = Palette("p", [ClassDef(5, "ground", (0, 128, 0))])
    labels = LabelMap.from_arrays(np.full((4, 6), 5, np.uint16))
    image = {"id": np.int64(7), "file_name": "scan.2024.01.left.jpg", "extra": [np.int32(1)]}
    out = tmp_path / "out"
    json_path = write_coco_panoptic(out, [(image, labels)], palette)
    assert (out / "annotations" / "panoptic" / "scan.2024.01.left.png").is_file()
    written = json.loads(json_path.read_text())
    assert written["images"] == [
        {"id": 7, "file_name": "scan.2024.01.left.jpg", "extra": [1], "height": 4, "width": 6}
    ]
    assert written["annotations"][0]["file_name"] == "scan.2024.01.left.png"
    assert written["annotations"][0]["segments_info"] == [
        {"id": 128 * 256, "category_id": 5, "iscrowd": 0, "bbox": [0, 0, 6, 4], "area": 24}
    ]
    with pytest.raises(ValueError, match="6x5"):
        write_coco_panoptic(
            tmp_path / "bad", [({"id": 1, "file_name": "a.jpg", "height": 5}, labels)], palette
        )
    assert not (tmp_path / "bad").exists()  # nothing half-written
    with pytest.raises(ValueError, match=r"categories \[9\]"):
        unknown = LabelMap.from_arrays(np.full((2, 2), 9, np.uint16))
        write_coco_panoptic(tmp_path / "bad", [({"id": 1, "file_name": "a.jpg"}, unknown)], palette)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(FileExistsError):
        write_coco_panoptic(out, [(image, labels)], palette)


def test_evaluation_counts_a_missing_stuff_segment(tmp_path: Path, sample_json: Path) -> None:
    dataset = read_coco_panoptic(sample_json)
    pairs = [(r.image, r.labels.copy()) for r in dataset.records]
    first = pairs[0][1]
    first.category[first.category == SKY] = VOID  # the prediction forgets the sky of the first image
    json_path = write_coco_panoptic(tmp_path / "pred", pairs, dataset.palette)
    results = evaluate_panoptic_files(sample_json, json_path)
    sky = results["per_class"][str(SKY)]
    assert (sky["tp"], sky["fp"], sky["fn"]) == (1, 0, 1)
    assert sky["pq"] == pytest.approx(1 / 1.5) and sky["sq"] == 1.0 and sky["name"] == "sky-other-merged"
    assert results["All"]["pq"] == pytest.approx((7 + 1 / 1.5) / 8)
    assert results["Things"]["pq"] == 1.0


# -- errors name the file --------------------------------------------------------------------------


def _edit_json(path: Path, change) -> None:  # noqa: ANN001
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_missing_png_is_named(sample_copy: Path) -> None:
    (sample_copy.with_suffix("") / "000000439180.png").unlink()
    with pytest.raises(ImageReadError, match=r"gt/000000439180\.png: file not found"):
        read_coco_panoptic(sample_copy)


def test_png_ids_must_match_segments_info(sample_copy: Path) -> None:
    _edit_json(sample_copy, lambda d: d["annotations"][0]["segments_info"].pop(0))
    with pytest.raises(DatasetError, match=r"000000142238\.png: segment ids 3937500 are in the PNG"):
        read_coco_panoptic(sample_copy)


def test_unknown_category_is_named(sample_copy: Path) -> None:
    _edit_json(sample_copy, lambda d: d["annotations"][1]["segments_info"][0].update(category_id=999))
    with pytest.raises(DatasetError, match=r"gt\.json: .*unknown category_id 999"):
        read_coco_panoptic(sample_copy)


def test_bad_json_is_named(sample_copy: Path) -> None:
    sample_copy.write_text('{"images": [}')
    with pytest.raises(DatasetError, match=r"gt\.json: not valid JSON \(line 1"):
        read_coco_panoptic(sample_copy)


def test_non_rgb_png_is_named(sample_copy: Path) -> None:
    png = sample_copy.with_suffix("") / "000000142238.png"
    cv2.imwrite(str(png), np.zeros((427, 640), np.uint8))
    with pytest.raises(ImageReadError, match=r"000000142238\.png: 8-bit greyscale PNG; .*8-bit RGB"):
        read_coco_panoptic(sample_copy)
    png.write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=r"000000142238\.png: not a PNG"):
        read_coco_panoptic(sample_copy)


def test_png_size_must_match_the_image_entry(sample_copy: Path) -> None:
    _edit_json(sample_copy, lambda d: d["images"][1].update(height=480))
    with pytest.raises(DatasetError, match=r"000000439180\.png: PNG is 640x360 but image 439180 is 640x480"):
        read_coco_panoptic(sample_copy)


def test_evaluation_errors_name_the_file(sample_copy: Path, sample_json: Path) -> None:
    pred = sample_copy.with_name("pred.json")
    shutil.copy(sample_copy, pred)
    shutil.copytree(sample_copy.with_suffix(""), pred.with_suffix(""))
    _edit_json(pred, lambda d: d["annotations"].pop())
    with pytest.raises(DatasetError, match=r"pred\.json: no prediction for image id 439180"):
        evaluate_panoptic_files(sample_json, pred)
    shutil.copy(sample_copy, pred)
    _edit_json(pred, lambda d: d["annotations"][0]["segments_info"].pop())
    with pytest.raises(DatasetError, match=r"pred/000000142238\.png: predicted segment id 10025880"):
        evaluate_panoptic_files(sample_json, pred)
    with pytest.raises(DatasetError, match=r"nowhere: PNG folder not found"):
        evaluate_panoptic_files(sample_json, pred, pred_dir=pred.parent / "nowhere")


# -- the JSON streamed ---------------------------------------------------------------------------


def test_annotations_in_another_order_than_images_are_matched(sample_copy: Path) -> None:
    expected = read_coco_panoptic(sample_copy)
    _edit_json(sample_copy, lambda d: d["annotations"].reverse())
    again = read_coco_panoptic(sample_copy)
    assert [r.image for r in again.records] == [r.image for r in expected.records]
    for read, first in zip(again.records, expected.records, strict=True):
        np.testing.assert_array_equal(read.labels.instance, first.labels.instance)
    assert again.info == expected.info and again.licenses == expected.licenses


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["annotations"].append(dict(d["annotations"][0])), "image id 142238 has two annotations"),
        (
            lambda d: d["annotations"].insert(0, dict(d["annotations"][1])),
            "image id 439180 has two annotations",
        ),
        (lambda d: d["images"].append(dict(d["images"][0])), "image id 142238 appears twice in 'images'"),
        (lambda d: d["annotations"].pop(), "image id 439180 has no annotation"),
        (
            lambda d: d["annotations"].append({**d["annotations"][0], "image_id": 7}),
            "annotation for image id 7 has no entry in 'images'",
        ),
        (lambda d: d["annotations"][1].update(image_id="x"), "image id 439180 has no annotation"),
        (lambda d: d["images"][1].update(id=None), r"images\[1\].id"),
        (
            lambda d: d["annotations"][1]["segments_info"][0].update(id=0),
            r"annotations\[1\].segments_info\[0\].id",
        ),
    ],
)
def test_streamed_checks_name_the_file_and_the_problem(sample_copy: Path, change: Any, message: str) -> None:
    _edit_json(sample_copy, change)
    with pytest.raises(DatasetError, match="^" + re.escape(str(sample_copy)) + rf": .*{message}"):
        read_coco_panoptic(sample_copy)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a JSON object at the top level"),
        ("", "not valid JSON"),
        ("   \n", "not valid JSON"),
        ('{\n"images": [],\n"annotations": [\n{"image_id": 1,,}]}', r"not valid JSON \(line 4, column"),
    ],
)
def test_broken_json_is_one_line_naming_the_file(sample_copy: Path, text: str, message: str) -> None:
    sample_copy.write_text(text)
    with pytest.raises(DatasetError, match="^" + re.escape(str(sample_copy)) + rf": {message}") as caught:
        read_coco_panoptic(sample_copy)
    assert "\n" not in str(caught.value)


def test_json_torn_after_the_entries_is_refused(sample_copy: Path) -> None:
    data = sample_copy.read_bytes()
    sample_copy.write_bytes(data[: len(data) - 40])  # the end of the categories cut away
    with pytest.raises(DatasetError, match="^" + re.escape(str(sample_copy)) + r": not valid JSON"):
        read_coco_panoptic(sample_copy)
