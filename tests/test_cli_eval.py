"""``segstudio eval panoptic|semantic`` through ``segstudio.cli.main``: exit codes, output, errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio import cli


@pytest.fixture(autouse=True)
def only_eval_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the real ``main`` with just the eval command, independent of the other subcommands."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("segstudio.commands.eval",))


@pytest.fixture()
def gt_json(coco_panoptic_sample: Path) -> Path:
    return coco_panoptic_sample / "panoptic_examples.json"


@pytest.mark.parametrize("jobs", ["1", "2", "3"])
def test_panoptic_json_output(gt_json: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    argv = ["eval", "panoptic", "--gt-json", str(gt_json), "--pred-json", str(gt_json), "--json"]
    code = cli.main([*argv, "--jobs", jobs])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"All", "Things", "Stuff", "per_class"}
    for name in ("All", "Things", "Stuff"):
        assert set(results[name]) == {"pq", "sq", "rq", "n"}
        assert all(0.0 <= results[name][k] <= 1.0 for k in ("pq", "sq", "rq"))
        assert results[name]["pq"] == 1.0
    person = results["per_class"]["1"]
    assert {"pq", "sq", "rq", "tp", "fp", "fn"} <= set(person) and person["tp"] == 26


def test_panoptic_table(gt_json: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(gt_json.with_suffix(""))
    argv = ["eval", "panoptic", "--gt-json", str(gt_json), "--pred-json", str(gt_json)]
    assert cli.main([*argv, "--gt-dir", folder, "--pred-dir", folder]) == 0
    out = capsys.readouterr().out
    assert "All       | 100.0  100.0  100.0     8" in out
    assert "sky-other-merged" in out


def test_missing_file_exits_non_zero_naming_it(
    gt_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing_here.json"
    code = cli.main(["eval", "panoptic", "--gt-json", str(gt_json), "--pred-json", str(missing)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("jobs", ["1", "2", "3"])
def test_broken_prediction_png_is_named(
    gt_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    cv2.imwrite(str(pred_dir / "000000142238.png"), np.zeros((427, 640), np.uint8))
    argv = ["eval", "panoptic", "--gt-json", str(gt_json), "--pred-json", str(gt_json)]
    assert cli.main([*argv, "--pred-dir", str(pred_dir), "--jobs", jobs]) == 2
    assert "000000142238.png: 8-bit greyscale PNG" in capsys.readouterr().err


def _semantic_folders(tmp_path: Path) -> tuple[Path, Path]:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    gt = np.array([[0, 0, 15, 15], [15, 255, 12, 12]], np.uint8)  # VOC: background, person, dog, void
    pred = np.array([[0, 15, 15, 15], [15, 0, 12, 0]], np.uint8)
    cv2.imwrite(str(gt_dir / "img.png"), gt)
    cv2.imwrite(str(pred_dir / "img.png"), pred)
    return gt_dir, pred_dir


def test_semantic_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_dir, pred_dir = _semantic_folders(tmp_path)
    argv = ["eval", "semantic", "--gt", str(gt_dir), "--pred", str(pred_dir), "--palette", "voc", "--json"]
    assert cli.main(argv) == 0
    results = json.loads(capsys.readouterr().out)
    assert {"per_class_iou", "miou", "pixel_accuracy"} <= set(results)
    assert set(results["per_class_iou"]) == {"0", "12", "15"}
    assert all(0.0 <= v <= 1.0 for v in (*results["per_class_iou"].values(), results["miou"]))
    # background 1/3, dog 1/2, person 3/4; 5 of 7 scored pixels right
    assert results["miou"] == pytest.approx((1 / 3 + 1 / 2 + 3 / 4) / 3)
    assert results["pixel_accuracy"] == pytest.approx(5 / 7)


def test_semantic_table_and_bad_palette(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_dir, pred_dir = _semantic_folders(tmp_path)
    argv = ["eval", "semantic", "--gt", str(gt_dir), "--pred", str(pred_dir)]
    assert cli.main([*argv, "--palette", "voc"]) == 0
    out = capsys.readouterr().out
    assert "15 person" in out and "mIoU" in out
    assert cli.main([*argv, "--palette", str(tmp_path / "mine.json")]) == 2
    assert "mine.json" in capsys.readouterr().err
    assert (
        cli.main(
            ["eval", "semantic", "--gt", str(tmp_path / "nope"), "--pred", str(pred_dir), "--palette", "voc"]
        )
        == 2
    )
    assert "nope: folder not found" in capsys.readouterr().err
