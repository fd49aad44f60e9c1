"""A body-part forest's arrays as the model file stores them (format version 2): what the tree
layout already implies is left out, so a forest twice the size still fits the bundled model's
20 MB bound (issue 19).

- ``feature``: int16 where the bank has fewer than 32,768 offset pairs (int32 otherwise), -1 at
  leaves, as in ``core.forest.Forest``.
- ``threshold``: the split nodes' only (a leaf's is never read; it loads as 0).
- ``child_step``: ``child`` minus what the layout predicts: the node's own index for a split node
  (the level-wise trees put children after their parent, so the step is small and grows slowly),
  ``~rank`` for the ``rank``-th leaf (leaves numbered in node order: step 0). Any forest encodes
  exactly; these trees' steps compress to a quarter of the plain ``child``.
- ``leaf_count``, ``leaf_class``, ``leaf_value``: each leaf's non-zero probabilities (float16, as
  the model keeps them) with their classes, leaf after leaf; a leaf of 20+ training pixels holds
  ~4 of the 31 parts.

Measured on a one-tree forest of 371,371 nodes: 4.11 MB as version 1, 2.97 MB as version 2.
"""

from __future__ import annotations

import numpy as np

from segstudio.core.forest import Forest


def forest_arrays(forest: Forest) -> dict[str, np.ndarray]:
    """The version-2 arrays of ``forest`` (its leaf probabilities rounded to float16)."""
    split = forest.feature >= 0
    n_leaves = forest.leaf_proba.shape[0]
    proba = forest.leaf_proba.astype(np.float16)
    nonzero = proba != 0
    return {
        "feature": forest.feature.astype(np.int16 if forest.n_features < 1 << 15 else np.int32),
        "threshold": forest.threshold[split].astype(np.float32),
        "child_step": (forest.child - _predicted_child(split)).astype(np.int32),
        "roots": forest.roots.astype(np.int32),
        "leaf_count": nonzero.sum(axis=1).astype(np.uint8),
        "leaf_class": np.nonzero(nonzero)[1].astype(np.uint8),
        "leaf_value": proba[nonzero],
        "leaf_shape": np.array([n_leaves, forest.n_classes], np.int64),
    }


def forest_from_arrays(arrays: dict[str, np.ndarray], n_features: int) -> Forest:
    """The forest of ``forest_arrays`` (float32 probabilities); ``ValueError`` when they disagree."""
    feature = arrays["feature"].astype(np.int32)
    split = feature >= 0
    if int(split.sum()) != arrays["threshold"].size:
        raise ValueError("one threshold per split node expected")
    threshold = np.zeros(feature.size, np.float32)
    threshold[split] = arrays["threshold"].astype(np.float32)
    child = (arrays["child_step"].astype(np.int64) + _predicted_child(split)).astype(np.int32)
    n_leaves, n_classes = (int(x) for x in arrays["leaf_shape"])
    count, classes = arrays["leaf_count"].astype(np.int64), arrays["leaf_class"].astype(np.int64)
    if count.size != n_leaves or not int(count.sum()) == classes.size == arrays["leaf_value"].size:
        raise ValueError("leaf counts, classes and values disagree")
    if classes.size and int(classes.max()) >= n_classes:
        raise ValueError(f"a leaf class is not below {n_classes}")
    leaf_proba = np.zeros((n_leaves, n_classes), np.float32)
    leaf_proba[np.repeat(np.arange(n_leaves), count), classes] = arrays["leaf_value"].astype(np.float32)
    return Forest(feature, threshold, child, arrays["roots"].astype(np.int32), leaf_proba, n_features)


def _predicted_child(split: np.ndarray) -> np.ndarray:
    """What the layout predicts for ``child``: the node's index at a split, ``~rank`` at a leaf."""
    index = np.arange(split.size, dtype=np.int64)
    leaf_rank = np.cumsum(~split) - 1
    return np.where(split, index, ~leaf_rank)
