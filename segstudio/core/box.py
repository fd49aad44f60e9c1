"""Axis-aligned pixel boxes: every edit reports the box it changed, and repaint, undo,
autosave and incremental metrics all work on that box only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    """Half-open pixel box ``[top, bottom) x [left, right)`` in array (row, column) order."""

    top: int
    left: int
    bottom: int
    right: int

    @staticmethod
    def empty() -> Box:
        return Box(0, 0, 0, 0)

    @staticmethod
    def full(shape: tuple[int, ...]) -> Box:
        """The box covering a whole array of ``shape`` (height, width, ...)."""
        return Box(0, 0, int(shape[0]), int(shape[1]))

    @staticmethod
    def from_xywh(x: int, y: int, w: int, h: int) -> Box:
        return Box(int(y), int(x), int(y + h), int(x + w))

    @staticmethod
    def of_mask(mask: np.ndarray) -> Box:
        """The smallest box holding every set pixel of a 2-D boolean mask (empty when none is set)."""
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return Box.empty()
        cols = np.flatnonzero(mask.any(axis=0))
        return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)

    @property
    def height(self) -> int:
        return max(0, self.bottom - self.top)

    @property
    def width(self) -> int:
        return max(0, self.right - self.left)

    @property
    def area(self) -> int:
        return self.height * self.width

    @property
    def is_empty(self) -> bool:
        return self.height == 0 or self.width == 0

    @property
    def slices(self) -> tuple[slice, slice]:
        """Index a 2-D array with ``array[box.slices]``."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def xywh(self) -> tuple[int, int, int, int]:
        """COCO-style ``[x, y, width, height]``."""
        return self.left, self.top, self.width, self.height

    def union(self, other: Box) -> Box:
        if self.is_empty:
            return other
        if other.is_empty:
            return self
        return Box(
            min(self.top, other.top),
            min(self.left, other.left),
            max(self.bottom, other.bottom),
            max(self.right, other.right),
        )

    def intersect(self, other: Box) -> Box:
        box = Box(
            max(self.top, other.top),
            max(self.left, other.left),
            min(self.bottom, other.bottom),
            min(self.right, other.right),
        )
        return Box.empty() if box.is_empty else box

    def clip(self, shape: tuple[int, ...]) -> Box:
        """This box cut to an array of ``shape``; empty when nothing is left."""
        return self.intersect(Box.full(shape))

    def shift(self, rows: int, cols: int) -> Box:
        """This box moved down by ``rows`` and right by ``cols``."""
        return Box(self.top + rows, self.left + cols, self.bottom + rows, self.right + cols)

    def pad(self, margin: int) -> Box:
        return Box(self.top - margin, self.left - margin, self.bottom + margin, self.right + margin)

    def bands(self, max_pixels: int) -> list[Box]:
        """This box cut into full-width row bands of at most ``max_pixels`` (at least one row each),
        top to bottom: how a long edit is split so that no step touches much of a large image."""
        if self.is_empty:
            return []
        rows = max(1, max_pixels // self.width)
        return [
            Box(top, self.left, min(top + rows, self.bottom), self.right)
            for top in range(self.top, self.bottom, rows)
        ]
