"""Each pixel's part: the compiled argmax gives numpy's labels, ties and NaNs included."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.depth.labels_jit import _kernel, part_labels


def test_the_compiled_argmax_is_available() -> None:
    assert _kernel() is not None


def test_part_labels_are_numpys_argmax() -> None:
    rng = np.random.default_rng(5)
    proba = rng.random((5000, 31), dtype=np.float32)
    proba[:100] = np.round(proba[:100] * 4) / 4  # many ties: the first largest wins
    proba[100, 7] = proba[100, 20] = np.nan  # the first NaN wins, as in numpy
    proba[101, 0] = np.nan
    proba[102] = np.nan
    proba[103] = -np.inf
    proba[104, 30] = np.inf
    labels = part_labels(proba)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    assert labels[100] == 7 and labels[101] == 0 and labels[104] == 30
    np.testing.assert_array_equal(part_labels(proba[::3]), proba[::3].argmax(axis=1))  # a strided view
    np.testing.assert_array_equal(part_labels(proba.astype(np.float64)), proba.argmax(axis=1))  # numpy's
    assert part_labels(np.zeros((0, 31), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="256 parts"):
        part_labels(np.zeros((2, 300), np.float32))
