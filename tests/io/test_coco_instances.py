"""COCO instance files: polygons, RLE and compressed RLE in; exact RLE or pixel-edge polygons out."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from _sample import sample_fixtures
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from segstudio.core.labels import VOID, LabelMap
from segstudio.core.palette import builtin_palette
from segstudio.io.coco_instances import (
    mask_to_polygons,
    mask_to_rle,
    read_coco_instances,
    rle_string_counts,
    write_coco_instances,
)
from segstudio.io.datasets import DatasetError

PERSON, CAR = 1, 3

sample_json, sample_data = sample_fixtures("panoptic_coco_detection_format.json")


def _write(
    path: Path, images: list[dict], annotations: list[dict], categories: list[dict] | None = None
) -> Path:
    categories = categories or [
        {"id": PERSON, "name": "person", "supercategory": "person"},
        {"id": CAR, "name": "car", "supercategory": "vehicle"},
    ]
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def _region(labels: LabelMap, category: int, instance: int) -> np.ndarray:
    return (labels.category == category) & (labels.instance == instance)


# -- the real sample ------------------------------------------------------------------------------


def test_sample_annotations_are_consistent_with_their_masks(sample_data: dict) -> None:
    """The file's own area and bbox agree with the decoded RLE (so the reader may rely on masks)."""
    sizes = {image["id"]: (image["height"], image["width"]) for image in sample_data["images"]}
    for annotation in sample_data["annotations"]:
        mask = mask_utils.decode(annotation["segmentation"])
        assert mask.shape == sizes[annotation["image_id"]]
        assert int(mask.sum()) == annotation["area"]
        ys, xs = np.nonzero(mask)
        bbox = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        assert bbox == annotation["bbox"]


def test_sample_imports_every_annotation_as_its_own_segment(sample_json: Path, sample_data: dict) -> None:
    dataset = read_coco_instances(sample_json)
    assert dataset.warnings == []
    assert [entry for entry, _ in dataset.records] == sample_data["images"]  # entries kept exactly
    panoptic = builtin_palette("coco-panoptic")
    assert [(c.id, c.name, c.color, c.isthing) for c in dataset.palette] == [
        (c.id, c.name, c.color, c.isthing) for c in panoptic
    ]
    labels_of = {entry["id"]: labels for entry, labels in dataset.records}
    next_instance: dict = {}
    for annotation in sorted(sample_data["annotations"], key=lambda a: a["id"]):
        labels = labels_of[annotation["image_id"]]
        category = annotation["category_id"]
        instance = 0
        if panoptic[category].isthing:  # things numbered 1, 2, ... in annotation id order
            instance = next_instance[annotation["image_id"]] = (
                next_instance.get(annotation["image_id"], 0) + 1
            )
        expected = mask_utils.decode(annotation["segmentation"]).astype(bool)
        np.testing.assert_array_equal(_region(labels, category, instance), expected)
        assert ((category, instance) in labels.crowd) == bool(annotation["iscrowd"])
    assert labels_of[142238].crowd == {(PERSON, 14)}
    assert sum(len(labels.segments()) for labels in labels_of.values()) == len(sample_data["annotations"])


def test_sample_export_then_import_is_lossless(tmp_path: Path, sample_json: Path) -> None:
    dataset = read_coco_instances(sample_json)
    path = write_coco_instances(tmp_path / "out", dataset.records, dataset.palette)
    assert path == tmp_path / "out" / "annotations" / "instances.json"
    again = read_coco_instances(path)
    assert again.palette.classes == dataset.palette.classes
    for (entry, labels), (entry2, labels2) in zip(dataset.records, again.records, strict=True):
        assert entry2 == entry
        np.testing.assert_array_equal(labels2.category, labels.category)
        np.testing.assert_array_equal(labels2.instance, labels.instance)
        assert labels2.crowd == labels.crowd

    written = json.loads(path.read_text())
    ids = [a["id"] for a in written["annotations"]]
    assert len(set(ids)) == len(ids) == 50 and min(ids) == 1
    for annotation in written["annotations"]:
        assert isinstance(annotation["segmentation"]["counts"], str)
        assert type(annotation["area"]) is int and all(type(v) is int for v in annotation["bbox"])
        mask = mask_utils.decode(annotation["segmentation"])
        assert mask.sum() == annotation["area"]
        assert mask_utils.toBbox(annotation["segmentation"]).astype(int).tolist() == annotation["bbox"]


def test_sample_polygon_export_keeps_crowd_as_rle_and_pixels_up_to_holes(
    tmp_path: Path, sample_json: Path
) -> None:
    dataset = read_coco_instances(sample_json)
    path = write_coco_instances(tmp_path / "out", dataset.records, dataset.palette, polygons=True)
    written = json.loads(path.read_text())
    for annotation in written["annotations"]:
        assert isinstance(annotation["segmentation"], dict if annotation["iscrowd"] else list)
    again = read_coco_instances(path)
    for (_, labels), (_, labels2) in zip(dataset.records, again.records, strict=True):
        changed = labels.category != labels2.category
        assert (
            changed.mean() < 0.001
        )  # only pixels of holes, filled by the outline of the segment around them


# -- masks and polygons ---------------------------------------------------------------------------


def _filled(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, -1)
    return filled.astype(bool)


def test_rectangle_polygon_follows_pixel_edges() -> None:
    mask = np.zeros((10, 12), bool)
    mask[3:8, 2:6] = True  # rows 3..7, columns 2..5
    assert mask_to_polygons(mask) == [[2, 3, 2, 8, 6, 8, 6, 3]]
    assert mask_to_polygons(mask[3:8, 2:6], left=2, top=3) == [[2, 3, 2, 8, 6, 8, 6, 3]]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.2, 0.7))
def test_polygons_decode_to_the_mask_with_holes_filled(seed: int, density: float) -> None:
    mask = _filled(np.random.default_rng(seed).random((9, 11)) < density)
    polygons = mask_to_polygons(mask)
    decoded = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, 9, 11))) if polygons else 0
    np.testing.assert_array_equal(np.asarray(decoded, bool) | np.zeros_like(mask), mask)


def test_compressed_rle_counts_match_pycocotools() -> None:
    mask = np.random.default_rng(7).random((23, 31)) < 0.3
    rle = mask_to_rle(mask)
    runs = rle_string_counts(rle["counts"])
    assert sum(runs) == 23 * 31
    flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(bool)  # alternating 0/1 runs
    np.testing.assert_array_equal(flat.reshape(31, 23).T, mask)  # column-major, as cocoapi
    assert (
        mask_utils.frPyObjects({"size": [23, 31], "counts": runs}, 23, 31)["counts"].decode() == rle["counts"]
    )


# -- synthetic files ------------------------------------------------------------------------------


def test_polygon_uncompressed_and_compressed_rle_with_overlaps(tmp_path: Path) -> None:
    big = np.zeros((10, 12), bool)
    big[1:9, 1:11] = True
    small = np.zeros((10, 12), bool)
    small[4:6, 4:7] = True
    runs = rle_string_counts(mask_to_rle(small)["counts"])
    path = _write(
        tmp_path / "a.json",
        [{"id": 5, "file_name": "a.jpg", "height": 10, "width": 12}],
        [
            # the small car comes first but stays on top of the big crowd region painted after it
            {"id": 1, "image_id": 5, "category_id": CAR, "segmentation": {"size": [10, 12], "counts": runs}},
            {"id": 2, "image_id": 5, "category_id": PERSON, "iscrowd": 1, "segmentation": mask_to_rle(big)},
            # polygon along pixel edges: columns 0..1, rows 0..2
            {"id": 3, "image_id": 5, "category_id": PERSON, "segmentation": [[0, 0, 2, 0, 2, 3, 0, 3]]},
        ],
    )
    dataset = read_coco_instances(path)
    ((entry, labels),) = dataset.records
    assert entry == {"id": 5, "file_name": "a.jpg", "height": 10, "width": 12}
    np.testing.assert_array_equal(_region(labels, CAR, 1), small)
    corner = np.zeros((10, 12), bool)
    corner[0:3, 0:2] = True
    np.testing.assert_array_equal(_region(labels, PERSON, 3), corner)  # smallest, on top of the crowd
    np.testing.assert_array_equal(_region(labels, PERSON, 2), big & ~small & ~corner)
    assert labels.crowd == {(PERSON, 2)}
    assert [c.isthing for c in dataset.palette] == [True, True]
    assert dataset.palette[CAR].color == builtin_palette("coco-panoptic")[CAR].color


def test_degenerate_and_hidden_annotations_are_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "a.json",
        [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 4}],
        [
            {"id": 1, "image_id": 1, "category_id": CAR, "segmentation": [[0, 0, 1, 1]]},
            {"id": 2, "image_id": 1, "category_id": CAR, "bbox": [0, 0, 1, 1]},
            {"id": 3, "image_id": 1, "category_id": CAR, "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]},
            {"id": 4, "image_id": 1, "category_id": PERSON, "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]},
        ],
    )
    dataset = read_coco_instances(path)
    assert len(dataset.warnings) == 4
    assert "annotation 1: polygon #0 has fewer than 3 points; dropped" in dataset.warnings[0]
    assert "annotation 1: empty mask; skipped" in dataset.warnings[1]
    assert "annotation 2: no segmentation; skipped" in dataset.warnings[2]
    assert (
        "annotation 3 is hidden by smaller ones on top" in dataset.warnings[3]
    )  # equal area: later id on top
    ((_, labels),) = dataset.records
    assert {(s.category, s.area) for s in labels.segments()} == {(PERSON, 4)}


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ({"segmentation": {"size": [4, 4], "counts": [3, 2]}}, "annotation 9: RLE counts add up to 5 pixels"),
        ({"segmentation": {"size": [4, 4], "counts": "1"}}, "annotation 9: RLE counts add up to 1 pixels"),
        (
            {"segmentation": {"size": [5, 4], "counts": [20]}},
            r"RLE size \[5, 4\] differs from the image's \[4, 4\]",
        ),
        ({"segmentation": [[0, 0, 1, 1, 2]]}, "annotation 9: polygon #0 has an odd number of coordinates"),
        ({"segmentation": {"size": [4, 4], "counts": "PP"}}, "ends inside a number"),
        ({"category_id": 99}, "annotation 9: category_id 99 is not in 'categories'"),
        ({"image_id": 2}, "annotation 9: image_id 2 is not in 'images'"),
    ],
)
def test_bad_annotations_name_file_and_annotation(tmp_path: Path, annotation: dict, message: str) -> None:
    entry = {"id": 9, "image_id": 1, "category_id": CAR, "segmentation": [[0, 0, 2, 0, 2, 2]], **annotation}
    path = _write(tmp_path / "bad.json", [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 4}], [entry])
    with pytest.raises(DatasetError, match=f"bad.json: .*{message}"):
        read_coco_instances(path)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"images": [')
    with pytest.raises(DatasetError, match=r"broken.json: not valid JSON \(line 1"):
        read_coco_instances(tmp_path / "broken.json")
    path = _write(tmp_path / "nosize.json", [{"id": 1, "file_name": "a.jpg"}], [])
    with pytest.raises(DatasetError, match=r"nosize.json: images\[0\].height: required field is missing"):
        read_coco_instances(path)
    with pytest.raises(DatasetError, match="missing.json: file not found"):
        read_coco_instances(tmp_path / "missing.json")


def test_categories_without_colour_or_known_name_get_stable_colours(tmp_path: Path) -> None:
    categories = [{"id": 1, "name": "widget"}, {"id": 2, "name": "gadget", "color": [1, 2, 3], "isthing": 0}]
    dataset = read_coco_instances(_write(tmp_path / "c.json", [], [], categories))
    assert (
        dataset.palette[1].isthing
        and dataset.palette[1].color == read_coco_instances(tmp_path / "c.json").palette[1].color
    )
    assert dataset.palette[1].color != (0, 0, 0)
    assert (dataset.palette[2].color, dataset.palette[2].isthing) == ((1, 2, 3), False)


def test_export_refuses_unknown_categories_and_leaves_nothing(tmp_path: Path) -> None:
    palette = builtin_palette("coco-panoptic")
    labels = LabelMap.from_arrays(np.array([[PERSON, 2000]], np.uint16), np.array([[1, 0]], np.uint32))
    with pytest.raises(ValueError, match=r"image 7 \('x.jpg'\): categories \[2000\] are not in palette"):
        write_coco_instances(tmp_path / "out", [({"id": 7, "file_name": "x.jpg"}, labels)], palette)
    assert not (tmp_path / "out").exists()
    empty = LabelMap.empty(2, 3)
    path = write_coco_instances(tmp_path / "out", [({"id": 7, "file_name": "x.jpg"}, empty)], palette)
    written = json.loads(path.read_text())
    assert written["images"] == [{"id": 7, "file_name": "x.jpg", "height": 2, "width": 3}]
    assert written["annotations"] == []
    assert (read_coco_instances(path).records[0][1].category == VOID).all()


def test_export_keeps_instance_ids_across_categories(tmp_path: Path) -> None:
    category = np.array([[CAR, PERSON, PERSON, VOID]], np.uint16)
    instance = np.array([[1, 2, 3, 0]], np.uint32)
    labels = LabelMap.from_arrays(category, instance, crowd={(PERSON, 3)})
    path = write_coco_instances(
        tmp_path / "out", [({"id": 1, "file_name": "a.jpg"}, labels)], builtin_palette("coco-panoptic")
    )
    ((_, back),) = read_coco_instances(path).records
    np.testing.assert_array_equal(back.instance, instance)
    assert back.crowd == {(PERSON, 3)}
