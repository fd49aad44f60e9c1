"""Train the body-part forest on synthetic frames, as Shotton et al. (CVPR 2011) did at small scale.

Recipe: render frames ``first_frame .. first_frame + frames - 1`` (``body.render_frame``, Kinect
noise on), add each one's mirror image (``mirror_frame``: left and right parts swapped, a free
second pose), sample ``pixels_per_frame`` body pixels from every frame, evaluate the whole feature
bank densely at those pixels and grow the forest breadth-first (3 trees with random thresholds,
as in the paper; depth 28, not the paper's 20: the smoothed posteriors gain from the deeper
trees' smaller, more specific leaves, resources/models/README.md).

Sampling. The paper samples pixels uniformly per image. Here a part's pixels are drawn with weight
``count ** -balance`` (``balance`` = 0 is uniform, 1 gives every visible part the same share): small
parts (wrists, elbows, ankles) then get enough training pixels, which is what the mean per-class
accuracy rewards, at a small cost for the large parts; ``balanced_leaves`` then removes what is
left of the parts' unequal frequencies from the leaf distributions. Each frame's pixels are drawn
from a stream of its own (``[seed, 1, frame seed]``), so the render workers sample and crop the
frames they render and send back a few hundred KB instead of whole frames. Everything follows from
``seed``: the same parameters give the same forest, bit for bit.

Level-wise trees (``level_wise``, ``--level-wise``): no matrix at all; each tree is grown a level at
a time from the frames' depth crops, only each node's candidate features computed
(``level_forest``), so the bank, the candidates per node and the pixels per frame are bounded by
time, not memory.

Disjoint trees. By default all trees are grown together on bootstrap draws of one dense feature
matrix of every sampled pixel, whose size (pixels x offset pairs, float32) bounds the training data
by memory. With ``disjoint_trees`` the frames are split into one consecutive share per tree and each
tree is grown alone on all pixels of its share, the share's matrix freed before the next: three
trees see three times the frames in the memory of one share, and trees that never saw each other's
frames err more independently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from segstudio.core.forest import Forest, ForestParams, train_forest
from segstudio.depth.body import Frame, mirror_frame, render_frame, window_frame
from segstudio.depth.features import MAX_OFFSET_PX_M, FeatureBank, depth_in_metres, mask_pixels
from segstudio.depth.frame_pool import SERIAL_BELOW, rendered_frames
from segstudio.depth.level_forest import LevelParams, grow_tree
from segstudio.depth.level_images import CroppedImages, FrameCrop, PackedImages, SampleSet, crop_frame
from segstudio.depth.model import BodyPartModel, TrainingInfo
from segstudio.depth.parts import BACKGROUND, N_PARTS
from segstudio.depth.refit import LeafCounts, every_body_pixel, refit_model
from segstudio.depth.workers import workers

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: training (then refit) images rendered and used so far."""


@dataclass(frozen=True)
class TrainingParams:
    """What to train on and how; the defaults are the bundled model's settings (see
    ``resources/models/README.md``)."""

    frames: int = 32000
    first_frame: int = 0
    mirror: bool = True
    pixels_per_frame: int = 500
    balance: float = 0.5
    features: int = 4000
    max_offset: float = MAX_OFFSET_PX_M
    trees: int = 3
    depth: int = 28
    candidate_features: int | None = 160
    """Offset pairs tried per node; ``None`` = sqrt(features), as ``ForestParams``."""
    thresholds: int = 16
    search_samples: int | None = 20000
    """Most samples of a node its split search reads (level-wise trees, ``LevelParams``): a larger
    node chooses its split on that many, spread over its images; ``None``: all. At 20,000 one tree
    scored the same held out as with all (resources/models/README.md) and grew in about half the
    CPU: the first ~8 levels' nodes hold far more samples than a split needs."""
    min_samples_leaf: int = 20
    """Pixels of one frame are strongly correlated: leaves of 20+ pixels generalise far better
    than single-pixel leaves (+5 points of held-out accuracy at a fifth of the size)."""
    disjoint_trees: bool = True
    """Grow each tree alone on its own share of the frames (no bagging) instead of all trees on
    bootstrap draws of all frames: ``trees`` times the data for the same memory, one share held at
    a time (see the module notes)."""
    level_wise: bool = True
    """Grow each tree level by level from depth crops (``level_forest``), computing only each
    node's candidate features, instead of from a dense (pixels x bank) matrix (``core.forest``):
    memory no longer bounds the bank, the candidates or the pixels. Needs ``disjoint_trees``. The
    bundled forest's recipe (resources/models/README.md); ``False`` is the dense trainer."""
    window_frames: bool = True
    """Render each training frame only in the window its body pixels' probes can reach
    (``body.window_frame``: the same distribution there, ~1.4x cheaper; the bundled forest's
    recipe) instead of the whole frame (``body.render_frame``: the forests before it)."""
    seed: int = 0
    refit_frames: int | None = 0
    """Frames (and their mirrors) whose labelled pixels re-estimate the grown trees' leaves
    (``depth.refit``), from seed ``refit_first_frame``; ``None``: as many as ``frames`` (with the
    default first seed: the training frames of all shares again); 0 (the recipe: refitting did not
    pay, resources/models/README.md) keeps the leaves of the sampled training pixels."""
    refit_first_frame: int | None = None
    """First seed of the refit frames; ``None``: ``first_frame`` (the training frames, all shares)."""
    refit_pixels: int = 0
    """Pixels counted per refit frame, sampled as for training (``balance``); 0: every body pixel,
    weighted by ``refit_balance``."""
    refit_balance: float = 0.0
    """With every body pixel counted: part ``c``'s pixels weigh ``count_c ** -refit_balance`` in their
    frame (0.5: the expected draws of the training sampler, ``refit.every_body_pixel``); 0: every
    pixel weighs 1 (measured no worse, resources/models/README.md)."""
    refit_prior: float = 0.0
    """Weight, in refit pixels, of a leaf's old distribution against its refit counts."""

    def __post_init__(self) -> None:
        if self.frames < 1 or self.pixels_per_frame < 1 or self.features < 1 or self.first_frame < 0:
            raise ValueError(f"need frames, pixels_per_frame, features >= 1 and first_frame >= 0; got {self}")
        if (
            (self.refit_frames or 0) < 0
            or self.refit_pixels < 0
            or self.refit_prior < 0
            or self.refit_balance < 0
        ):
            raise ValueError(f"refit frames, pixels, balance and prior must be >= 0; got {self}")
        if self.refit_first_frame is not None and self.refit_first_frame < 0:
            raise ValueError(f"refit_first_frame must be >= 0; got {self.refit_first_frame}")
        if not 0.0 <= self.balance <= 1.0:
            raise ValueError(f"balance must lie in 0..1; got {self.balance}")
        if self.level_wise:
            self.level_params()  # its own checks, before any frame is rendered
        if self.level_wise and not self.disjoint_trees and self.trees > 1:
            raise ValueError("level-wise training grows disjoint trees only (no bagging)")

    def forest_params(self) -> ForestParams:
        return ForestParams(
            n_trees=self.trees,
            max_depth=self.depth,
            min_samples_leaf=self.min_samples_leaf,
            n_candidate_features=self.candidate_features,
            thresholds="random",
            n_thresholds=self.thresholds,
            bootstrap=not self.disjoint_trees,
            seed=self.seed,
        )

    def level_params(self) -> LevelParams:
        """How each level-wise tree grows (the bank holds ``features`` pairs)."""
        return LevelParams(
            self.depth,
            self.min_samples_leaf,
            self.forest_params().candidates(self.features),
            self.thresholds,
            search_samples=self.search_samples,
        )

    def refit_seeds(self) -> range:
        """The seeds of the refit frames (empty when ``refit_frames`` is 0)."""
        first = self.first_frame if self.refit_first_frame is None else self.refit_first_frame
        return range(first, first + (self.frames if self.refit_frames is None else self.refit_frames))

    def refit_record(self) -> dict[str, Any]:
        """The refit's settings as ``TrainingInfo`` stores them."""
        seeds = self.refit_seeds()
        return {
            "refit_frames": len(seeds),
            "refit_first_frame": seeds.start,
            "refit_pixels": self.refit_pixels,
            "refit_balance": self.refit_balance,
            "refit_prior": self.refit_prior,
        }

    def tree_shares(self) -> list[TrainingParams]:
        """The training runs to make: this one, or with ``disjoint_trees`` one single-tree run per
        consecutive share of the frames (its own tree seed, the same offsets)."""
        if not self.disjoint_trees:
            return [self]
        if self.frames < self.trees:
            raise ValueError(f"disjoint trees need at least one frame per tree; got {self}")
        bounds = np.linspace(self.first_frame, self.first_frame + self.frames, self.trees + 1).astype(int)
        return [
            replace(
                self, first_frame=int(a), frames=int(b - a), trees=1, disjoint_trees=False, seed=self.seed + i
            )
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        ]


def training_frames(params: TrainingParams) -> Iterator[Frame]:
    """The training frames in order: each seed's frame, then its mirror when ``mirror``; rendered
    ahead on one worker process per core when there are many (``frame_pool``)."""
    for frame in rendered_frames(_seeds(params), _processes(params), render=_renderer(params)):
        yield frame
        if params.mirror:
            yield mirror_frame(frame)


def training_samples(params: TrainingParams) -> Iterator[tuple[Frame, np.ndarray, np.ndarray]]:
    """The training images in order (``training_frames``), each with its sampled body pixels (row,
    col) and their parts: what both trainers learn from."""
    frames = rendered_frames(_seeds(params), _processes(params), render=_renderer(params))
    for seed, frame in zip(_seeds(params), frames, strict=True):
        yield from _seed_samples(params, seed, frame)


def _seeds(params: TrainingParams) -> range:
    return range(params.first_frame, params.first_frame + params.frames)


def _processes(params: TrainingParams) -> int:
    return workers() if params.frames >= SERIAL_BELOW else 1


def _renderer(params: TrainingParams) -> Callable[[int], Frame]:
    return partial(window_frame, reach=params.max_offset) if params.window_frames else render_frame


def _seed_samples(
    params: TrainingParams, seed: int, frame: Frame
) -> Iterator[tuple[Frame, np.ndarray, np.ndarray]]:
    """Frame ``seed`` (and its mirror) with its sampled pixels and parts. Each seed draws from its
    own stream (``[params.seed, 1, seed]``), so a frame is sampled alike wherever it was rendered."""
    rng = np.random.default_rng([params.seed, 1, seed])
    for image in (frame, mirror_frame(frame)) if params.mirror else (frame,):
        yield (image, *sample_pixels(image.parts, params.pixels_per_frame, rng, params.balance))


def _seed_crops(seed: int, params: TrainingParams, reach: float) -> list[FrameCrop | None]:
    """(In a render worker.) Frame ``seed`` and its mirror rendered, sampled and cropped for probes
    of ``reach`` pixel-metres: a few hundred KB to send back instead of whole frames."""
    return [
        crop_frame(image.depth, pixels, labels, reach, image.window)
        for image, pixels, labels in _seed_samples(params, seed, _renderer(params)(seed))
    ]


def sample_pixels(
    parts: np.ndarray, n: int, rng: np.random.Generator, balance: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` distinct body pixels (row, col) and their parts, part ``c`` weighted
    ``count_c ** -balance`` per pixel (see the module notes): drawn one after another, each in
    proportion to its weight among those left. Done as the ``n`` smallest of exponential keys
    divided by the weights (Efraimidis and Spirakis, 2006), the same distribution in one pass,
    where ``Generator.choice`` drew and redrew (0.7-1.0 vs 1.4-1.6 ms an image, one process, alternated)."""
    pixels = mask_pixels(np.asarray(parts) != BACKGROUND)
    labels = parts[pixels[:, 0], pixels[:, 1]]
    if n >= pixels.shape[0]:
        return pixels, labels
    counts = np.bincount(labels, minlength=N_PARTS).astype(np.float64)
    keys = rng.standard_exponential(pixels.shape[0]) * counts[labels] ** balance  # exp(1) / weight
    chosen = np.argpartition(keys, n - 1)[:n]
    chosen.sort()
    return pixels[chosen], labels[chosen]


def training_set(
    params: TrainingParams, bank: FeatureBank, progress: ProgressCallback | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Dense features ``(n, len(bank))`` float32 and part labels ``(n,)`` of the sampled pixels."""
    total = params.frames * (2 if params.mirror else 1)
    X = np.empty((total * params.pixels_per_frame, len(bank)), np.float32)
    y = np.empty(X.shape[0], np.uint8)
    filled = 0
    for done, (frame, pixels, labels) in enumerate(training_samples(params), 1):
        X[filled : filled + len(pixels)] = bank.evaluate(depth_in_metres(frame.depth), pixels)
        y[filled : filled + len(pixels)] = labels
        filled += len(pixels)
        if progress is not None:
            progress(done, total)
    return X[:filled], y[:filled]


def balanced_leaves(forest: Forest, labels: np.ndarray) -> Forest:
    """The forest with each leaf distribution divided by the parts' training frequencies and
    renormalised: posteriors as if every part were equally common, the decision that maximises
    the mean per-class accuracy (held out: +1 point, the wrists' recall doubles)."""
    frequency = np.bincount(labels, minlength=N_PARTS) / max(1, labels.size)
    leaf_proba = forest.leaf_proba * np.where(frequency > 0, 1.0 / np.maximum(frequency, 1e-12), 0.0)
    leaf_proba /= leaf_proba.sum(axis=1, keepdims=True)
    return replace(forest, leaf_proba=leaf_proba.astype(np.float32))


def cropped_training_set(
    params: TrainingParams, bank: FeatureBank, progress: ProgressCallback | None = None
) -> tuple[PackedImages, SampleSet]:
    """The training images' crops and sampled pixels (the same pixels as ``training_set``), made
    where the frames render."""
    total = params.frames * (2 if params.mirror else 1)
    images, done = CroppedImages.for_bank(bank, expected=total), 0
    crops = partial(_seed_crops, params=params, reach=bank.reach)
    for seed_crops in rendered_frames(_seeds(params), _processes(params), render=crops):
        for crop in seed_crops:
            images.append(crop)
            done += 1
            if progress is not None:
                progress(done, total)
    return images.packed()


def _share_tree(
    share: TrainingParams, params: TrainingParams, bank: FeatureBank, report: ProgressCallback
) -> Forest:
    """One share's tree, dense or level-wise, its leaves balanced."""
    if params.level_wise:
        images, samples = cropped_training_set(share, bank, report)
        tree = grow_tree(
            images, samples, bank, share.level_params(), N_PARTS, np.random.default_rng([share.seed, 2])
        )
        return balanced_leaves(tree, samples.label)
    X, y = training_set(share, bank, report)
    tree_params = replace(share.forest_params(), bootstrap=not params.disjoint_trees)
    return balanced_leaves(train_forest(X, y, tree_params, n_classes=N_PARTS), y)


def train_body_parts(params: TrainingParams, progress: ProgressCallback | None = None) -> BodyPartModel:
    """Render, sample, featurise and train: the model in its stored (``compact``) form."""
    start = time.perf_counter()
    bank = FeatureBank.random(params.features, params.max_offset, seed=params.seed)
    total = (params.frames + len(params.refit_seeds())) * (2 if params.mirror else 1)
    forests, done = [], 0
    for share in params.tree_shares():
        offset = done

        def report(n: int, _: int, offset: int = offset) -> None:
            if progress is not None:
                progress(offset + n, total)

        forests.append(_share_tree(share, params, bank, report))  # one share in memory at a time
        done += share.frames * (2 if share.mirror else 1)
    forest = Forest.concatenate(forests) if len(forests) > 1 else forests[0]
    if params.refit_seeds():

        def refit_report(n: int, _: int) -> None:
            if progress is not None:
                progress(done + n, total)

        stored = BodyPartModel(bank, forest, TrainingInfo()).compact()  # as ``depth refit`` reads it
        forest = refit_body_parts(stored, params, refit_report).forest
        bank = stored.bank
    forest_params = params.forest_params()
    info = TrainingInfo(
        seed=params.seed,
        frames=params.frames,
        first_frame=params.first_frame,
        mirrored=params.mirror,
        pixels_per_frame=params.pixels_per_frame,
        trees=params.trees,
        depth=params.depth,
        features=params.features,
        candidate_features=forest_params.candidates(params.features),
        disjoint_trees=params.disjoint_trees,
        level_wise=params.level_wise,
        window_frames=params.window_frames,
        search_samples=params.search_samples or 0,
        seconds=round(time.perf_counter() - start, 1),
        **params.refit_record(),
    )
    return BodyPartModel(bank, forest, info).compact()


def refit_images(params: TrainingParams, reach: float | None = None) -> Iterator[Frame]:
    """The refit frames in order (``params.refit_seeds()``, each followed by its mirror when
    ``mirror``), rendered ahead like the training frames; windowed ones for probes of ``reach``
    pixel-metres (the refit forest's bank; ``None``: ``params.max_offset``)."""
    seeds = params.refit_seeds()
    reach = params.max_offset if reach is None else reach
    return training_frames(replace(params, first_frame=seeds.start, frames=len(seeds), max_offset=reach))


def refit_body_parts(
    model: BodyPartModel, params: TrainingParams, progress: ProgressCallback | None = None
) -> BodyPartModel:
    """``model`` with its leaves re-estimated from ``params``' refit frames (``depth.refit``):
    every body pixel of each weighted by ``refit_balance``, or ``refit_pixels`` sampled as for
    training (the rng of ``seed``); its info records the refit."""
    counts = LeafCounts(model)
    rng = np.random.default_rng([params.seed, 3])
    total = len(params.refit_seeds()) * (2 if params.mirror else 1)
    for done, frame in enumerate(refit_images(params, model.bank.reach), 1):
        if params.refit_pixels:
            counts.add(frame.depth, *sample_pixels(frame.parts, params.refit_pixels, rng, params.balance))
        else:
            counts.add(frame.depth, *every_body_pixel(frame.parts, params.refit_balance))
        if progress is not None:
            progress(done, total)
    refit = refit_model(model, counts.flush(), params.refit_prior)
    return replace(refit, info=replace(model.info, **params.refit_record()))
