"""Depth sources: synthetic frames on the clock, folders of PNGs (plain and TUM RGB-D), cameras whose
libraries are missing, and recording into a folder that appears only when complete."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from segstudio.depth.body import animate
from segstudio.depth.parts import BACKGROUND
from segstudio.depth.sources import (
    DepthFrame,
    DepthSource,
    FolderSource,
    FreenectSource,
    OpenNI2Source,
    RealSenseSource,
    SourceError,
    SyntheticSource,
    record,
    source_from_spec,
)


def read_all(source: DepthSource) -> list[DepthFrame]:
    frames = []
    with source:
        while (frame := source.read()) is not None:
            frames.append(frame)
    return frames


def test_synthetic_frames_follow_the_clock() -> None:
    source = SyntheticSource(seed=4, fps=15, n_frames=3)
    assert isinstance(source, DepthSource) and source.fps == 15
    frames = read_all(source)
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 1 / 15, 2 / 15])
    expected = animate(4, 2 / 15)
    np.testing.assert_array_equal(frames[2].depth, expected.depth)
    np.testing.assert_array_equal(frames[2].parts, expected.parts)
    assert frames[0].depth.dtype == np.uint16 and (frames[0].parts != BACKGROUND).any()
    assert not np.array_equal(frames[0].depth, frames[2].depth)  # the body moves
    assert read_all(source)[0].timestamp == 0.0  # open() starts over
    with pytest.raises(ValueError):
        SyntheticSource(fps=0)


def test_folder_of_png_reads_in_name_order(tmp_path: Path) -> None:
    for name, value in (("b.png", 2000), ("a.png", 1000), ("c.png", 3000)):
        cv2.imwrite(str(tmp_path / name), np.full((4, 5), value, np.uint16))
    (tmp_path / "notes.txt").write_text("ignored")
    source = FolderSource(tmp_path, fps=10)
    frames = read_all(source)
    assert [int(f.depth[0, 0]) for f in frames] == [1000, 2000, 3000]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.1, 0.2])
    assert frames[0].depth.dtype == np.uint16 and frames[0].parts is None
    assert source.fps == pytest.approx(10)


def test_tum_layout_is_converted_to_millimetres(tmp_path: Path) -> None:
    (tmp_path / "depth").mkdir()
    cv2.imwrite(
        str(tmp_path / "depth" / "1305031102.160407.png"), np.array([[5000, 0], [12345, 65535]], np.uint16)
    )
    cv2.imwrite(str(tmp_path / "depth" / "1305031102.194330.png"), np.full((2, 2), 10000, np.uint16))
    (tmp_path / "depth.txt").write_text(
        "# depth maps\n# file: 'rgbd_dataset_freiburg1_xyz.bag'\n# timestamp filename\n"
        "1305031102.160407 depth/1305031102.160407.png\n1305031102.194330 depth/1305031102.194330.png\n"
    )
    source = FolderSource(tmp_path)
    frames = read_all(source)
    np.testing.assert_array_equal(frames[0].depth, [[1000, 0], [2469, 13107]])  # 5000 per metre
    assert frames[1].depth[0, 0] == 2000 and frames[0].depth.dtype == np.uint16
    assert frames[0].timestamp == pytest.approx(1305031102.160407)
    assert source.fps == pytest.approx(1 / 0.033923, rel=1e-3)


def test_bad_folders_and_images_are_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a folder"):
        FolderSource(tmp_path / "absent").open()
    with pytest.raises(SourceError, match="no depth PNGs"):
        FolderSource(tmp_path).open()
    cv2.imwrite(str(tmp_path / "eight_bit.png"), np.zeros((3, 3), np.uint8))
    source = FolderSource(tmp_path)
    source.open()
    with pytest.raises(SourceError, match="eight_bit.png"):
        source.read()
    (tmp_path / "depth.txt").write_text("12.5\n")
    with pytest.raises(SourceError, match="depth.txt:1"):
        FolderSource(tmp_path).open()


@pytest.mark.parametrize(
    ("source", "module"),
    [(RealSenseSource, "pyrealsense2"), (FreenectSource, "freenect"), (OpenNI2Source, "openni")],
)
def test_missing_camera_libraries_are_named(
    source: type, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail even where it is installed
    camera = source()  # constructing never needs the library
    with pytest.raises(SourceError, match=module):
        camera.open()
    with pytest.raises(SourceError, match="before open"):
        camera.read()
    camera.close()  # harmless when never opened


def test_record_writes_a_complete_folder(tmp_path: Path) -> None:
    out = tmp_path / "take1"
    assert record(SyntheticSource(seed=2, n_frames=10), out, n_frames=3) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take1"]  # no staging folder left
    assert sorted(p.name for p in out.glob("*.png")) == ["000000.png", "000001.png", "000002.png"]
    replay = read_all(FolderSource(out))
    originals = read_all(SyntheticSource(seed=2, n_frames=3))
    for back, original in zip(replay, originals, strict=True):
        np.testing.assert_array_equal(back.depth, original.depth)
        np.testing.assert_array_equal(back.parts, original.parts)
        assert back.timestamp == pytest.approx(original.timestamp)
    with pytest.raises(FileExistsError):
        record(SyntheticSource(seed=2), out, n_frames=1)


def test_record_stops_at_the_end_of_a_source(tmp_path: Path) -> None:
    assert record(SyntheticSource(seed=1, n_frames=2), tmp_path / "short", n_frames=5) == 2


def test_a_failed_recording_leaves_nothing(tmp_path: Path) -> None:
    class Failing(SyntheticSource):
        def read(self) -> DepthFrame | None:
            if self._index == 2:
                raise SourceError("camera unplugged")
            return super().read()

    with pytest.raises(SourceError, match="unplugged"):
        record(Failing(seed=0), tmp_path / "take", n_frames=5)
    assert list(tmp_path.iterdir()) == []


def test_source_from_spec(tmp_path: Path) -> None:
    synthetic = source_from_spec("synthetic:7")
    assert isinstance(synthetic, SyntheticSource) and synthetic.seed == 7
    assert source_from_spec("synthetic").seed == 0
    assert isinstance(source_from_spec("realsense"), RealSenseSource)
    assert isinstance(source_from_spec("kinect"), FreenectSource)
    assert isinstance(source_from_spec("openni"), OpenNI2Source)
    assert isinstance(source_from_spec(str(tmp_path)), FolderSource)
    with pytest.raises(SourceError, match="neither a folder"):
        source_from_spec(str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="integer"):
        source_from_spec("synthetic:x")
