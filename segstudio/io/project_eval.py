"""How good are a project's predictions? IoU and PQ of each corrected image, and of all of them.

Only images a person has labelled (states *edited* and *reviewed*) that have a saved prediction
are scored: the ground truth of an unlabelled or merely pre-labelled image is not ground truth.
Project totals are summed the way the benchmarks do it, not averaged per image: one confusion
matrix over every scored pixel (mIoU), and PQ sums over every image (COCO's PQ of a dataset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from segstudio.core.jobs import ProgressCallback
from segstudio.core.label_pq import PanopticQuality, label_map_pq_stat, panoptic_quality
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.pq import PQStat
from segstudio.io.parallel import OrderedPool, PoolFactory
from segstudio.io.project import ImageState, Project

SCORED_STATES = (ImageState.EDITED, ImageState.REVIEWED)


@dataclass(frozen=True)
class ImageScore:
    """One scored image."""

    image_id: str
    state: str
    miou: float
    pixel_accuracy: float
    quality: PanopticQuality


@dataclass(frozen=True)
class ProjectScore:
    """Every scored image (in project order) and the totals over all of them."""

    images: tuple[ImageScore, ...]
    miou: float
    pixel_accuracy: float
    class_iou: dict[int, float]
    """IoU of each class present in the ground truth or the predictions of the scored images."""
    quality: PanopticQuality
    unscored: int
    """Images left out: not labelled by a person, or without a prediction."""

    def to_json(self, class_names: dict[int, str]) -> dict[str, object]:
        """Plain data for ``--json`` (classes by name; NaN, "nothing to score", as null)."""
        return {
            "images_scored": len(self.images),
            "images_unscored": self.unscored,
            "miou": _number(self.miou),
            "pixel_accuracy": _number(self.pixel_accuracy),
            "class_iou": {class_names.get(k, str(k)): _number(v) for k, v in self.class_iou.items()},
            **_quality_json(self.quality),
            "images": [_image_json(score) for score in self.images],
        }


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _quality_json(quality: PanopticQuality) -> dict[str, object]:
    overall = quality.all
    return {
        "pq": overall.pq,
        "sq": overall.sq,
        "rq": overall.rq,
        "pq_things": quality.things.pq,
        "pq_stuff": quality.stuff.pq,
    }


def _image_json(score: ImageScore) -> dict[str, object]:
    return {
        "image": score.image_id,
        "state": score.state,
        "miou": _number(score.miou),
        "pixel_accuracy": _number(score.pixel_accuracy),
        **_quality_json(score.quality),
    }


def evaluate_project(
    root: Path, progress: ProgressCallback | None = None, jobs: int = 1, pool: PoolFactory = OrderedPool
) -> ProjectScore:
    """Score the predictions of the project at ``root`` (read from disk: safe on a worker thread);
    ``progress(done, total)`` comes per scored image and may raise to stop. Images are scored by
    ``jobs`` processes (``io.parallel``; ``pool`` may put them on a cluster), their sums added in
    project order: the same numbers whatever ``jobs`` and wherever they run."""
    project = Project.open(root)
    palette = project.palette
    isthing = {c.id: c.isthing for c in palette}
    candidates = project.image_ids(SCORED_STATES)
    total_matrix = ConfusionMatrix(palette.ids)
    total_stat = PQStat()
    scores: list[ImageScore] = []
    if progress is not None:
        progress(0, len(candidates))
    with pool(jobs, partial(_ScoringContext, Path(root).resolve())) as workers:
        for done, scored in enumerate(workers.map(_score_image, candidates)):
            if scored is not None:
                counts, stat, score = scored
                total_matrix.counts += counts
                total_stat += stat
                scores.append(score)
            if progress is not None:
                progress(done + 1, len(candidates))
    pairs = zip(total_matrix.class_ids, total_matrix.iou, strict=True)
    class_iou = {int(c): float(v) for c, v in pairs if not np.isnan(v)}
    return ProjectScore(
        tuple(scores),
        total_matrix.miou,
        total_matrix.pixel_accuracy,
        class_iou,
        panoptic_quality(total_stat, isthing),
        len(project) - len(scores),
    )


class _ScoringContext:
    """A worker's project (opened once per process) and the palette's class table."""

    def __init__(self, root: Path) -> None:
        self.project = Project.open(root)
        self.isthing = {c.id: c.isthing for c in self.project.palette}


def _score_image(context: _ScoringContext, image_id: str) -> tuple[np.ndarray, PQStat, ImageScore] | None:
    """One image's confusion counts, PQ sums and score; None without a prediction (in a worker)."""
    project = context.project
    prediction = project.load_prediction(image_id)
    if prediction is None:
        return None
    labels = project.load_labels(image_id)
    matrix = ConfusionMatrix.from_maps(labels.category, prediction.category, project.palette.ids)
    stat = label_map_pq_stat(
        labels.category, labels.instance, prediction.category, prediction.instance, labels.crowd
    )
    state = str(project.entry(image_id).state)
    quality = panoptic_quality(stat, context.isthing)
    return matrix.counts, stat, ImageScore(image_id, state, matrix.miou, matrix.pixel_accuracy, quality)
