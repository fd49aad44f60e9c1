"""``segstudio import`` / ``export`` on the real COCO panoptic sample, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from segstudio.cli import main
from segstudio.io.coco_panoptic import read_coco_panoptic
from segstudio.io.project import Project


def _import(sample: Path, project: Path) -> int:
    return main(
        ["import", "coco-panoptic", "--json", str(sample / "panoptic_examples.json"),
         "--images", str(sample), str(project)]
    )  # fmt: skip


def test_import_export_round_trip_is_exact_and_scores_pq_one(coco_panoptic_sample, tmp_path, capsys) -> None:
    project, out = tmp_path / "project", tmp_path / "export"
    assert _import(coco_panoptic_sample, project) == 0
    assert main(["export", "coco-panoptic", str(project), str(out), "--images", "copy"]) == 0

    original = json.loads((coco_panoptic_sample / "panoptic_examples.json").read_text())
    exported = json.loads((out / "annotations" / "panoptic.json").read_text())
    assert exported["images"] == original["images"]  # ids, names and extra fields survive
    key = lambda s: (s["category_id"], s["iscrowd"], s["area"], tuple(s["bbox"]))  # noqa: E731
    for before, after in zip(original["annotations"], exported["annotations"], strict=True):
        assert before["image_id"] == after["image_id"] and before["file_name"] == after["file_name"]
        assert sorted(map(key, before["segments_info"])) == sorted(map(key, after["segments_info"]))
    photos = sorted(p.name for p in (out / "images").iterdir())
    assert photos == sorted(i["file_name"] for i in original["images"])

    reread = read_coco_panoptic(out / "annotations" / "panoptic.json")
    source = read_coco_panoptic(coco_panoptic_sample / "panoptic_examples.json")
    for a, b in zip(source.records, reread.records, strict=True):
        assert np.array_equal(a.labels.category, b.labels.category)
        assert np.array_equal(a.labels.instance, b.labels.instance)

    capsys.readouterr()
    assert main(
        ["eval", "panoptic", "--gt-json", str(coco_panoptic_sample / "panoptic_examples.json"),
         "--pred-json", str(out / "annotations" / "panoptic.json"), "--json"]
    ) == 0  # fmt: skip
    scores = json.loads(capsys.readouterr().out)
    for group in ("All", "Things", "Stuff"):
        assert scores[group]["pq"] == 1.0 and scores[group]["n"] > 0


def test_import_with_a_missing_photo_leaves_no_project(coco_panoptic_sample, tmp_path, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(coco_panoptic_sample / "000000142238.jpg", photos)
    project = tmp_path / "project"
    assert main(
        ["import", "coco-panoptic", "--json", str(coco_panoptic_sample / "panoptic_examples.json"),
         "--masks", str(coco_panoptic_sample / "panoptic_examples"), "--images", str(photos), str(project)]
    ) != 0  # fmt: skip
    error = capsys.readouterr().err
    assert "000000439180.jpg" in error and len(error.strip().splitlines()) == 1
    assert not project.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]  # no half-built folder left behind


def test_export_refuses_an_existing_folder_and_links_photos(coco_panoptic_sample, tmp_path, capsys) -> None:
    project, out = tmp_path / "project", tmp_path / "out"
    assert _import(coco_panoptic_sample, project) == 0
    out.mkdir()
    assert main(["export", "coco-panoptic", str(project), str(out)]) != 0
    assert "already exists" in capsys.readouterr().err
    linked = tmp_path / "linked"
    assert main(["export", "coco-panoptic", str(project), str(linked), "--images", "link"]) == 0
    links = sorted((linked / "images").iterdir())
    assert links and all(p.is_symlink() and p.resolve().parent == coco_panoptic_sample for p in links)
    assert len(Project.open(project)) == 2


def test_export_of_a_missing_project_names_it(tmp_path, capsys) -> None:
    assert main(["export", "coco-panoptic", str(tmp_path / "nope"), str(tmp_path / "out")]) != 0
    assert "nope" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _labels_of(project: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    opened = Project.open(project)
    by_name = {}
    for entry in opened.entries():
        labels = opened.load_labels(entry.id)
        by_name[Path(entry.file).name] = (labels.category, labels.instance)
    return by_name


def test_coco_instances_import_export_import_is_lossless(coco_panoptic_sample, tmp_path) -> None:
    first, out, second = tmp_path / "first", tmp_path / "out", tmp_path / "second"
    detection = coco_panoptic_sample / "panoptic_coco_detection_format.json"
    assert (
        main(
            [
                "import",
                "coco-instances",
                "--json",
                str(detection),
                "--images",
                str(coco_panoptic_sample),
                str(first),
            ]
        )
        == 0
    )
    assert main(["export", "coco-instances", str(first), str(out)]) == 0
    exported = out / "annotations" / "instances.json"
    assert (
        main(
            [
                "import",
                "coco-instances",
                "--json",
                str(exported),
                "--images",
                str(coco_panoptic_sample),
                str(second),
            ]
        )
        == 0
    )
    before, after = _labels_of(first), _labels_of(second)
    assert before.keys() == after.keys() and len(before) == 2
    for name in before:
        assert np.array_equal(before[name][0], after[name][0])
        assert np.array_equal(before[name][1], after[name][1])
    people = (before["000000439180.jpg"][0] == 1).sum()
    assert people > 1000  # the sample really has labelled people in it


def test_semantic_png_export_import_is_lossless(coco_panoptic_sample, tmp_path, capsys) -> None:
    project, masks, back = tmp_path / "project", tmp_path / "masks", tmp_path / "back"
    assert _import(coco_panoptic_sample, project) == 0
    palette_file = tmp_path / "palette.json"
    from segstudio.io.palette_file import save_palette

    save_palette(Project.open(project).palette, palette_file)
    assert main(["export", "semantic-png", str(project), str(masks)]) == 0
    assert sorted(p.name for p in masks.iterdir()) == ["000000142238.png", "000000439180.png"]
    assert main(
        ["import", "semantic-png", "--masks", str(masks), "--images", str(coco_panoptic_sample),
         "--palette", str(palette_file), str(back)]
    ) == 0  # fmt: skip
    before, after = _labels_of(project), _labels_of(back)
    for name in before:
        assert np.array_equal(before[name][0], after[name][0])
    capsys.readouterr()
    assert main(["export", "cityscapes", str(project), str(tmp_path / "cs")]) != 0
    assert "Cityscapes" in capsys.readouterr().err and not (tmp_path / "cs").exists()


def test_labelme_import_then_cityscapes_export(tmp_path) -> None:
    import cv2

    folder = tmp_path / "labelme"
    folder.mkdir()
    cv2.imwrite(str(folder / "street.png"), np.full((40, 60, 3), 90, np.uint8))
    shapes = [
        {"label": "road", "points": [[0, 20], [59, 20], [59, 39], [0, 39]], "shape_type": "polygon"},
        {"label": "car", "points": [[10, 10], [30, 30]], "shape_type": "rectangle", "group_id": None},
    ]
    document = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": "street.png",
                "imageData": None, "imageHeight": 40, "imageWidth": 60}  # fmt: skip
    (folder / "street.json").write_text(json.dumps(document))
    project, out = tmp_path / "project", tmp_path / "cityscapes"
    assert main(["import", "labelme", str(folder), "--palette", "cityscapes", str(project)]) == 0
    assert main(["export", "cityscapes", str(project), str(out)]) == 0
    label_ids = cv2.imread(str(out / "street_gtFine_labelIds.png"), cv2.IMREAD_UNCHANGED)
    instance_ids = cv2.imread(str(out / "street_gtFine_instanceIds.png"), cv2.IMREAD_UNCHANGED)
    assert label_ids[35, 5] == 7 and label_ids[15, 15] == 26 and label_ids[2, 2] == 0  # road, car, unlabelled
    assert instance_ids[15, 15] == 26000 and instance_ids[35, 5] == 7


def test_cityscapes_import_reads_gtfine_and_finds_the_leftimg8bit_photos(tmp_path: Path) -> None:
    import cv2

    from segstudio.core.labels import LabelMap
    from segstudio.core.palette import builtin_palette
    from segstudio.io.cityscapes import write_cityscapes

    category = np.full((6, 8), 0, np.uint16)  # road
    category[:2] = 10  # sky
    instance = np.zeros((6, 8), np.uint32)
    category[3:5, 1:3], instance[3:5, 1:3] = 13, 4  # a car
    scene = LabelMap.from_arrays(category, instance)
    file_name = "aachen/aachen_000000_000019_leftImg8bit.png"
    gt_dir, images_dir = tmp_path / "gtFine" / "val", tmp_path / "leftImg8bit" / "val"
    write_cityscapes(gt_dir, [({"id": 1, "file_name": file_name}, scene)], builtin_palette("cityscapes"))
    photo = images_dir / file_name
    photo.parent.mkdir(parents=True)
    assert cv2.imwrite(str(photo), np.zeros((6, 8, 3), np.uint8))
    project_root = tmp_path / "project"
    args = ["import", "cityscapes", "--gt", str(gt_dir), "--images", str(images_dir), str(project_root)]
    assert main(args) == 0
    project = Project.open(project_root)
    (entry,) = project.entries()
    labels = project.load_labels(entry.id)
    assert project.palette.name == "cityscapes" and entry.source["file_name"] == file_name
    np.testing.assert_array_equal(labels.category, category)
    assert len({int(i) for i in labels.instance[category == 13]}) == 1 and labels.instance[3, 1] > 0
