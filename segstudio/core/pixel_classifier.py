"""The scribble pixel classifier: a random forest on filter features, trained from a few brush strokes.

Scribbles are an ``(H, W)`` integer map, 0 for unlabelled and ``k >= 1`` for class ``k``. Training draws
a class-balanced sample (at most ``samples_per_class`` pixels of each class, so a long stroke of sky
does not drown a short one of a horse) and fits ``segstudio.core.forest`` on it (split thresholds
halfway between training values), its trees grown in two groups on two threads. The model keeps a
signature of its training set; ``train_from_scribbles(..., previous=model)`` hands back ``previous``
untouched when nothing it learns from changed, so the GUI can call it on every stroke.

Scribbles of one class only give a trivial model: every pixel that class with probability 1 (the
forest is a single leaf). An interactive user sees the whole image take the class, as in ilastik.

Prediction is the hot path (a forest per pixel per stroke), so it does not walk the forest node list
like ``Forest.predict_proba``: leaves become self-loops and all (pixel, tree) pairs of a chunk of
pixels descend together for the forest's depth, one record gather per level, with no compaction
(about 3 ns per pair and level). Chunks run on a few threads, since numpy's gathers release the GIL.
With ``stride > 1`` the forest first runs on one pixel per ``stride x stride`` block, then again at
full resolution on every block that differs from a 4-neighbour block (about a fifth of them on a
busy photo). The labels are exact wherever classes meet; inside a uniform neighbourhood a block
takes its sampled pixel's probabilities (speckle smaller than a block is lost, which rarely hurts).
``stride=1`` is exact.
"""

from __future__ import annotations

import dataclasses
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from segstudio.core.features import worker_threads
from segstudio.core.forest import Forest, ForestParams, train_forest

MAX_CLASSES = 65535
"""Classes per model: prediction keeps block labels in uint16 for OpenCV's morphology."""

PAIRS_PER_CHUNK = 1 << 16
"""(pixel, tree) pairs descending together: big enough to amortise numpy calls, small enough for cache."""

DEFAULT_FOREST = ForestParams(n_trees=24, max_depth=12, thresholds="all", max_samples=0.5)
"""Chosen on the COCO benchmark photo (``segstudio bench pixel-classify``; single-core CPU seconds to
train / predict, mIoU): these 0.29 / 0.39, 0.69; 32 trees of depth 14 on the whole sample 0.65 /
0.47, 0.71; 100 trees of depth 14, ilastik's count, 1.96 / 1.23, 0.71. Fewer than 256 bins
(``n_bins``) would train faster but misplace splits between small scribbles of unequal size."""

TRAIN_GROUPS = 2
"""Trees grow in this many groups on as many threads (numpy releases the GIL for most of the work).
Fixed rather than the core count, so the same scribbles give the same model on every machine."""

NEIGHBOURS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
"""A block is refined when a 4-neighbour block (or itself) differs: 3x3 would refine 25% more pixels
for 0.2% more agreement with the exact labels (measured at stride 3)."""

_NODE = np.dtype([("offset", np.int32), ("child", np.int32), ("threshold", np.float32), ("leaf", np.int32)])
"""A node as one 16-byte record (numpy gathers 16-byte items with a fast copy loop)."""


@dataclass(frozen=True)
class ClassifierParams:
    """How the classifier trains: the forest, and how many scribble pixels of each class it sees."""

    forest: ForestParams = DEFAULT_FOREST
    samples_per_class: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples_per_class < 1:
            raise ValueError(f"samples_per_class must be at least 1; got {self.samples_per_class}")


@dataclass(frozen=True, eq=False)
class PixelClassifier:
    """A trained model: forest class ``i`` is scribble value ``classes[i]``."""

    forest: Forest
    classes: np.ndarray
    signature: str
    """Digest of the training set and params: equal signatures, equal forests."""
    _compiled: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    """The forest as node records per chunk size (``_compiled_nodes``), built on first prediction."""

    @property
    def n_classes(self) -> int:
        return int(self.classes.size)

    @property
    def n_features(self) -> int:
        return self.forest.n_features


def _check_features(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 3 or features.dtype not in (np.float32, np.float16):
        raise ValueError(
            f"expected an (F, H, W) float32 (or float16) feature stack; got {features.dtype} {features.shape}"
        )
    return features


def training_set(
    scribbles: np.ndarray, samples_per_class: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat pixel indices (sorted), their class indices, and the classes: a class-balanced sample."""
    flat = np.asarray(scribbles).ravel()
    if not np.issubdtype(flat.dtype, np.integer):
        raise ValueError(f"scribbles must be integers (0 = unlabelled, k >= 1 = class k); got {flat.dtype}")
    labelled = np.flatnonzero(flat)
    if labelled.size == 0:
        raise ValueError("no scribbles: draw at least one stroke (values >= 1)")
    values = flat[labelled]
    if values.min() < 0:
        raise ValueError(f"scribble values must be >= 0; found {values.min()}")
    order = np.argsort(values, kind="stable")
    classes, starts, counts = np.unique(values[order], return_index=True, return_counts=True)
    if classes.size > MAX_CLASSES:
        raise ValueError(f"{classes.size} classes scribbled; at most {MAX_CLASSES} are supported")
    rng = np.random.default_rng(seed)
    picks = []
    for start, count in zip(starts, counts, strict=True):
        members = order[start : start + count]
        picks.append(members if count <= samples_per_class else rng.choice(members, samples_per_class, False))
    chosen = np.sort(labelled[np.concatenate(picks)])
    return chosen, np.searchsorted(classes, flat[chosen]), classes


def train_from_scribbles(
    features: np.ndarray,
    scribbles: np.ndarray,
    params: ClassifierParams | None = None,
    previous: PixelClassifier | None = None,
) -> PixelClassifier:
    """Train on the scribbled pixels of an ``(F, H, W)`` stack; ``previous`` is returned as is when its
    training set (features at the sampled pixels, their classes, params) has not changed."""
    params = params or ClassifierParams()
    features = _check_features(features)
    scribbles = np.asarray(scribbles)
    if scribbles.shape != features.shape[1:]:
        raise ValueError(f"scribbles are {scribbles.shape} but the features are {features.shape[1:]}")
    pixels, y, classes = training_set(scribbles, params.samples_per_class, params.seed)
    X = np.ascontiguousarray(features.reshape(features.shape[0], -1)[:, pixels].T, np.float32)
    digest = hashlib.blake2b(repr((params, features.shape, classes.tolist())).encode(), digest_size=16)
    for array in (pixels, y, X):
        digest.update(np.ascontiguousarray(array).data)
    signature = digest.hexdigest()
    if previous is not None and previous.signature == signature:
        return previous
    return PixelClassifier(_train_in_groups(X, y, params.forest, classes.size), classes, signature)


def _train_in_groups(X: np.ndarray, y: np.ndarray, params: ForestParams, n_classes: int) -> Forest:
    """Grow the trees in ``TRAIN_GROUPS`` groups on as many threads, then join them into one forest."""
    sizes = [len(part) for part in np.array_split(np.arange(params.n_trees), TRAIN_GROUPS) if len(part)]
    groups = [
        dataclasses.replace(params, n_trees=size, seed=params.seed * TRAIN_GROUPS + g)
        for g, size in enumerate(sizes)
    ]
    if len(groups) == 1:
        return train_forest(X, y, groups[0], n_classes)
    with ThreadPoolExecutor(len(groups)) as pool:
        return Forest.concatenate(list(pool.map(lambda g: train_forest(X, y, g, n_classes), groups)))


# ---------------------------------------------------------------------------------------- prediction


def _compiled_nodes(model: PixelClassifier, chunk: int) -> np.ndarray:
    """The forest as node records for chunks of ``chunk`` pixels: leaves loop to themselves (threshold
    +inf), and ``offset`` is the feature's row in a chunk's ``(F, chunk)`` feature block."""
    if chunk not in model._compiled:
        forest = model.forest
        leaf = forest.child < 0
        nodes = np.empty(forest.n_nodes, _NODE)
        nodes["offset"] = np.where(leaf, 0, forest.feature) * chunk
        nodes["child"] = np.where(leaf, np.arange(forest.n_nodes), forest.child)
        nodes["threshold"] = np.where(leaf, np.inf, forest.threshold)
        nodes["leaf"] = np.where(leaf, ~forest.child, 0)
        model._compiled[chunk] = nodes
    return model._compiled[chunk]


def predict_pixels(
    model: PixelClassifier, features: np.ndarray, pixels: np.ndarray, threads: int | None = None
) -> np.ndarray:
    """Class probabilities ``(n, K)`` float32 of the given flat pixel indices; equals
    ``model.forest.predict_proba`` on their feature rows (features must be finite)."""
    forest = model.forest
    n_features = features.shape[0]
    if n_features != forest.n_features:
        raise ValueError(f"the model was trained on {forest.n_features} features; got {n_features}")
    flat = features.reshape(n_features, -1)
    n_trees, depth = forest.n_trees, forest.depth
    chunk = max(256, PAIRS_PER_CHUNK // n_trees)
    nodes = _compiled_nodes(model, chunk)
    lane = np.tile(np.arange(chunk, dtype=np.int32), n_trees)
    roots = np.repeat(forest.roots, chunk).astype(np.int32)
    proba = np.empty((pixels.size, model.n_classes), np.float32)

    def run(start: int) -> None:
        block = pixels[start : start + chunk]
        values = flat.take(np.pad(block, (0, chunk - block.size), mode="edge"), axis=1)  # (F, chunk)
        values = values.astype(np.float32, copy=False)  # a half-precision stack's values, exactly
        node = roots.copy()
        record = np.empty(node.size, _NODE)
        index = np.empty(node.size, np.int32)
        value = np.empty(node.size, np.float32)
        right = np.empty(node.size, np.bool_)
        for _ in range(depth):  # preallocated outputs; take(mode="clip") writes them without a copy
            nodes.take(node, out=record, mode="clip")
            np.add(record["offset"], lane, out=index)
            values.take(index, out=value, mode="clip")
            np.greater(value, record["threshold"], out=right)
            np.add(record["child"], right.view(np.int8), out=node)
        leaf_proba = forest.leaf_proba.take(nodes["leaf"].take(node), axis=0)
        total = leaf_proba.reshape(n_trees, chunk, -1).sum(axis=0)
        proba[start : start + block.size] = total[: block.size] / np.float32(n_trees)

    starts = range(0, pixels.size, chunk)
    threads = min(threads or worker_threads(), len(starts))
    if threads <= 1:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, starts))
    return proba


def _blown_up(blocks: np.ndarray, stride: int) -> np.ndarray:
    """Each block value repeated over ``stride`` x ``stride`` pixels (``np.repeat`` on both axes,
    as one broadcast copy: ``np.repeat`` keeps the GIL, ~0.3 s at 12 MP, which froze the GUI
    thread while a scribble run refined; a copy lets it go)."""
    rows, cols = blocks.shape[:2]
    rest = blocks.shape[2:]
    out = np.empty((rows * stride, cols * stride, *rest), blocks.dtype)
    out.reshape(rows, stride, cols, stride, *rest)[...] = blocks[:, None, :, None]
    return out


def _mixed_blocks(labels: np.ndarray) -> np.ndarray:
    """Blocks whose block neighbourhood (``NEIGHBOURS``) holds more than one class."""
    return cv2.dilate(labels, NEIGHBOURS) != cv2.erode(labels, NEIGHBOURS)


def predict(
    model: PixelClassifier, features: np.ndarray, *, stride: int = 3, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``(H, W)`` (scribble values, ``classes`` dtype) and probabilities ``(H, W, K)`` float32.

    ``stride`` > 1 predicts coarse-to-fine (see the module notes); 1 predicts every pixel.
    """
    features = _check_features(features)
    if stride < 1:
        raise ValueError(f"stride must be at least 1; got {stride}")
    _, height, width = features.shape
    n_classes = model.n_classes
    if stride == 1 or n_classes == 1:
        proba = predict_pixels(model, features, np.arange(height * width), threads)
        proba = proba.reshape(height, width, n_classes)
    else:
        rows = np.minimum(np.arange(0, height, stride) + stride // 2, height - 1)
        cols = np.minimum(np.arange(0, width, stride) + stride // 2, width - 1)
        sampled = (rows[:, None] * width + cols).ravel()
        coarse = predict_pixels(model, features, sampled, threads).reshape(rows.size, cols.size, n_classes)
        proba = np.ascontiguousarray(_blown_up(coarse, stride)[:height, :width])
        block_labels = coarse.argmax(axis=2).astype(np.uint8 if n_classes < 256 else np.uint16)
        mixed = _mixed_blocks(block_labels)
        refine = np.ascontiguousarray(_blown_up(mixed, stride)[:height, :width]).ravel()
        refine[sampled] = False
        pixels = np.flatnonzero(refine)
        proba.reshape(-1, n_classes)[pixels] = predict_pixels(model, features, pixels, threads)
    labels = model.classes[proba.argmax(axis=2)]
    return labels, proba


def uncertainty(proba: np.ndarray) -> np.ndarray:
    """``1 - (p_best - p_second)`` per pixel, float32 in 0..1: high where two classes compete, which is
    where the next scribble helps most (0 everywhere for a one-class model)."""
    proba = np.asarray(proba, np.float32)
    if proba.shape[-1] < 2:
        return np.zeros(proba.shape[:-1], np.float32)
    top = np.partition(proba, -2, axis=-1)[..., -2:]
    return (1.0 - (top[..., 1] - top[..., 0])).astype(np.float32)
