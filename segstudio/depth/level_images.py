"""Training images kept compact for the level-wise trainer: each frame's depth cropped to the box its
sampled pixels' probes can reach, in uint16 millimetres, and the sampled pixels themselves.

A probe of offset ``u`` (pixel-metres) from a pixel at depth ``d`` lands ``rint(u / d)`` pixels away,
so the crop is the sampled pixels' bounding box grown by the bank's largest offset component times
the largest inverse depth among them (plus one pixel): every probe lands inside the crop or on the
frame's border, where ``FeatureBank`` reads the background constant too. Reading a crop therefore
gives the very float32 feature values of ``FeatureBank.evaluate`` on the whole frame (tests/depth),
at about a fifth of a frame's memory (a body at 3 m: ~250 x 350 pixels of 2 bytes).

A crop's invalid pixels (0 mm) hold ``BACKGROUND_MM`` instead, whose metres are the background
constant exactly: a probe then reads ``mm * 0.001`` wherever it lands inside the crop, with no test
for 0. That test was a branch the processor often guessed wrong (37 % of crop
pixels are background): growing cost ~1.3x the CPU with it, for the same trees.

Coordinates follow ``features._Probes``: rows and columns of the frame padded by one pixel
(float32), so the arithmetic of a probe is the same, operation for operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segstudio.depth.features import BACKGROUND_DEPTH_M, FeatureBank

BACKGROUND_MM = 10_000
"""What a crop holds where the frame has no reading: millimetres that read as ``BACKGROUND_DEPTH_M``."""
if np.float32(BACKGROUND_MM) * np.float32(0.001) != np.float32(BACKGROUND_DEPTH_M):
    raise ImportError("BACKGROUND_MM must read as BACKGROUND_DEPTH_M in float32")


@dataclass
class SampleSet:
    """Sampled training pixels: image index, padded row and column, inverse depth (float32), part."""

    image: np.ndarray
    row: np.ndarray
    col: np.ndarray
    inv_depth: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return int(self.image.size)

    def take(self, order: np.ndarray) -> SampleSet:
        """The samples in ``order`` (indices)."""
        return SampleSet(*(np.ascontiguousarray(a[order]) for a in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.image, self.row, self.col, self.inv_depth, self.label


@dataclass(frozen=True)
class FrameCrop:
    """One frame's crop (flat uint16 millimetres) with its box (top, left, height, width, frame
    height, frame width) and its samples' padded rows and columns, inverse depths and parts: small
    to send from the process that rendered the frame."""

    depth: np.ndarray
    box: tuple[int, int, int, int, int, int]
    row: np.ndarray
    col: np.ndarray
    inv_depth: np.ndarray
    label: np.ndarray


def crop_frame(
    depth_mm: np.ndarray,
    pixels: np.ndarray,
    labels: np.ndarray,
    reach: float,
    window: tuple[int, int, int, int] | None = None,
) -> FrameCrop | None:
    """One frame's crop for probes of up to ``reach`` pixel-metres from its sampled body pixels
    (row, col) and their parts (``None`` without pixels); a frame rendered only in ``window`` (top,
    bottom, left, right; ``body.window_frame``) must hold the crop, or its probes would read
    unrendered pixels."""
    depth_mm = np.asarray(depth_mm, np.uint16)
    height, width = depth_mm.shape
    if pixels.shape[0] == 0:
        return None
    rows, cols = pixels[:, 0].astype(np.int64), pixels[:, 1].astype(np.int64)
    reference = np.asarray(depth_mm[rows, cols], np.float32) * np.float32(0.001)
    if not np.all(reference > 0):
        raise ValueError("features are defined at foreground pixels only (depth > 0)")
    inv_depth = (1.0 / reference).astype(np.float32)
    margin = int(np.ceil(reach * float(inv_depth.max()))) + 1
    top, left = max(0, int(rows.min()) - margin), max(0, int(cols.min()) - margin)
    bottom, right = min(height, int(rows.max()) + margin + 1), min(width, int(cols.max()) + margin + 1)
    if window is not None and not (
        window[0] <= top and bottom <= window[1] and window[2] <= left and right <= window[3]
    ):
        raise ValueError(
            f"crop rows {top}..{bottom} columns {left}..{right} leave the rendered window {window}"
        )
    crop = depth_mm[top:bottom, left:right].flatten()  # a copy: the caller's frame stays as it is
    crop[crop == 0] = BACKGROUND_MM
    return FrameCrop(
        crop,
        (top, left, bottom - top, right - left, height, width),
        (rows + 1).astype(np.float32),
        (cols + 1).astype(np.float32),
        inv_depth,
        np.asarray(labels, np.uint8),
    )


FIRST_CAPACITY = 1 << 22
"""Millimetres (8 MB) the crops' buffer starts with, ~36 crops: enough to size it for the rest."""


@dataclass
class CroppedImages:
    """Depth crops of many frames in one flat uint16 buffer, grown one frame at a time.

    The crops go straight into that buffer, sized for the ``expected`` crops (its unwritten tail
    is never paged in), instead of a list joined at the end: joining held every crop twice (a share's
    ~21,000 crops are ~4.8 GB), and the freed list stayed in the allocator's heap while the
    trees grew (the 500-pixel recipe peaked at 15.6 GB so, one share 6.5 GB without)."""

    reach: float
    """Largest offset component (pixel-metres) of the bank the crops must serve."""
    expected: int | None = None
    """How many crops will come, if known: the buffer is sized for them once the first few show
    their mean size (unwritten pages cost no memory), so it is rarely copied."""
    _depth: np.ndarray = field(default_factory=lambda: np.empty(FIRST_CAPACITY, np.uint16))
    _used: int = 0
    _starts: list[int] = field(default_factory=list)
    _boxes: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    _samples: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    @classmethod
    def for_bank(cls, bank: FeatureBank, expected: int | None = None) -> CroppedImages:
        return cls(bank.reach, expected)

    def add(
        self,
        depth_mm: np.ndarray,
        pixels: np.ndarray,
        labels: np.ndarray,
        window: tuple[int, int, int, int] | None = None,
    ) -> None:
        """Keep one frame's crop and its sampled body pixels (``crop_frame``)."""
        self.append(crop_frame(depth_mm, pixels, labels, self.reach, window))

    def append(self, crop: FrameCrop | None) -> None:
        """Keep a crop made by ``crop_frame`` (perhaps in another process); ``None``: no samples."""
        if crop is None:
            return
        stop = self._used + crop.depth.size
        if stop > self._depth.size:
            grown = np.empty(self._capacity(stop), np.uint16)
            grown[: self._used] = self._depth[: self._used]
            self._depth = grown
        self._depth[self._used : stop] = crop.depth
        self._starts.append(self._used)
        self._used = stop
        self._boxes.append(crop.box)
        index = np.full(crop.label.size, len(self._boxes) - 1, np.int32)
        self._samples.append((index, crop.row, crop.col, crop.inv_depth, crop.label))

    def _capacity(self, needed: int) -> int:
        """A larger buffer: room for the ``expected`` crops at 1.25 x the mean size so far (usually
        the last growth, made early while the copy is small), else twice the current one."""
        size = 2 * self._depth.size
        if self.expected is not None and self._starts:
            left = max(0, self.expected - len(self._starts))
            size = max(size, int(needed + 1.25 * left * self._used / len(self._starts)))
        return max(size, needed)

    def __len__(self) -> int:
        return len(self._boxes)

    @property
    def nbytes(self) -> int:
        return self._used * self._depth.itemsize

    def packed(self) -> tuple[PackedImages, SampleSet]:
        """The crops as flat arrays for the split kernels (the crops' buffer itself, not a copy),
        and all samples in image order."""
        boxes = np.array(self._boxes, np.int64).reshape(-1, 6)
        images = PackedImages(
            depth=self._depth[: self._used],
            start=np.array(self._starts, np.int64),
            top=boxes[:, 0].copy(),
            left=boxes[:, 1].copy(),
            height=boxes[:, 2].copy(),
            width=boxes[:, 3].copy(),
            last_row=(boxes[:, 4] + 1).astype(np.float32),
            last_col=(boxes[:, 5] + 1).astype(np.float32),
        )
        columns = (
            [np.concatenate(parts) for parts in zip(*self._samples, strict=True)] if self._samples else []
        )
        samples = (
            SampleSet(*columns)
            if columns
            else SampleSet(np.zeros(0, np.int32), *(np.zeros(0, np.float32),) * 3, np.zeros(0, np.uint8))
        )
        return images, samples


@dataclass(frozen=True)
class PackedImages:
    """Crops in one flat uint16 buffer: crop ``i`` starts at ``start[i]``, covers frame rows ``top[i]
    ..`` (``height[i]`` of them) and columns ``left[i] ..``; ``last_row``/``last_col`` are the padded
    frame's last row and column (float32), as in ``features._Probes``."""

    depth: np.ndarray
    start: np.ndarray
    top: np.ndarray
    left: np.ndarray
    height: np.ndarray
    width: np.ndarray
    last_row: np.ndarray
    last_col: np.ndarray

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (
            self.depth,
            self.start,
            self.top,
            self.left,
            self.height,
            self.width,
            self.last_row,
            self.last_col,
        )

    def features(
        self, samples: SampleSet, u_row: np.ndarray, u_col: np.ndarray, v_row: np.ndarray, v_col: np.ndarray
    ) -> np.ndarray:
        """Float32 feature of every sample for its offsets (arrays broadcast against the samples):
        the numpy twin of the compiled readers in ``level_split_jit``."""
        return self._read(samples, u_row, u_col) - self._read(samples, v_row, v_col)

    def _read(self, samples: SampleSet, d_row: np.ndarray, d_col: np.ndarray) -> np.ndarray:
        image = samples.image
        last_row, last_col = self.last_row[image], self.last_col[image]
        row = np.minimum(
            np.maximum(samples.row + np.rint(d_row * samples.inv_depth), np.float32(0)), last_row
        )
        col = np.minimum(
            np.maximum(samples.col + np.rint(d_col * samples.inv_depth), np.float32(0)), last_col
        )
        in_row = row.astype(np.int64) - 1 - self.top[image]
        in_col = col.astype(np.int64) - 1 - self.left[image]
        inside = (in_row >= 0) & (in_row < self.height[image]) & (in_col >= 0) & (in_col < self.width[image])
        flat = self.start[image] + np.where(inside, in_row * self.width[image] + in_col, 0)
        mm = np.take(self.depth, flat) if self.depth.size else np.zeros(flat.shape, np.uint16)
        metres = mm.astype(np.float32) * np.float32(0.001)  # BACKGROUND_MM reads as the background
        return np.where(inside, metres, np.float32(BACKGROUND_DEPTH_M)).astype(np.float32)
