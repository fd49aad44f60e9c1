"""Semantic segmentation metrics: a confusion matrix kept up to date box by box.

Convention (the same as mmseg's ``intersect_and_union`` and torchmetrics with ``ignore_index``):

- rows are ground truth, columns are prediction, over the ``class_ids`` given (any uint16 values
  below ``VOID``, not necessarily contiguous), in that order;
- ground-truth pixels equal to ``ignore`` are not counted at all, whatever was predicted there;
- a prediction that is not a class (``VOID``, or an id outside ``class_ids``) lands in an extra
  "other" column: the ground-truth class loses recall and no class gains a false positive;
- a ground-truth value that is neither a class nor ``ignore`` lands in an extra "other" row: it is
  never scored itself, but a class predicted there counts as a false positive.

The stored ``counts`` are therefore ``(K + 1) x (K + 1)`` with "other" last on both axes.

Speed: ids are mapped to compact indices through a 65536-entry lookup table (``np.take``), and the
joint histogram of the two compact maps is taken by ``cv2.calcHist``, in row chunks spread over a
small thread pool (both release the GIL). Chunks stay below 2**24 pixels because calcHist returns
float32 counts, which are exact only up to there.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from segstudio.core.box import Box
from segstudio.core.labels import VOID

CHUNK_PIXELS = 1 << 22
"""Most pixels one calcHist call sees: well below 2**24, where float32 counts stop being exact."""

PARALLEL_MIN_PIXELS = 1 << 20
"""Maps at least this large are split over the thread pool; smaller ones are counted inline."""

WORKERS = max(1, min(4, os.cpu_count() or 1))
"""Threads counting a large map; numpy's take and OpenCV's calcHist both release the GIL."""


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """The private thread pool for large maps, made on first use."""
    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="segstudio-metrics")


@functools.lru_cache(maxsize=16)
def _luts(class_ids: tuple[int, ...], ignore: int) -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables from uint16 values to compact indices, for ground truth and prediction.

    Classes map to ``0 .. K-1`` and everything else to ``K`` ("other"); in the ground-truth table
    ``ignore`` maps to ``K + 1``, a row that is counted and then dropped.
    """
    k = len(class_ids)
    dtype = np.uint8 if k + 2 <= 256 else np.uint16
    pred_lut = np.full(VOID + 1, k, dtype)
    pred_lut[list(class_ids)] = np.arange(k, dtype=dtype)
    gt_lut = pred_lut.copy()
    gt_lut[ignore] = k + 1
    gt_lut.flags.writeable = False
    pred_lut.flags.writeable = False
    return gt_lut, pred_lut


def _checked_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both maps as 2-D uint16 arrays of one shape; other integer types are range-checked, not wrapped."""
    arrays = []
    for name, array in (("ground truth", gt), ("prediction", pred)):
        array = np.asarray(array)
        if array.ndim != 2:
            raise ValueError(f"{name} must be a 2-D category map; got shape {array.shape}")
        if array.dtype != np.uint16:
            if not np.issubdtype(array.dtype, np.integer):
                raise TypeError(f"{name} must hold integer category ids; got dtype {array.dtype}")
            if array.size and (array.min() < 0 or array.max() > VOID):
                raise ValueError(f"{name} values must lie in 0..{VOID}")
            array = array.astype(np.uint16)
        arrays.append(array)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"ground truth {arrays[0].shape} and prediction {arrays[1].shape} differ in shape")
    return arrays[0], arrays[1]


def _chunk_counts(
    gt: np.ndarray, pred: np.ndarray, gt_lut: np.ndarray, pred_lut: np.ndarray, k: int
) -> np.ndarray:
    """Joint histogram ``(K + 2) x (K + 1)`` of one chunk (at most ``CHUNK_PIXELS`` pixels)."""
    g = np.take(gt_lut, gt)
    p = np.take(pred_lut, pred)
    hist = cv2.calcHist([g, p], [0, 1], None, [k + 2, k + 1], [0, k + 2, 0, k + 1])
    return hist.astype(np.int64)


def _counts(gt: np.ndarray, pred: np.ndarray, class_ids: tuple[int, ...], ignore: int) -> np.ndarray:
    """The ``(K + 1) x (K + 1)`` counts of two checked maps: the fast path."""
    k = len(class_ids)
    height, width = gt.shape
    if gt.size == 0:
        return np.zeros((k + 1, k + 1), np.int64)
    gt_lut, pred_lut = _luts(class_ids, ignore)
    n_chunks = math.ceil(gt.size / CHUNK_PIXELS)
    if gt.size >= PARALLEL_MIN_PIXELS:
        n_chunks = WORKERS * math.ceil(n_chunks / WORKERS)
    rows = max(1, min(math.ceil(height / n_chunks), CHUNK_PIXELS // width))
    cols = min(width, CHUNK_PIXELS)  # only a row wider than a chunk is split across
    pieces = [
        (slice(r, r + rows), slice(c, c + cols))
        for r in range(0, height, rows)
        for c in range(0, width, cols)
    ]
    if len(pieces) == 1:
        hist = _chunk_counts(gt, pred, gt_lut, pred_lut, k)
    else:
        futures = [_pool().submit(_chunk_counts, gt[s], pred[s], gt_lut, pred_lut, k) for s in pieces]
        hist = np.add.reduce([f.result() for f in futures])
    return hist[: k + 1]


def _class_tuple(class_ids: Sequence[int] | np.ndarray, ignore: int) -> tuple[int, ...]:
    """Validated class ids: distinct uint16 values below VOID, ``ignore`` not among them."""
    ids = tuple(int(c) for c in np.asarray(class_ids).ravel())
    if not 0 <= ignore <= VOID:
        raise ValueError(f"ignore must lie in 0..{VOID}; got {ignore}")
    if any(not 0 <= c < VOID for c in ids):
        raise ValueError(f"class ids must lie in 0..{VOID - 1} (VOID is never a class)")
    if len(set(ids)) != len(ids):
        raise ValueError("class ids must be distinct")
    if ignore in ids:
        raise ValueError(f"the ignore value {ignore} cannot also be a class id")
    return ids


class ConfusionMatrix:
    """Pixel counts of (ground truth, prediction) over a palette's classes, with the metrics on top.

    Build one with :meth:`from_maps`, then keep it equal to a full recompute by telling it what
    changed in each edited box (:meth:`update_box` or :meth:`replace`): O(box), not O(image).
    """

    __slots__ = ("class_ids", "ignore", "counts", "_ids")

    def __init__(
        self,
        class_ids: Sequence[int] | np.ndarray,
        ignore: int = VOID,
        counts: np.ndarray | None = None,
    ) -> None:
        self.ignore = int(ignore)
        ids = self._ids = _class_tuple(class_ids, self.ignore)
        self.class_ids = np.array(ids, np.int64)
        """The classes, in row/column order."""
        k = len(ids)
        counts = np.zeros((k + 1, k + 1), np.int64) if counts is None else np.asarray(counts, np.int64)
        if counts.shape != (k + 1, k + 1):
            raise ValueError(f"counts must have shape {(k + 1, k + 1)}; got {counts.shape}")
        self.counts = counts
        """``(K + 1) x (K + 1)`` pixel counts; row and column ``K`` are "other" (see the module doc)."""

    @classmethod
    def from_maps(
        cls,
        gt: np.ndarray,
        pred: np.ndarray,
        class_ids: Sequence[int] | np.ndarray,
        ignore: int = VOID,
    ) -> ConfusionMatrix:
        """Count two whole category maps (the fast path: LUT + threaded ``cv2.calcHist``)."""
        matrix = cls(class_ids, ignore)
        matrix.add(gt, pred)
        return matrix

    # ------------------------------------------------------------------ updates

    def _histogram(self, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        gt, pred = _checked_pair(gt, pred)
        return _counts(gt, pred, self._ids, self.ignore)

    def _apply(self, delta: np.ndarray) -> None:
        """Add ``delta``, refusing a result with negative counts (pixels removed that were never added)."""
        counts = self.counts + delta
        if (counts < 0).any():
            raise ValueError("update removes pixels that were never counted; old arrays do not match")
        self.counts = counts

    def add_counts(self, delta: np.ndarray) -> None:
        """Add known count changes (what an undo step did, reverted), all or nothing."""
        self._apply(np.asarray(delta, np.int64))

    def add(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Count a region's pixels (e.g. a new image, or a box's new contents)."""
        self._apply(self._histogram(gt, pred))

    def subtract(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Uncount a region's pixels, as they were when counted."""
        self._apply(-self._histogram(gt, pred))

    def replace(
        self, gt_old: np.ndarray, pred_old: np.ndarray, gt_new: np.ndarray, pred_new: np.ndarray
    ) -> None:
        """Swap one region's old (gt, prediction) contents for its new ones, all or nothing."""
        self._apply(self._histogram(gt_new, pred_new) - self._histogram(gt_old, pred_old))

    def update_box(
        self,
        box: Box,
        gt: np.ndarray,
        pred: np.ndarray,
        *,
        gt_before: np.ndarray | None = None,
        pred_before: np.ndarray | None = None,
    ) -> None:
        """Follow an edit confined to ``box``: the matrix then equals a full recompute of the maps.

        ``gt`` and ``pred`` are the whole maps as they are now; ``gt_before`` / ``pred_before`` the
        box's contents before the edit (what undo keeps), ``None`` for the one that did not change.
        """
        if gt_before is None and pred_before is None:
            return
        gt_now, pred_now = gt[box.slices], pred[box.slices]
        self.replace(
            gt_now if gt_before is None else gt_before,
            pred_now if pred_before is None else pred_before,
            gt_now,
            pred_now,
        )

    def copy(self) -> ConfusionMatrix:
        return ConfusionMatrix(self.class_ids, self.ignore, self.counts.copy())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfusionMatrix):
            return NotImplemented
        return (
            self.ignore == other.ignore
            and np.array_equal(self.class_ids, other.class_ids)
            and np.array_equal(self.counts, other.counts)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"ConfusionMatrix({len(self.class_ids)} classes, {self.scored_pixels} scored pixels)"

    # ------------------------------------------------------------------ metrics

    @property
    def matrix(self) -> np.ndarray:
        """``K x K`` counts among the classes only (rows ground truth, columns prediction)."""
        k = len(self.class_ids)
        return self.counts[:k, :k]

    @property
    def true_positives(self) -> np.ndarray:
        k = len(self.class_ids)
        return np.diagonal(self.counts)[:k].copy()

    @property
    def gt_area(self) -> np.ndarray:
        """Scored ground-truth pixels of each class (whatever was predicted there)."""
        return self.counts[:-1].sum(axis=1)

    @property
    def pred_area(self) -> np.ndarray:
        """Pixels predicted as each class, on ground truth that is not ignored."""
        return self.counts[:, :-1].sum(axis=0)

    @property
    def scored_pixels(self) -> int:
        """Pixels whose ground truth is a class: the denominator of pixel accuracy."""
        return int(self.counts[:-1].sum())

    @property
    def iou(self) -> np.ndarray:
        """Per-class intersection over union; NaN for classes in neither ground truth nor prediction."""
        tp = self.true_positives
        union = self.gt_area + self.pred_area - tp
        return _ratio(tp, union)

    @property
    def miou(self) -> float:
        """Mean IoU over the classes present in ground truth or prediction; NaN when none is."""
        return _nanmean(self.iou)

    @property
    def class_accuracy(self) -> np.ndarray:
        """Per-class recall (mmseg's "Acc"); NaN for classes absent from the ground truth."""
        return _ratio(self.true_positives, self.gt_area)

    @property
    def pixel_accuracy(self) -> float:
        """Correct pixels over scored ground-truth pixels (mmseg's "aAcc"); NaN when none is scored."""
        total = self.scored_pixels
        return float(self.true_positives.sum() / total) if total else math.nan

    @property
    def fw_iou(self) -> float:
        """Frequency-weighted IoU: IoU weighted by each class's share of ground-truth pixels."""
        gt_area = self.gt_area
        total = gt_area.sum()
        if not total:
            return math.nan
        present = gt_area > 0
        return float((gt_area[present] * self.iou[present]).sum() / total)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float64, NaN where ``den`` is 0, without a divide warning."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN values; NaN (no warning) when there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def confusion_bincount(
    gt: np.ndarray,
    pred: np.ndarray,
    class_ids: Sequence[int] | np.ndarray,
    ignore: int = VOID,
) -> ConfusionMatrix:
    """The plain numpy reference: compact indices, one int64 combined index, ``np.bincount``.

    Same convention and result as :meth:`ConfusionMatrix.from_maps`; kept as the baseline the
    benchmark compares against and the oracle the tests check the fast path with.
    """
    matrix = ConfusionMatrix(class_ids, ignore)
    gt, pred = _checked_pair(gt, pred)
    k = len(matrix.class_ids)
    gt_lut, pred_lut = _luts(matrix._ids, matrix.ignore)
    combined = gt_lut[gt].astype(np.intp) * (k + 1) + pred_lut[pred]
    hist = np.bincount(combined.ravel(), minlength=(k + 2) * (k + 1)).reshape(k + 2, k + 1)
    matrix.counts = hist[: k + 1].astype(np.int64)
    return matrix
