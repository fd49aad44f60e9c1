"""Hostile and foreign input through the real CLI (issue 14): one regression test per finding.

Each ends in success read right, or exit != 0 with one line naming the file. Cases that used to
crash the process or hang run the CLI in a child process with a time bound.
"""

from __future__ import annotations

import copy
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from segstudio.cli import main
from segstudio.io.coco_instances import read_coco_instances
from segstudio.io.project import Project

SAMPLE_JSON = "panoptic_examples.json"
DETECTION_JSON = "panoptic_coco_detection_format.json"


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, lines
    return lines[0]


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def _panoptic(sample: Path) -> dict[str, Any]:
    return json.loads((sample / SAMPLE_JSON).read_text())


def _import_panoptic(
    sample: Path, json_path: Path, project: Path, *extra: str, masks: Path | None = None
) -> int:
    masks = masks or sample / "panoptic_examples"
    argv = [
        "import",
        "coco-panoptic",
        "--json",
        str(json_path),
        "--masks",
        str(masks),
        "--images",
        str(sample),
    ]
    return main([*argv, *extra, str(project)])


def _instances(sample: Path, tmp_path: Path, change: Any) -> tuple[int, Path]:
    data = json.loads((sample / DETECTION_JSON).read_text())
    data["annotations"] = data["annotations"][:5]
    change(data)
    path = _write(tmp_path / "i.json", data)
    argv = ["import", "coco-instances", "--json", str(path), "--images", str(sample), str(tmp_path / "p")]
    return main(argv), path


def _import_semantic(sample: Path, masks: Path, project: Path) -> int:
    return main(
        [
            "import",
            "semantic-png",
            "--masks",
            str(masks),
            "--images",
            str(sample),
            "--palette",
            "voc",
            str(project),
        ]
    )


def _child(argv: list[str], timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "segstudio", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


# -- crashes and tracebacks ------------------------------------------------------------------------


def test_polygon_coordinates_of_1e8_are_refused_not_a_segfault(
    coco_panoptic_sample: Path, tmp_path: Path
) -> None:
    data = json.loads((coco_panoptic_sample / DETECTION_JSON).read_text())
    data["annotations"] = data["annotations"][:3]
    data["annotations"][0]["segmentation"] = [[0, 0, 1e8, 0, 1e8, 1e8]]
    path = _write(tmp_path / "i.json", data)
    run = _child(["import", "coco-instances", "--json", str(path), "--images", str(coco_panoptic_sample),
                  str(tmp_path / "p")])  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"{path}: image" in run.stderr and "x coordinate 1e+08 lies far outside" in run.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["annotations"][0]["segments_info"][0].update(id=None), r"segments_info\[0\].id"),
        (lambda d: d["annotations"][0]["segments_info"][0].update(area=None), r"segments_info\[0\].area"),
        (lambda d: d["annotations"][0]["segments_info"][0].update(id=[1]), r"segments_info\[0\].id"),
        (lambda d: d["annotations"][0]["segments_info"][0].update(category_id={}), "category_id"),
        (lambda d: d["images"][1].pop("file_name"), r"images\[1\].file_name: required field is missing"),
        (
            lambda d: d["annotations"][0]["segments_info"][1].update(iscrowd="no"),
            "iscrowd: input should be 0 or 1",
        ),
        (
            lambda d: d["annotations"][0]["segments_info"][1].update(iscrowd=-1),
            "iscrowd: input should be 0 or 1",
        ),
        (
            lambda d: d["categories"][0].update(isthing="1"),
            r"categories\[0\].isthing: input should be 0 or 1",
        ),
        (lambda d: d["annotations"][0]["segments_info"][0].update(id=3937500.7), "got 3937500.7"),
    ],
)
def test_malformed_panoptic_fields_are_one_line_naming_file_and_field(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, message: str
) -> None:
    data = _panoptic(coco_panoptic_sample)
    change(data)
    path = _write(tmp_path / "p.json", data)
    assert _import_panoptic(coco_panoptic_sample, path, tmp_path / "project") == 1
    line = _error_line(capsys)
    assert line.startswith(f"segstudio import: error: {path}: ") and __import__("re").search(message, line)
    assert not (tmp_path / "project").exists()


@pytest.mark.parametrize("size", [5, None, [1], ["a", 2]])
def test_rle_size_of_the_wrong_type_is_refused(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], size: Any
) -> None:
    status, path = _instances(
        coco_panoptic_sample, tmp_path, lambda d: d["annotations"][0]["segmentation"].update(size=size)
    )
    assert status == 1 and f"{path}: annotations[0].segmentation.size" in _error_line(capsys)


def test_supercategory_null_from_labelme2coco_is_read_as_pycocotools_reads_it(
    coco_panoptic_sample: Path, tmp_path: Path
) -> None:
    status, path = _instances(
        coco_panoptic_sample, tmp_path, lambda d: [c.update(supercategory=None) for c in d["categories"]]
    )
    assert status == 0 and read_coco_instances(path).palette[1].supercategory == ""


def test_json_nested_100000_deep_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    argv = ["import", "coco-instances", "--json", str(path), "--images", str(tmp_path), str(tmp_path / "p")]
    assert main(argv) == 1 and _error_line(capsys).endswith(f"{path}: JSON nested too deeply to read")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_named_like_a_mask_is_refused_not_read(coco_panoptic_sample: Path, tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    os.mkfifo(masks / "000000142238.png")
    argv = ["import", "semantic-png", "--masks", str(masks), "--images", str(coco_panoptic_sample),
            "--palette", "voc", str(tmp_path / "p")]  # fmt: skip
    run = _child(argv, timeout=60)  # blocked forever in open() before
    assert run.returncode == 1
    assert run.stderr.strip().endswith(
        f"{masks / '000000142238.png'}: not a regular file (a pipe, socket or device is never read)"
    )
    png_dir = tmp_path / "panoptic"
    png_dir.mkdir()
    os.mkfifo(png_dir / "000000142238.png")
    run = _child(["import", "coco-panoptic", "--json", str(coco_panoptic_sample / SAMPLE_JSON), "--masks",
                  str(png_dir), "--images", str(coco_panoptic_sample), str(tmp_path / "q")])  # fmt: skip
    assert run.returncode == 1 and "000000142238.png: not a regular file" in run.stderr


def test_a_dangling_symlink_or_folder_mask_is_an_error_not_a_dropped_image(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "000000142238.png").symlink_to(tmp_path / "gone.png")
    assert _import_semantic(coco_panoptic_sample, masks, tmp_path / "p") == 1
    assert _error_line(capsys).endswith(
        f"{masks / '000000142238.png'}: dangling symlink (its target does not exist)"
    )
    (masks / "000000142238.png").unlink()
    (masks / "000000142238.png").mkdir()
    assert _import_semantic(coco_panoptic_sample, masks, tmp_path / "p") == 1
    assert _error_line(capsys).endswith(f"{masks / '000000142238.png'}: is a folder, not a file")


# -- silent wrong results --------------------------------------------------------------------------


def test_16_bit_label_value_65535_is_refused_not_unlabelled(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    values = np.zeros((427, 640), np.uint16)
    values[5, 7] = 65535
    cv2.imwrite(str(masks / "000000142238.png"), values)
    assert _import_semantic(coco_panoptic_sample, masks, tmp_path / "p") == 1
    assert "000000142238.png: pixel (7, 5) has value 65535, which cannot be a class id" in _error_line(capsys)


def test_an_empty_palette_file_is_a_palette_error(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    palette = _write(tmp_path / "empty.json", [])
    argv = [
        "import",
        "semantic-png",
        "--masks",
        str(tmp_path),
        "--images",
        str(coco_panoptic_sample),
        "--palette",
    ]
    assert main([*argv, str(palette), str(tmp_path / "p")]) == 1
    assert _error_line(capsys).endswith(f"{palette}: the palette has no classes")


def test_a_ground_truth_area_off_its_png_is_a_warning_naming_the_segment(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _panoptic(coco_panoptic_sample)
    segment = data["annotations"][0]["segments_info"][0]
    segment["area"] *= 20
    gt = _write(tmp_path / "gt.json", data)
    masks = str(coco_panoptic_sample / "panoptic_examples")
    argv = ["eval", "panoptic", "--gt-json", str(gt), "--pred-json", str(coco_panoptic_sample / SAMPLE_JSON)]
    assert main([*argv, "--gt-dir", masks, "--pred-dir", masks, "--json"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {gt}: image {data['annotations'][0]['image_id']!r}" in err
    assert f"ground-truth segment {segment['id']} has area {segment['area']} in the JSON" in err


# -- memory bombs ----------------------------------------------------------------------------------


def _png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 RGB PNG whose header (CRC fixed) claims ``width`` x ``height``."""
    data = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()
    body = struct.pack(">II", width, height) + data[24:29]
    return data[:16] + body + struct.pack(">I", zlib.crc32(b"IHDR" + body)) + data[33:]


def test_pngs_over_the_pixel_limit_are_refused_before_decoding(
    coco_panoptic_sample: Path, tmp_path: Path
) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    for png in (coco_panoptic_sample / "panoptic_examples").iterdir():
        (masks / png.name).write_bytes(_png_claiming(100_000, 100_000))
    sample_json = str(coco_panoptic_sample / SAMPLE_JSON)
    argv = ["import", "coco-panoptic", "--json", sample_json, "--masks", str(masks), "--images"]
    run = _child([*argv, str(coco_panoptic_sample), str(tmp_path / "p")])
    assert run.returncode == 1
    assert (
        "100000x100000 pixels (10000 MP) is over the pixel limit of 400 MP (set SEGSTUDIO_MAX_PIXELS"
        in run.stderr
    )
    photo = tmp_path / "photo.png"
    photo.write_bytes(_png_claiming(20_000, 20_000))
    from segstudio.io.images import ImageReadError, read_rgb

    os.environ["SEGSTUDIO_MAX_PIXELS"] = "100000000"
    try:
        with pytest.raises(ImageReadError, match="over the pixel limit of 100 MP"):
            read_rgb(photo)
    finally:
        del os.environ["SEGSTUDIO_MAX_PIXELS"]


def test_dataset_sizes_are_checked_against_the_image_and_the_limit(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, path = _instances(
        coco_panoptic_sample, tmp_path, lambda d: d["images"][0].update(height=100_000, width=100_000)
    )
    assert status == 1 and "over the pixel limit of 400 MP" in _error_line(capsys)
    folder = tmp_path / "labelme"
    folder.mkdir()
    document = {"shapes": [], "imagePath": os.path.relpath(coco_panoptic_sample / "000000142238.jpg", folder),
                "imageHeight": 100_000, "imageWidth": 100_000}  # fmt: skip
    _write(folder / "a.json", document)
    argv = ["import", "labelme", str(folder), "--images", str(coco_panoptic_sample), str(tmp_path / "q")]
    assert main(argv) == 1
    assert "a.json: imageHeight/imageWidth say 100000x100000 but 000000142238.jpg is 640x427" in _error_line(
        capsys
    )


# -- file escapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../000000142238.jpg", "a/../../000000142238.jpg", "/etc/passwd"])
def test_imported_file_names_stay_in_the_images_folder(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    status, _ = _instances(coco_panoptic_sample, tmp_path, lambda d: d["images"][0].update(file_name=name))
    line = _error_line(capsys)
    assert status == 1 and ("leads outside" in line or "is an absolute path outside" in line), line
    assert not (tmp_path / "p").exists()


def test_absolute_file_names_need_the_flag(coco_panoptic_sample: Path, tmp_path: Path, capsys) -> None:
    data = _panoptic(coco_panoptic_sample)
    for image in data["images"]:
        image["file_name"] = str(coco_panoptic_sample / image["file_name"])
    path = _write(tmp_path / "p.json", data)
    masks = coco_panoptic_sample / "panoptic_examples"
    assert _import_panoptic(coco_panoptic_sample, path, tmp_path / "a") == 0  # absolute, inside --images
    other = tmp_path / "elsewhere"
    other.mkdir()
    argv = ["import", "coco-panoptic", "--json", str(path), "--masks", str(masks), "--images", str(other)]
    assert main([*argv, str(tmp_path / "b")]) == 1
    assert "is an absolute path outside" in _error_line(capsys)
    assert main([*argv, "--allow-absolute-paths", str(tmp_path / "b")]) == 0
    data["annotations"][0]["file_name"] = "../" + data["annotations"][0]["file_name"]
    _write(path, data)
    assert _import_panoptic(coco_panoptic_sample, path, tmp_path / "c") == 1
    assert "leads outside" in _error_line(capsys)


def test_export_copy_keeps_subfolders_so_no_photo_is_overwritten(
    coco_panoptic_sample: Path, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    data = _panoptic(coco_panoptic_sample)
    for folder, image in zip(("a", "b"), data["images"], strict=True):
        (images / folder).mkdir(parents=True)
        photo = (coco_panoptic_sample / image["file_name"]).read_bytes()
        (images / folder / "x.jpg").write_bytes(photo)
        image["file_name"] = f"{folder}/x.jpg"
    for annotation, folder in zip(data["annotations"], ("a", "b"), strict=True):
        png = coco_panoptic_sample / "panoptic_examples" / annotation["file_name"]
        (tmp_path / "masks" / folder).mkdir(parents=True)
        (tmp_path / "masks" / folder / "x.png").write_bytes(png.read_bytes())
        annotation["file_name"] = f"{folder}/x.png"
    path = _write(tmp_path / "p.json", data)
    argv = [
        "import",
        "coco-panoptic",
        "--json",
        str(path),
        "--masks",
        str(tmp_path / "masks"),
        "--images",
        str(images),
    ]
    assert main([*argv, str(tmp_path / "project")]) == 0
    assert (
        main(
            ["export", "coco-panoptic", str(tmp_path / "project"), str(tmp_path / "out"), "--images", "copy"]
        )
        == 0
    )
    exported = json.loads((tmp_path / "out" / "annotations" / "panoptic.json").read_text())
    for image in exported["images"]:
        copied = tmp_path / "out" / "images" / image["file_name"]
        assert copied.read_bytes() == (images / image["file_name"]).read_bytes()
    assert {i["file_name"] for i in exported["images"]} == {"a/x.jpg", "b/x.jpg"}


# -- messages --------------------------------------------------------------------------------------


def test_control_characters_in_file_names_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "evil\n\x1b[31mname.json"
    path.write_text("{")
    argv = ["import", "coco-instances", "--json", str(path), "--images", str(tmp_path), str(tmp_path / "p")]
    assert main(argv) == 1
    line = _error_line(capsys)
    assert "evil\\n\\x1b[31mname.json: not valid JSON" in line and "\x1b" not in line


def test_polygon_export_area_is_what_the_polygons_decode_to(
    coco_panoptic_sample: Path, tmp_path: Path
) -> None:
    from pycocotools import mask as mask_utils

    assert _import_panoptic(coco_panoptic_sample, coco_panoptic_sample / SAMPLE_JSON, tmp_path / "p") == 0
    assert main(["export", "coco-instances", str(tmp_path / "p"), str(tmp_path / "out"), "--polygons"]) == 0
    data = json.loads((tmp_path / "out" / "annotations" / "instances.json").read_text())
    sizes = {i["id"]: (i["height"], i["width"]) for i in data["images"]}
    checked = 0
    for annotation in data["annotations"]:
        if isinstance(annotation["segmentation"], list):
            rles = mask_utils.frPyObjects(annotation["segmentation"], *sizes[annotation["image_id"]])
            assert annotation["area"] == int(mask_utils.area(mask_utils.merge(rles)))
            checked += 1
    assert checked > 10
    assert len(Project.open(tmp_path / "p")) == 2


def test_unchanged_sample_still_imports(coco_panoptic_sample: Path, tmp_path: Path) -> None:
    data = copy.deepcopy(_panoptic(coco_panoptic_sample))
    assert _import_panoptic(coco_panoptic_sample, _write(tmp_path / "p.json", data), tmp_path / "p") == 0
