"""``segstudio pixel-classify`` through ``segstudio.cli.main``: the output PNG, ``--json``, and bad
inputs named in one line with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio import cli
from segstudio.io.images import write_png
from segstudio.io.semantic_png import read_label_values

HEIGHT, WIDTH = 60, 80
Capture = pytest.CaptureFixture[str]
Inputs = tuple[Path, Path, np.ndarray]


@pytest.fixture(autouse=True)
def only_pixel_classify_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the real ``main`` with just this command, whether or not cli.py lists it yet."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("segstudio.commands.pixel_classify",))


@pytest.fixture()
def inputs(tmp_path: Path) -> Inputs:
    """A noisy photo of a blue top half (class 1) over a green bottom half (class 2), one stroke each."""
    truth = np.where(np.arange(HEIGHT)[:, None] < HEIGHT // 2, 1, 2) * np.ones((1, WIDTH), np.uint8)
    colours = np.array([[0, 0, 0], [40, 60, 200], [50, 170, 60]], np.float64)
    noise = np.random.default_rng(0).normal(0, 10, (HEIGHT, WIDTH, 3))
    photo = np.clip(colours[truth] + noise, 0, 255).astype(np.uint8)
    scribbles = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.line(scribbles, (5, 10), (70, 12), 1, 2)
    cv2.line(scribbles, (8, 50), (72, 47), 2, 2)
    image_path, scribble_path = tmp_path / "photo.png", tmp_path / "scribbles.png"
    write_png(image_path, photo)
    write_png(scribble_path, scribbles)
    return image_path, scribble_path, truth


def run(image: Path, scribbles: Path, out: Path, *extra: str) -> int:
    return cli.main(["pixel-classify", str(image), "--scribbles", str(scribbles), "--out", str(out), *extra])


def test_writes_a_class_for_every_pixel(inputs: Inputs, tmp_path: Path, capsys: Capture) -> None:
    image, scribbles, truth = inputs
    out = tmp_path / "out" / "labels.png"
    assert run(image, scribbles, out, "--trees", "5") == 0
    labels = read_label_values(out)
    assert labels.dtype == np.uint8 and labels.shape == (HEIGHT, WIDTH)
    assert labels.min() >= 1 and set(np.unique(labels)) == {1, 2}
    assert (labels == truth).mean() > 0.97
    assert str(out) in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["labels.png"]  # no temporary left behind


def test_json_reports_timings(inputs: Inputs, tmp_path: Path, capsys: Capture) -> None:
    image, scribbles, _ = inputs
    assert run(image, scribbles, tmp_path / "labels.png", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"features_ms", "train_ms", "predict_ms", "total_ms", "classes", "pixels"}
    assert report["classes"] == 2 and report["pixels"] == HEIGHT * WIDTH
    stages = report["features_ms"] + report["train_ms"] + report["predict_ms"]
    assert all(report[k] > 0 for k in ("features_ms", "train_ms", "predict_ms"))
    assert report["total_ms"] >= stages - 0.5


def expect_error(capsys: Capture, code: int, *names: object) -> str:
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("segstudio pixel-classify: error:")
    for name in names:
        assert str(name) in err
    return err


def test_missing_and_broken_files_are_named(inputs: Inputs, tmp_path: Path, capsys: Capture) -> None:
    image, scribbles, _ = inputs
    out = tmp_path / "labels.png"
    missing = tmp_path / "nothing.jpg"
    expect_error(capsys, run(missing, scribbles, out), missing)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    expect_error(capsys, run(broken, scribbles, out), broken)
    expect_error(capsys, run(image, tmp_path / "none.png", out), tmp_path / "none.png")
    assert not out.exists()


def test_bad_scribbles_are_named(inputs: Inputs, tmp_path: Path, capsys: Capture) -> None:
    image, _, _ = inputs
    out = tmp_path / "labels.png"
    colour = tmp_path / "colour.png"
    write_png(colour, np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    expect_error(capsys, run(image, colour, out), colour)
    small = tmp_path / "small.png"
    write_png(small, np.ones((HEIGHT, WIDTH - 1), np.uint8))
    assert "80x60" in expect_error(capsys, run(image, small, out), small, image)
    empty = tmp_path / "empty.png"
    write_png(empty, np.zeros((HEIGHT, WIDTH), np.uint8))
    assert "no scribbles" in expect_error(capsys, run(image, empty, out), empty)
    wide = tmp_path / "wide.png"
    values = np.zeros((HEIGHT, WIDTH), np.uint16)
    values[5, 5], values[50, 50] = 1, 300
    write_png(wide, values)
    assert "255" in expect_error(capsys, run(image, wide, out), wide)
    assert not out.exists()


def test_bad_options_and_unwritable_output(inputs: Inputs, tmp_path: Path, capsys: Capture) -> None:
    image, scribbles, _ = inputs
    expect_error(capsys, run(image, scribbles, tmp_path / "labels.png", "--trees", "0"), "--trees")
    folder = tmp_path / "a_folder.png"
    folder.mkdir()
    expect_error(capsys, run(image, scribbles, folder), folder)
