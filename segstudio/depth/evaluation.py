"""How good a body-part model is, with the measures of Shotton et al. (CVPR 2011), on held-out frames.

Parts: the **mean per-class accuracy** is the average over the 31 parts of each part's recall (the
fraction of its ground-truth pixels labelled as that part), over the ground-truth body pixels of all
test frames pooled; parts absent from every test frame are left out of the mean.

Joints: a proposal is a true positive when it lies within 0.1 m of the true joint and no earlier
(more confident) proposal of the same joint in the same frame already claimed it; the rest are false
positives. Joints that are not visible (fewer than ``MIN_VISIBLE_PIXELS`` ground-truth pixels of
their parts) are neither counted nor penalised. Per joint, the **average precision** is the area
under the precision/recall curve of all proposals ranked by confidence across frames; ``joint_map``
is its mean over the joints.

Held-out frames use seeds from ``EVAL_FIRST_SEED`` (1,000,000) on; a model's training seeds are
stored with it and ``evaluation_seeds`` refuses any overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segstudio.depth.body import render_frame
from segstudio.depth.features import mask_pixels
from segstudio.depth.joints import JOINT_INDEX, JOINTS, JointProposals, propose_joints
from segstudio.depth.labels_jit import part_labels
from segstudio.depth.model import BodyPartModel, smooth
from segstudio.depth.parts import BACKGROUND, N_PARTS, PART_NAMES

EVAL_FIRST_SEED = 1_000_000
"""First seed of the held-out frames (training uses seeds from 0 up)."""
MATCH_RADIUS_M = 0.1
"""A joint proposal counts when it is this close to the truth (the paper's D = 0.1 m)."""
MIN_VISIBLE_PIXELS = 20
"""Ground-truth pixels of a joint's parts needed for the joint to count as visible."""


def evaluation_seeds(n: int, first: int = EVAL_FIRST_SEED, training: range = range(0)) -> range:
    """The ``n`` held-out seeds from ``first``; raises ValueError if any is a ``training`` seed."""
    seeds = range(first, first + n)
    if n < 1:
        raise ValueError(f"need at least one evaluation image; got {n}")
    if seeds.start < training.stop and training.start < seeds.stop and len(training):
        raise ValueError(
            f"evaluation seeds {seeds.start}..{seeds.stop - 1} overlap the training seeds "
            f"{training.start}..{training.stop - 1}: a held-out score needs unseen frames"
        )
    return seeds


def part_confusion(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(31, 32) int64 counts over the true body pixels: row = true part, column = predicted part,
    column 31 = predicted as not body."""
    body = truth != BACKGROUND
    t = truth[body].astype(np.int64)
    p = np.minimum(predicted[body], N_PARTS).astype(np.int64)
    return np.bincount(t * (N_PARTS + 1) + p, minlength=N_PARTS * (N_PARTS + 1)).reshape(N_PARTS, N_PARTS + 1)


def class_accuracies(confusion: np.ndarray) -> np.ndarray:
    """Per-part recall (31,) from a ``part_confusion``; NaN for parts with no true pixels."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diagonal(confusion) / totals, np.nan)


def mean_class_accuracy(confusion: np.ndarray) -> float:
    """The mean of ``class_accuracies`` over the parts that occur."""
    accuracies = class_accuracies(confusion)
    return float(np.nanmean(accuracies)) if np.isfinite(accuracies).any() else float("nan")


def average_precision(confidence: np.ndarray, correct: np.ndarray, n_positives: int) -> float:
    """Area under the precision/recall curve of detections ranked by ``confidence`` (ties keep their
    order): sum over true positives of the precision at their rank, over ``n_positives``."""
    if n_positives <= 0:
        return float("nan")
    order = np.argsort(-np.asarray(confidence, np.float64), kind="stable")
    hits = np.asarray(correct, bool)[order]
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision[hits].sum() / n_positives)


def visible_joints(parts: np.ndarray, min_pixels: int = MIN_VISIBLE_PIXELS) -> np.ndarray:
    """(J,) bool: a joint of ``JOINTS`` counts when its parts cover at least ``min_pixels`` pixels."""
    counts = np.bincount(parts[parts != BACKGROUND], minlength=N_PARTS)
    return np.array([counts[list(spec.parts)].sum() >= min_pixels for spec in JOINTS])


@dataclass
class JointScores:
    """Accumulates joint proposals against ground truth, frame by frame."""

    radius: float = MATCH_RADIUS_M
    confidence: list[list[float]] = field(default_factory=lambda: [[] for _ in JOINTS])
    correct: list[list[bool]] = field(default_factory=lambda: [[] for _ in JOINTS])
    positives: np.ndarray = field(default_factory=lambda: np.zeros(len(JOINTS), np.int64))
    top_hits: np.ndarray = field(default_factory=lambda: np.zeros(len(JOINTS), np.int64))

    def add(self, proposals: JointProposals, truth_world: np.ndarray, visible: np.ndarray) -> None:
        """One frame: ``truth_world`` (J, 3) true positions of ``JOINTS``, ``visible`` (J,) bool."""
        for j in np.flatnonzero(visible):
            found = proposals.confidence[j] > 0
            near = np.linalg.norm(proposals.world[j, found] - truth_world[j], axis=1) <= self.radius
            first = near & (np.cumsum(near) == 1)  # proposals come best first: one hit per frame
            self.confidence[j] += proposals.confidence[j, found].tolist()
            self.correct[j] += first.tolist()
            self.positives[j] += 1
            self.top_hits[j] += bool(first[:1].any())

    def average_precisions(self) -> np.ndarray:
        """(J,) AP per joint; NaN for joints never visible."""
        return np.array(
            [
                average_precision(np.array(c), np.array(k), int(n))
                for c, k, n in zip(self.confidence, self.correct, self.positives, strict=True)
            ]
        )

    def top_precisions(self) -> np.ndarray:
        """(J,) fraction of frames with the joint visible whose best proposal is within the radius."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.positives > 0, self.top_hits / np.maximum(self.positives, 1), np.nan)


def _rounded(value: float) -> float | None:
    """JSON-friendly: 4 decimals, None for NaN."""
    return None if not np.isfinite(value) else round(float(value), 4)


def evaluate_model(
    model: BodyPartModel,
    images: int = 50,
    first_seed: int = EVAL_FIRST_SEED,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score ``model`` on ``images`` held-out noisy frames (ground-truth body masks, as the paper):
    parts as predicted (smoothed), the raw forest's per-pixel argmax, and joint proposals."""
    seeds = evaluation_seeds(images, first_seed, model.info.frame_seeds)
    confusion = np.zeros((N_PARTS, N_PARTS + 1), np.int64)
    raw_confusion = np.zeros_like(confusion)
    joints = JointScores()
    for done, seed in enumerate(seeds, 1):
        frame = render_frame(seed)
        body = frame.parts != BACKGROUND
        pixels = mask_pixels(body)
        raw = model.predict_pixels(frame.depth, pixels)
        proba = smooth(pixels, raw, frame.depth)
        proposals = propose_joints(frame.depth, pixels, proba, frame.camera)
        for matrix, p in ((confusion, proba), (raw_confusion, raw)):
            predicted = np.full(frame.parts.shape, BACKGROUND, np.uint8)
            predicted[body] = part_labels(p)
            matrix += part_confusion(frame.parts, predicted)
        joints.add(proposals, frame.joints_world[JOINT_INDEX], visible_joints(frame.parts))
        if progress is not None:
            progress(done, images)
    aps, tops = joints.average_precisions(), joints.top_precisions()
    return {
        "images": images,
        "seeds": [seeds.start, seeds.stop - 1],
        "mean_class_accuracy": _rounded(mean_class_accuracy(confusion)),
        "raw_mean_class_accuracy": _rounded(mean_class_accuracy(raw_confusion)),
        "joint_map": _rounded(float(np.nanmean(aps))) if np.isfinite(aps).any() else None,
        "per_part_accuracy": dict(zip(PART_NAMES, map(_rounded, class_accuracies(confusion)), strict=True)),
        "per_joint": {
            spec.name: {"ap": _rounded(ap), "top_precision": _rounded(top), "visible": int(n)}
            for spec, ap, top, n in zip(JOINTS, aps, tops, joints.positives, strict=True)
        },
    }
