"""One image's labels: a category map, an instance map and per-pixel provenance.

A panoptic segment is a (category, instance) pair; instance 0 means stuff / no instance.
``VOID`` is a reserved category value distinct from every class id, so class 0 (e.g. VOC
background) stays a real class. Provenance records who last wrote each pixel, so that batch
pre-labelling never overwrites human work unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from segstudio.core.box import Box
from segstudio.core.runs import find_runs, group_runs

VOID: int = 0xFFFF
"""Reserved category value: no class. Class ids live in ``0 .. VOID - 1``."""

CATEGORY_DTYPE = np.uint16
INSTANCE_DTYPE = np.uint32


class Provenance(IntEnum):
    """Who last wrote a pixel."""

    NONE = 0
    MODEL = 1
    HUMAN = 2


@dataclass(frozen=True, slots=True)
class Segment:
    """A (category, instance) region of a label map, with its statistics."""

    category: int
    instance: int
    area: int
    box: Box
    iscrowd: bool = False
    provenance: Provenance = Provenance.NONE

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """COCO ``[x, y, width, height]`` of the tight box."""
        return self.box.xywh()


@dataclass
class LabelMap:
    """The labels of one image: three arrays of the image's size plus crowd flags.

    ``category`` (uint16, ``VOID`` = unlabelled), ``instance`` (uint32, 0 = none) and
    ``provenance`` (uint8 of ``Provenance``). ``crowd`` holds the (category, instance) pairs
    marked iscrowd.
    """

    category: np.ndarray
    instance: np.ndarray
    provenance: np.ndarray
    crowd: set[tuple[int, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        shape = self.category.shape
        if len(shape) != 2:
            raise ValueError(f"label maps are 2-D; got a category map of shape {shape}")
        for name, array, dtype in (
            ("category", self.category, CATEGORY_DTYPE),
            ("instance", self.instance, INSTANCE_DTYPE),
            ("provenance", self.provenance, np.uint8),
        ):
            if array.shape != shape:
                raise ValueError(f"{name} map has shape {array.shape}, expected {shape}")
            if array.dtype != dtype:
                raise ValueError(f"{name} map has dtype {array.dtype}, expected {np.dtype(dtype)}")

    @classmethod
    def empty(cls, height: int, width: int) -> LabelMap:
        """An unlabelled map: every pixel VOID, no instance, no provenance."""
        return cls(
            category=np.full((height, width), VOID, CATEGORY_DTYPE),
            instance=np.zeros((height, width), INSTANCE_DTYPE),
            provenance=np.zeros((height, width), np.uint8),
        )

    @classmethod
    def from_arrays(
        cls,
        category: np.ndarray,
        instance: np.ndarray | None = None,
        provenance: Provenance | np.ndarray = Provenance.HUMAN,
        crowd: set[tuple[int, int]] | None = None,
    ) -> LabelMap:
        """Build a map from plain arrays, checking value ranges instead of silently wrapping them."""
        category = np.asarray(category)
        if category.size and (category.min() < 0 or category.max() > VOID):
            raise ValueError(f"category values must lie in 0..{VOID}")
        if instance is None:
            instance = np.zeros(category.shape, INSTANCE_DTYPE)
        instance = np.asarray(instance)
        if instance.size and (instance.min() < 0 or int(instance.max()) > np.iinfo(INSTANCE_DTYPE).max):
            raise ValueError("instance values must fit uint32")
        if isinstance(provenance, np.ndarray):
            prov = provenance.astype(np.uint8, copy=True)
        else:
            prov = np.full(category.shape, int(provenance), np.uint8)
        cat = category.astype(CATEGORY_DTYPE, copy=True)
        prov[cat == VOID] = Provenance.NONE
        return cls(cat, instance.astype(INSTANCE_DTYPE, copy=True), prov, set(crowd or ()))

    @property
    def shape(self) -> tuple[int, int]:
        return self.category.shape  # type: ignore[return-value]

    def copy(self) -> LabelMap:
        return LabelMap(self.category.copy(), self.instance.copy(), self.provenance.copy(), set(self.crowd))

    def labelled(self) -> np.ndarray:
        """Boolean mask of pixels that carry a class."""
        return self.category != VOID

    def human(self) -> np.ndarray:
        """Boolean mask of pixels a human wrote last."""
        return self.provenance == Provenance.HUMAN

    def next_instance(self) -> int:
        """A fresh instance id (unique within the image, so ids stay unique across categories)."""
        return int(self.instance.max(initial=0)) + 1

    def segments(self) -> list[Segment]:
        """Every non-void (category, instance) pair with area, tight box, crowd flag and provenance.

        Provenance of a segment is HUMAN when any of its pixels is human-written, else the
        highest provenance found. Sorted by (category, instance). Found by runs along rows
        (``core.runs``), so the cost is one pass over the pixels plus a sort of the runs.
        """
        segments = []
        for key, area, top, left, bottom, right, prov in _segment_stats(self):
            category, instance = key >> 32, key & 0xFFFFFFFF
            if category == VOID:
                continue
            segments.append(
                Segment(
                    category=int(category),
                    instance=int(instance),
                    area=int(area),
                    box=Box(int(top), int(left), int(bottom) + 1, int(right) + 1),
                    iscrowd=(category, instance) in self.crowd,
                    provenance=Provenance(int(prov)),
                )
            )
        return segments

    def prune_crowd(self) -> None:
        """Forget crowd flags of segments that no longer exist."""
        if not self.crowd:
            return
        present = {(s.category, s.instance) for s in self.segments()}
        self.crowd &= present


def _segment_stats(labels: LabelMap) -> zip:
    """Per (category, instance) key, sorted: key, area, top row, left, bottom row, right column
    (inclusive) and highest provenance, from the runs along the rows."""
    width = labels.shape[1]
    runs = find_runs(labels.category, labels.instance, labels.provenance, row_width=width)
    first, last = runs.starts, runs.starts + runs.lengths - 1
    key = (labels.category.ravel()[first].astype(np.uint64) << np.uint64(32)) | labels.instance.ravel()[first]
    keys, group, areas = group_runs(key, runs)
    n = len(keys)
    top, bottom = np.full(n, labels.category.size, np.int64), np.full(n, -1, np.int64)
    np.minimum.at(top, group, first)
    np.maximum.at(bottom, group, last)
    left, right = np.full(n, width, np.int64), np.full(n, -1, np.int64)
    np.minimum.at(left, group, first % width)
    np.maximum.at(right, group, last % width)
    prov = np.zeros(n, np.uint8)
    np.maximum.at(prov, group, labels.provenance.ravel()[first])
    return zip(
        keys.tolist(),
        areas.tolist(),
        (top // width).tolist(),
        left.tolist(),
        (bottom // width).tolist(),
        right.tolist(),
        prov.tolist(),
        strict=True,
    )
