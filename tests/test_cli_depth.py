"""``segstudio depth train|eval|bench|record`` through ``segstudio.cli.main`` on tiny settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segstudio import cli
from segstudio.depth.model import BodyPartModel

TINY_TRAIN = ["--frames", "3", "--pixels", "150", "--features", "50", "--candidates", "7", "--min-leaf", "2",
              "--trees", "2", "--depth", "6"]  # fmt: skip


@pytest.fixture(autouse=True)
def only_depth_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the real ``main`` with just the depth command, whether or not cli.py lists it yet."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("segstudio.commands.depth",))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.npz"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "COMMAND_MODULES", ("segstudio.commands.depth",))
        assert cli.main(["depth", "train", "--out", str(path), *TINY_TRAIN, "--json"]) == 0
    return path


def test_train_writes_a_model_and_prints_a_summary(
    tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = BodyPartModel.load(tiny_model)
    assert (model.info.frames, model.info.trees, model.info.candidate_features) == (3, 2, 7)
    out = tiny_model.with_name("again.npz")
    assert cli.main(["depth", "train", "--out", str(out), *TINY_TRAIN, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"out", "frames", "training_images", "trees", "depth", "nodes", "features_used", "seconds"} <= set(
        summary
    )
    assert summary["training_images"] == 6 and summary["trees"] == 2


def test_eval_prints_part_and_joint_scores(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["depth", "eval", "--forest", str(tiny_model), "--images", "2", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert {
        "mean_class_accuracy",
        "raw_mean_class_accuracy",
        "joint_map",
        "per_joint",
        "per_part_accuracy",
    } <= set(result)
    assert result["images"] == 2 and "images: 2/2" in captured.err
    assert cli.main(["depth", "eval", "--forest", str(tiny_model), "--images", "1"]) == 0
    table = capsys.readouterr().out
    assert "mean_class_accuracy" in table and "joint_map" in table


def test_eval_refuses_training_seeds(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["depth", "eval", "--forest", str(tiny_model), "--images", "2", "--seed", "1"]) == 1
    assert "overlap the training seeds" in capsys.readouterr().err


def test_eval_names_a_missing_or_bad_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.npz"
    assert cli.main(["depth", "eval", "--forest", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    bad.write_text("nope")
    assert cli.main(["depth", "eval", "--forest", str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err


def test_bench_prints_fps_and_device(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["depth", "bench", "--forest", str(tiny_model), "--repeats", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"device", "fps", "forest_ms", "smoothing_ms", "joints_ms", "total_ms", "body_pixels"} <= set(
        result
    )
    assert result["fps"] > 0 and result["frame"] == "640x480"


def test_record_synthetic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "take"
    assert cli.main(["depth", "record", "synthetic:3", str(out), "--frames", "2"]) == 0
    assert "recorded 2 frames" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.png")) == ["000000.png", "000001.png"]
    assert cli.main(["depth", "record", "synthetic:3", str(out), "--frames", "2"]) == 1  # exists
    assert cli.main(["depth", "record", "kinect-v9", str(tmp_path / "x")]) == 1
    assert "neither a folder" in capsys.readouterr().err


def test_the_bundled_forest_evaluates(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["depth", "eval", "--images", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mean_class_accuracy"] > 0.3  # one frame; the full score is in resources/models/README.md


def test_train_with_disjoint_trees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "disjoint.npz"
    assert cli.main(["depth", "train", "--out", str(out), *TINY_TRAIN, "--disjoint-trees", "--json"]) == 0
    model = BodyPartModel.load(out)
    assert model.info.disjoint_trees and model.forest.n_trees == 2
    capsys.readouterr()
    too_few = ["--frames", "1", "--trees", "2", "--disjoint-trees"]
    assert cli.main(["depth", "train", "--out", str(tmp_path / "x.npz"), *too_few]) == 2
    assert "frame per tree" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()


def test_refit_rewrites_the_leaves_and_keeps_the_trees(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "refit.npz"
    args = ["depth", "refit", "--forest", str(tiny_model), "--out", str(out), "--refit-frames", "2"]
    assert cli.main([*args, "--refit-first-frame", "20", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["refit_images"] == 4 and summary["refit_seeds"] == [20, 21]
    old, new = BodyPartModel.load(tiny_model), BodyPartModel.load(out)
    np.testing.assert_array_equal(new.forest.child, old.forest.child)
    np.testing.assert_array_equal(new.forest.threshold, old.forest.threshold)
    assert not np.array_equal(new.forest.leaf_proba, old.forest.leaf_proba)
    assert (new.info.refit_frames, new.info.refit_first_frame) == (2, 20)
    assert new.info.frame_seeds == range(0, 22)  # evaluation stays clear of the refit frames too
    assert cli.main([*args[:-1], "0"]) == 2
    assert "--refit-frames must be at least 1" in capsys.readouterr().err
