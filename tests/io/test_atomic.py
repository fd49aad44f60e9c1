"""Atomic writes: complete or untouched, no temp files left behind, ordinary permissions."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from segstudio.io import atomic
from segstudio.io.atomic import atomic_directory, atomic_write_bytes, atomic_write_json

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_bytes_creates_parents_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "data.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert _names(target.parent) == ["data.bin"]


def test_failed_write_keeps_old_content_and_removes_temp(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "labels.npz"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["labels.npz"]


def test_write_json_round_trip_non_ascii(tmp_path: Path) -> None:
    target = tmp_path / "données" / "project.json"
    data = {"name": "café 图像", "values": [1, 2, 3]}
    atomic_write_json(target, data)
    assert json.loads(target.read_text(encoding="utf-8")) == data


@posix_only
def test_new_files_get_umask_permissions_not_private_ones(tmp_path: Path) -> None:
    target = tmp_path / "shared.png"
    atomic_write_bytes(target, b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~atomic._UMASK


@posix_only
def test_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "group.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_bytes() == b"new"


def test_directory_appears_complete(tmp_path: Path) -> None:
    target = tmp_path / "export"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("a")
        assert not target.exists()
    assert _names(target) == ["a.txt"]
    assert _names(tmp_path) == ["export"]


@posix_only
def test_directory_is_not_private(tmp_path: Path) -> None:
    with atomic_directory(tmp_path / "export") as staging:
        (staging / "a.txt").write_text("a")
    assert stat.S_IMODE((tmp_path / "export").stat().st_mode) == 0o777 & ~atomic._UMASK


def test_directory_refuses_existing_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "export"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="export"), atomic_directory(target):
        pass
    assert (target / "keep.txt").read_text() == "keep"


def test_directory_error_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "export") as staging:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("exporter failed")
    assert _names(tmp_path) == []


def test_directory_overwrite_replaces_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "export"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("exporter failed")
    assert _names(target) == ["old.txt"]
    with atomic_directory(target, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert _names(target) == ["new.txt"]
    assert _names(tmp_path) == ["export"]


def test_directory_swap_failure_restores_the_old_folder(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "export"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src).name.endswith(".partial"):
            raise OSError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with (
        pytest.raises(OSError, match="Permission denied"),
        atomic_directory(target, overwrite=True) as staging,
    ):
        (staging / "new.txt").write_text("new")
    assert _names(target) == ["old.txt"]
    assert _names(tmp_path) == ["export"]
