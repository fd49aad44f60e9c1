"""``np.unique`` for label maps, by runs instead of sorting every pixel.

A label map is piecewise constant: a 640x480 COCO map has a few thousand runs of equal values
along its rows for 307,200 pixels. Finding where the values change is one linear pass; only the
run values are sorted, and counts come from ``np.bincount`` of the run lengths. The results are
exactly ``np.unique``'s (keys sorted, counts and inverse the same); on a map of noise every
pixel is its own run, which costs about what ``np.unique`` does. Runs along one or two maps of
4-byte integers are found by one compiled pass where the optional extension is built
(``segstudio._native``), else by numpy, with the same results.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from segstudio import _native


class Runs(NamedTuple):
    """Runs of equal values in flattened maps: where each starts, its length, its group."""

    starts: np.ndarray
    """Flat index of each run's first pixel (int64, increasing)."""
    lengths: np.ndarray
    """Pixels in each run (int64)."""


def find_runs(*maps: np.ndarray, row_width: int | None = None) -> Runs:
    """Runs along the flattened ``maps`` (same shape): a run ends where any of them changes value,
    and at every row start when ``row_width`` is given."""
    flat = [np.asarray(m).ravel() for m in maps]
    size = flat[0].size
    if size == 0:
        return Runs(np.zeros(0, np.int64), np.zeros(0, np.int64))
    if row_width is None and len(flat) <= 2 and _native.pixels is not None and all(map(_bitwise, flat)):
        # one compiled pass (segstudio._native), the same starts as the numpy passes below
        starts = np.frombuffer(_native.pixels.pair_run_starts(flat[0], flat[-1]), np.int64)
        return Runs(starts, np.diff(starts, append=size))
    change = np.empty(size, bool)
    change[0] = True
    np.not_equal(flat[0][1:], flat[0][:-1], out=change[1:])
    for values in flat[1:]:
        change[1:] |= values[1:] != values[:-1]
    if row_width is not None:
        change[::row_width] = True
    starts = np.flatnonzero(change)
    lengths = np.diff(starts, append=size)
    return Runs(starts, lengths)


def _bitwise(values: np.ndarray) -> bool:
    """Whether equal values are equal bytes and the compiled run finder takes them: 4-byte integers,
    contiguous (label maps and segment-id maps)."""
    return values.dtype.kind in "iu" and values.dtype.itemsize == 4 and values.flags.c_contiguous


def group_runs(keys: np.ndarray, runs: Runs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique keys, group of each run, pixel count of each key) from each run's key."""
    unique, group = np.unique(keys, return_inverse=True)
    counts = np.bincount(group, weights=runs.lengths, minlength=len(unique)).astype(np.int64)
    return unique, group.ravel(), counts


def unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_counts=True)`` (flattened), linear in the pixels for label maps."""
    flat = np.asarray(values).ravel()
    runs = find_runs(flat)
    unique, _, counts = group_runs(flat[runs.starts], runs)
    return unique, counts


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` with the inverse flattened."""
    flat = np.asarray(values).ravel()
    runs = find_runs(flat)
    unique, group, _ = group_runs(flat[runs.starts], runs)
    return unique, np.repeat(group, runs.lengths)


def pair_runs(first: np.ndarray, second: np.ndarray) -> tuple[Runs, np.ndarray, np.ndarray]:
    """Runs along two same-shape maps and each run's value in each: every value of either map is
    some run's, so a check of the values' range needs only these (a few thousand, not every pixel)."""
    a, b = np.asarray(first).ravel(), np.asarray(second).ravel()
    runs = find_runs(a, b)
    return runs, a[runs.starts], b[runs.starts]


def pack_pairs(
    runs: Runs, first: np.ndarray, second: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(unique keys, pixel counts)`` of ``first * offset + second`` over runs and their values
    (``pair_runs``): non-negative, ``second < offset``, the keys must fit uint64."""
    keys = first.astype(np.uint64) * np.uint64(offset) + second.astype(np.uint64)
    unique, _, counts = group_runs(keys, runs)
    return unique, counts


def pair_counts(first: np.ndarray, second: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(first * offset + second, return_counts=True)`` over two same-shape non-negative
    integer maps (``second < offset``; the packed keys must fit uint64), without packing every pixel."""
    return pack_pairs(*pair_runs(first, second), offset)


def compiled_pair_counts(
    first: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(values of ``first``, values of ``second``, pixel counts) of every distinct pair along two
    same-shape uint32 maps, in increasing (first, second) order: ``pair_runs`` + ``pack_pairs``'s
    answer in one compiled pass (a hash table per run, no sort of the runs). None without the
    extension or for other dtypes or layouts: the caller takes the numpy path."""
    answer = compiled_pair_answer(first, second)
    return None if answer is None else unpack_pair_counts(*answer)


def compiled_pair_answer(first: np.ndarray, second: np.ndarray) -> tuple[bytes, bytes] | None:
    """:func:`compiled_pair_counts` as the extension gives it (see :func:`unpack_pair_counts`),
    for ``core.pq.pq_of_pair_counts``."""
    if _native.pixels is None:
        return None
    a, b = np.asarray(first), np.asarray(second)
    if a.shape != b.shape or a.dtype != np.uint32 or b.dtype != np.uint32:
        return None
    if not (a.flags.c_contiguous and b.flags.c_contiguous):
        return None
    return _native.pixels.pair_counts(a, b)


def unpack_pair_counts(keys: bytes, counts: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first values, second values, counts) of the extension's pair counting answer: native
    uint64 keys ``first << 32 | second`` in increasing order and their int64 counts, as bytes."""
    packed = np.frombuffer(keys, np.uint64)
    return (
        (packed >> np.uint64(32)).astype(np.uint32),
        packed.astype(np.uint32),
        np.frombuffer(counts, np.int64),
    )
