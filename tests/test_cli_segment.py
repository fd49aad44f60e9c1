"""``segstudio segment``: the real SAM 2.1 tiny network (1024 input) with weights saved by the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio import cli


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only this command, and a private (empty) torch hub cache."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("segstudio.commands.segment",))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("SEGSTUDIO_DEVICE", "cpu")
    yield


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rgb = np.full((120, 200, 3), 40, np.uint8)
    cv2.circle(rgb, (70, 60), 30, (220, 60, 50), -1)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    return path


def test_segment_writes_the_mask_at_the_image_size(
    photo: Path, sam_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "masks" / "mask.png"
    argv = ["segment", str(photo), "--model", "sam2.1-tiny", "--weights", str(sam_checkpoint)]
    argv += ["--points", "70,60", "150,30,-", "--box", "30,20,110,100", "--out", str(out), "--json"]
    assert cli.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    mask = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (120, 200) and mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) <= {0, 255}
    assert summary["pixels"] == int((mask == 255).sum()) and summary["model"] == "sam2.1-tiny"
    assert not list(out.parent.glob("*.tmp*"))


@pytest.mark.parametrize(
    ("extra", "code", "expected"),
    [
        (["--points", "5,x"], 2, "coordinates must be numbers"),
        (["--points", "5,6,*"], 2, "must be + or -"),
        (["--points", "500,6"], 2, "photo.png: point 500,6 lies outside the 200x120 image"),
        (["--box", "1,2,3"], 2, "expected x0,y0,x1,y1"),
        ([], 2, "give at least one --points"),
        (["--points", "5,6", "--model", "unet"], 2, "'unet' is not a click-to-segment model"),
        (["--points", "5,6", "--model", "sam3"], 2, "unknown model 'sam3'"),
        (["--points", "5,6"], 2, "place sam2.1_hiera_tiny.pt in"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(
    photo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    code: int,
    expected: str,
) -> None:
    out = tmp_path / "mask.png"
    assert cli.main(["segment", str(photo), "--out", str(out), *extra]) == code
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and err.startswith("segstudio segment: error:")
    assert not out.exists()


def test_a_missing_photo_a_jpeg_output_and_a_bad_checkpoint_are_named(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["segment", str(tmp_path / "nope.png"), "--points", "1,1", "--out", "m.png"]) == 1
    assert "nope.png" in capsys.readouterr().err
    assert cli.main(["segment", str(photo), "--points", "1,1", "--out", str(tmp_path / "m.jpg")]) == 2
    assert "name it .png" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    argv = [
        "segment",
        str(photo),
        "--points",
        "1,1",
        "--weights",
        str(junk),
        "--out",
        str(tmp_path / "m.png"),
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "junk.pt: not a readable weights file" in err and err.count("\n") == 1
