"""``core.runs`` gives exactly ``np.unique``'s answers, and ``LabelMap.segments`` built on it
matches a plain per-segment count."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segstudio import _native
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.runs import compiled_pair_counts, find_runs, pair_counts, unique_counts, unique_inverse


def _blocky(rng: np.random.Generator, shape: tuple[int, int], values: int, block: int) -> np.ndarray:
    """Piecewise-constant map like a label map (block 1: noise, every pixel its own run)."""
    height, width = shape
    coarse = rng.integers(0, values, (height // block + 1, width // block + 1))
    return np.repeat(np.repeat(coarse, block, 0), block, 1)[:height, :width]


maps = st.tuples(
    st.integers(0, 2**32 - 1),
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(1, 6),
    st.integers(1, 9),
)


@settings(max_examples=60, deadline=None)
@given(maps)
def test_unique_by_runs_equals_numpy(spec) -> None:
    seed, height, width, values, block = spec
    rng = np.random.default_rng(seed)
    a = _blocky(rng, (height, width), values, block).astype(np.uint32) * np.uint32(2**20)
    b = _blocky(rng, (height, width), values, block).astype(np.uint16)
    for got, expected in (
        (unique_counts(a), np.unique(a, return_counts=True)),
        (pair_counts(a, b, 2**16), np.unique(a.astype(np.uint64) * 2**16 + b, return_counts=True)),
    ):
        assert np.array_equal(got[0], expected[0]) and got[0].dtype == expected[0].dtype
        assert np.array_equal(got[1], expected[1]) and got[1].dtype == expected[1].dtype
    keys, inverse = unique_inverse(b)
    expected_keys, expected_inverse = np.unique(b, return_inverse=True)
    assert np.array_equal(keys, expected_keys) and np.array_equal(inverse, expected_inverse.ravel())


@settings(max_examples=60, deadline=None)
@given(maps, st.sampled_from([np.uint32, np.int32]), st.booleans())
def test_compiled_runs_are_the_numpy_runs(spec, dtype, two_maps: bool) -> None:
    """``segstudio._native`` finds runs of one or two 4-byte maps in one pass: the same starts and
    lengths (and dtypes) as the numpy passes it stands in for."""
    assert _native.pixels is not None, "segstudio._native.pixels is not built"
    seed, height, width, values, block = spec
    rng = np.random.default_rng(seed)
    a = _blocky(rng, (height, width), values, block).astype(dtype) - (dtype == np.int32)
    b = _blocky(rng, (height, width), values, block).astype(dtype)
    maps = (a, b) if two_maps else (a,)
    compiled = find_runs(*maps)
    pixels, _native.pixels = _native.pixels, None
    try:
        pure = find_runs(*maps)
    finally:
        _native.pixels = pixels
    for got, expected in zip(compiled, pure, strict=True):
        assert np.array_equal(got, expected) and got.dtype == expected.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(maps)
def test_compiled_pair_counts_are_numpys(spec) -> None:
    """The (gt, pred) overlaps of PQ counted by the extension's hash table: ``np.unique``'s pairs,
    order and counts."""
    seed, height, width, values, block = spec
    rng = np.random.default_rng(seed)
    a = _blocky(rng, (height, width), values, block).astype(np.uint32) * np.uint32(2**24 - 1)
    b = _blocky(rng, (height, width), values + 1, block).astype(np.uint32) * np.uint32(977)
    counted = compiled_pair_counts(a, b)
    assert counted is not None
    keys, counts = np.unique(a.astype(np.uint64) * 2**32 + b, return_counts=True)
    assert np.array_equal(counted[0], keys >> np.uint64(32)) and counted[0].dtype == np.uint32
    assert np.array_equal(counted[1], keys & np.uint64(2**32 - 1)) and counted[1].dtype == np.uint32
    assert np.array_equal(counted[2], counts) and counted[2].dtype == np.int64
    assert compiled_pair_counts(a.astype(np.int32), b.astype(np.int32)) is None  # numpy's to do


def test_compiled_pair_counts_of_noise_grow_their_table() -> None:
    """Tens of thousands of distinct pairs (noise): the table grows many times, nothing is lost."""
    rng = np.random.default_rng(11)
    a = rng.integers(0, 2**32, (150, 200), dtype=np.uint32)
    b = rng.integers(0, 3, (150, 200), dtype=np.uint32)
    counted = compiled_pair_counts(a, b)
    assert counted is not None and len(counted[0]) > 20_000
    keys, counts = np.unique(a.astype(np.uint64) * 2**32 + b, return_counts=True)
    assert np.array_equal(counted[0].astype(np.uint64) * 2**32 + counted[1], keys)
    assert np.array_equal(counted[2], counts)
    empty = compiled_pair_counts(np.zeros(0, np.uint32), np.zeros(0, np.uint32))
    assert empty is not None and all(len(part) == 0 for part in empty)


def test_runs_break_at_row_starts() -> None:
    values = np.zeros((3, 4), np.uint8)
    runs = find_runs(values, row_width=4)
    assert runs.starts.tolist() == [0, 4, 8] and runs.lengths.tolist() == [4, 4, 4]
    assert find_runs(values).lengths.tolist() == [12]


def _reference_segments(labels: LabelMap) -> list[tuple]:
    """Each (category, instance) found the slow, obvious way."""
    found = []
    pairs = {(int(c), int(i)) for c, i in zip(labels.category.ravel(), labels.instance.ravel(), strict=True)}
    for category, instance in sorted(pairs):
        if category == VOID:
            continue
        mask = (labels.category == category) & (labels.instance == instance)
        rows, cols = np.nonzero(mask)
        box = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
        provenance = int(labels.provenance[mask].max())
        found.append(
            (category, instance, int(mask.sum()), box, (category, instance) in labels.crowd, provenance)
        )
    return found


@settings(max_examples=40, deadline=None)
@given(maps)
def test_segments_match_a_plain_count(spec) -> None:
    seed, height, width, values, block = spec
    rng = np.random.default_rng(seed)
    category = _blocky(rng, (height, width), values, block).astype(np.uint16)
    category[_blocky(rng, (height, width), 5, block) == 0] = VOID
    instance = _blocky(rng, (height, width), 3, max(1, block - 1)).astype(np.uint32)
    provenance = rng.integers(0, 3, (height, width)).astype(np.uint8)
    labels = LabelMap(category, instance, provenance, {(1, 1), (2, 0)})
    got = [
        (
            s.category,
            s.instance,
            s.area,
            (s.box.top, s.box.left, s.box.bottom, s.box.right),
            s.iscrowd,
            int(s.provenance),
        )
        for s in labels.segments()
    ]
    assert got == _reference_segments(labels)
    assert all(isinstance(s.provenance, Provenance) for s in labels.segments())
