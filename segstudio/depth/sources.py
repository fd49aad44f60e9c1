"""Where depth frames come from: synthetic bodies, recorded folders, and depth cameras.

Every source follows ``DepthSource``: ``open()``, then ``read()`` until it returns None (the end of
a finite source; a camera never ends), then ``close()``; sources are also context managers. Frames
are uint16 millimetres (0 = no reading) with a timestamp in seconds and, when the source knows
them, ground-truth body parts.

Camera libraries are optional and imported only in ``open()``: importing this module never needs
them, and a missing library or device raises ``SourceError`` naming what is missing.

Folders: a plain folder of 16-bit PNGs in millimetres, read in name order (what ``record``
writes, with ``timestamps.txt`` and ground-truth ``parts/`` when it has them), or the TUM RGB-D
layout, recognised by its ``depth.txt`` (timestamp and file name per line, ``#`` comments),
whose PNGs store 5000 units per metre (converted here to millimetres).
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from segstudio.depth.body import animate
from segstudio.depth.noise import DEFAULT_NOISE, KinectNoise
from segstudio.depth.parts import BACKGROUND

TUM_UNITS_PER_METRE = 5000.0
"""TUM RGB-D depth PNGs: a value of 5000 is one metre."""
TIMESTAMPS_FILE = "timestamps.txt"
PARTS_FOLDER = "parts"


class SourceError(OSError):
    """A source that cannot deliver frames: missing library, no device, unreadable file or folder."""


@dataclass(frozen=True, eq=False)
class DepthFrame:
    """One frame: ``depth`` (H, W) uint16 mm, ``timestamp`` in seconds, ``parts`` (H, W) uint8 ground
    truth (``BACKGROUND`` off the body) or None."""

    depth: np.ndarray
    timestamp: float
    parts: np.ndarray | None = None

    @property
    def player(self) -> np.ndarray | None:
        """Where the person is, when the source knows (the Kinect SDK's "player index"): the
        classifier then labels only those pixels instead of the whole room."""
        return None if self.parts is None else self.parts != BACKGROUND


@runtime_checkable
class DepthSource(Protocol):
    """A stream of depth frames at a nominal ``fps``."""

    fps: float

    def open(self) -> None: ...

    def read(self) -> DepthFrame | None: ...

    def close(self) -> None: ...


class _Source(ABC):
    """``with source:`` opens and closes it."""

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> _Source:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SyntheticSource(_Source):
    """An animated synthetic body (``body.animate``) sampled at ``fps``: frame ``k`` is ``t = k / fps``,
    with ground-truth parts; endless unless ``n_frames`` is given."""

    def __init__(
        self,
        seed: int = 0,
        fps: float = 30.0,
        n_frames: int | None = None,
        noise: KinectNoise = DEFAULT_NOISE,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive; got {fps}")
        self.seed, self.fps, self.n_frames, self.noise = seed, float(fps), n_frames, noise
        self._index = 0

    def open(self) -> None:
        self._index = 0

    def read(self) -> DepthFrame | None:
        if self.n_frames is not None and self._index >= self.n_frames:
            return None
        t = self._index / self.fps
        frame = animate(self.seed, t, self.noise)
        self._index += 1
        return DepthFrame(frame.depth, t, frame.parts)

    def close(self) -> None:
        pass


class FolderSource(_Source):
    """Depth PNGs from a folder, plain or TUM RGB-D (see the module notes); ``fps`` is the given one
    for a plain folder without timestamps, else the median rate of the timestamps."""

    def __init__(self, path: str | os.PathLike[str], fps: float = 30.0) -> None:
        self.path, self.fps = Path(path), float(fps)
        self._entries: list[tuple[float, Path]] = []
        self._scale = 1.0
        self._index = 0

    def open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"{self.path}: not a folder of depth images")
        if (self.path / "depth.txt").is_file():
            self._entries, self._scale = _listing(self.path / "depth.txt"), 1000.0 / TUM_UNITS_PER_METRE
        elif (self.path / TIMESTAMPS_FILE).is_file():
            self._entries, self._scale = _listing(self.path / TIMESTAMPS_FILE), 1.0
        else:
            pngs = sorted(self.path.glob("*.png"))
            self._entries, self._scale = [(i / self.fps, p) for i, p in enumerate(pngs)], 1.0
        if not self._entries:
            raise SourceError(f"{self.path}: no depth PNGs found")
        stamps = np.array([t for t, _ in self._entries])
        steps = np.diff(stamps)
        if steps.size and np.median(steps) > 0:
            self.fps = float(1.0 / np.median(steps))
        self._index = 0

    def read(self) -> DepthFrame | None:
        if self._index >= len(self._entries):
            return None
        timestamp, path = self._entries[self._index]
        self._index += 1
        depth = _read_png(path, np.uint16)
        if self._scale != 1.0:
            depth = np.round(depth * self._scale).astype(np.uint16)
        parts_path = self.path / PARTS_FOLDER / path.name
        parts = _read_png(parts_path, np.uint8) if parts_path.is_file() else None
        return DepthFrame(depth, timestamp, parts)

    def close(self) -> None:
        self._entries = []

    def __len__(self) -> int:
        return len(self._entries)


def _listing(path: Path) -> list[tuple[float, Path]]:
    """``timestamp file`` lines (``#`` comments skipped), file names relative to the listing's folder."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        try:
            entries.append((float(fields[0]), path.parent / fields[1]))
        except (IndexError, ValueError) as exc:
            raise SourceError(f"{path}:{number}: expected 'timestamp file', got {line!r}") from exc
    return entries


def _read_png(path: Path, dtype: type[np.generic]) -> np.ndarray:
    """A single-channel PNG of exactly ``dtype`` (16-bit depth, 8-bit parts); anything else is refused."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise SourceError(f"{path}: missing or not a readable image")
    if image.ndim != 2 or image.dtype != dtype:
        raise SourceError(
            f"{path}: expected a single-channel {np.dtype(dtype)} PNG, got {image.dtype} {image.shape}"
        )
    return image


def _import(module: str, what: str, install: str) -> ModuleType:
    """Import an optional camera library, or say which one is missing and how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SourceError(f"{what}: the Python module '{module}' is not installed ({install})") from exc


class RealSenseSource(_Source):
    """An Intel RealSense depth stream through ``pyrealsense2``, converted to millimetres."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        self.width, self.height, self.fps = width, height, float(fps)
        self._pipeline = None
        self._to_mm = 1.0

    def open(self) -> None:
        rs = _import("pyrealsense2", "RealSense camera", "pip install pyrealsense2")
        config = rs.config()
        config.enable_stream(rs.stream.depth, self.width, self.height, rs.format.z16, int(self.fps))
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(config)
        except RuntimeError as exc:
            raise SourceError(f"RealSense camera: no device could be started ({exc})") from exc
        self._to_mm = profile.get_device().first_depth_sensor().get_depth_scale() * 1000.0
        self._pipeline = pipeline

    def read(self) -> DepthFrame | None:
        if self._pipeline is None:
            raise SourceError("RealSense camera: read() before open()")
        frame = self._pipeline.wait_for_frames().get_depth_frame()
        depth = np.asanyarray(frame.get_data())
        if self._to_mm != 1.0:
            depth = np.round(depth * self._to_mm).astype(np.uint16)
        return DepthFrame(np.array(depth, np.uint16), frame.get_timestamp() / 1000.0)

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None


class FreenectSource(_Source):
    """A Kinect v1 through libfreenect's Python ``freenect`` module (registered millimetre depth)."""

    fps = 30.0

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self._freenect: ModuleType | None = None

    def open(self) -> None:
        freenect = _import("freenect", "Kinect (libfreenect)", "build libfreenect with its Python wrapper")
        if freenect.sync_get_depth(self.index, freenect.DEPTH_MM) is None:
            raise SourceError(f"Kinect (libfreenect): no device at index {self.index}")
        self._freenect = freenect

    def read(self) -> DepthFrame | None:
        if self._freenect is None:
            raise SourceError("Kinect (libfreenect): read() before open()")
        got = self._freenect.sync_get_depth(self.index, self._freenect.DEPTH_MM)
        if got is None:
            raise SourceError(f"Kinect (libfreenect): device {self.index} stopped delivering frames")
        return DepthFrame(np.asarray(got[0], np.uint16), time.monotonic())

    def close(self) -> None:
        if self._freenect is not None:
            self._freenect.sync_stop()
            self._freenect = None


class OpenNI2Source(_Source):
    """Any OpenNI2 depth sensor (Kinect, Xtion, Orbbec) through the ``openni`` package."""

    fps = 30.0

    def __init__(self) -> None:
        self._openni2: ModuleType | None = None
        self._device = self._stream = None

    def open(self) -> None:
        openni2 = _import("openni.openni2", "OpenNI2 camera", "pip install openni, plus the OpenNI2 runtime")
        try:
            openni2.initialize()
            self._device = openni2.Device.open_any()
            self._stream = self._device.create_depth_stream()
            self._stream.start()
        except Exception as exc:  # the binding raises its own error types
            raise SourceError(f"OpenNI2 camera: no device could be opened ({exc})") from exc
        self._openni2 = openni2

    def read(self) -> DepthFrame | None:
        if self._stream is None:
            raise SourceError("OpenNI2 camera: read() before open()")
        frame = self._stream.read_frame()
        depth = np.frombuffer(frame.get_buffer_as_uint16(), np.uint16).reshape(frame.height, frame.width)
        return DepthFrame(depth.copy(), frame.timestamp / 1e6)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
        if self._openni2 is not None:
            self._openni2.unload()
        self._openni2 = self._device = self._stream = None


def record(source: DepthSource, out_dir: str | os.PathLike[str], n_frames: int) -> int:
    """Write up to ``n_frames`` of ``source`` to a new folder ``out_dir`` as ``000000.png`` ... (16-bit
    mm) with ``timestamps.txt`` and, when known, ``parts/``; returns the frames written.

    The folder is built under a temporary name beside ``out_dir`` and renamed at the end, so it
    appears complete or not at all; an existing ``out_dir`` is refused.
    """
    target = Path(out_dir)
    if target.exists():
        raise FileExistsError(f"{target}: already exists (choose a new folder to record into)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        lines = ["# timestamp file (16-bit PNG, millimetres)"]
        source.open()
        try:
            for index in range(n_frames):
                frame = source.read()
                if frame is None:
                    break
                name = f"{index:06d}.png"
                _write_png(staging / name, frame.depth, np.uint16)
                if frame.parts is not None:
                    _write_png(staging / PARTS_FOLDER / name, frame.parts, np.uint8)
                lines.append(f"{float(frame.timestamp)!r} {name}")  # repr: the exact float back
        finally:
            source.close()
        (staging / TIMESTAMPS_FILE).write_text("\n".join(lines) + "\n")
        os.chmod(staging, 0o755)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(lines) - 1


def _write_png(path: Path, image: np.ndarray, dtype: type[np.generic]) -> None:
    path.parent.mkdir(exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image, dtype)):
        raise SourceError(f"{path}: could not write the PNG")


CAMERAS: dict[str, type[_Source]] = {
    "realsense": RealSenseSource,
    "kinect": FreenectSource,
    "openni": OpenNI2Source,
}
"""Camera names accepted by ``source_from_spec``."""


def source_from_spec(spec: str) -> DepthSource:
    """``synthetic`` or ``synthetic:SEED``, a camera name of ``CAMERAS``, or a folder path."""
    name, _, argument = spec.partition(":")
    if name == "synthetic":
        try:
            return SyntheticSource(int(argument) if argument else 0)
        except ValueError as exc:
            raise ValueError(f"{spec!r}: the synthetic seed must be an integer, as in synthetic:7") from exc
    if spec in CAMERAS:
        return CAMERAS[spec]()
    if not Path(spec).is_dir():
        raise SourceError(f"{spec}: neither a folder nor one of synthetic[:SEED], {', '.join(CAMERAS)}")
    return FolderSource(spec)
