"""How good are a project's predictions? IoU and PQ of each corrected image, and of all of them.

Only images a person has labelled (states *edited* and *reviewed*) that have a saved prediction
are scored: the ground truth of an unlabelled or merely pre-labelled image is not ground truth.
Project totals are summed the way the benchmarks do it, not averaged per image: one confusion
matrix over every scored pixel (mIoU), and PQ sums over every image (COCO's PQ of a dataset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.core.jobs import ProgressCallback
from segstudio.core.label_pq import PanopticQuality, label_map_pq_stat, panoptic_quality
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.pq import PQStat
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


def evaluate_project(root: Path, progress: ProgressCallback | None = None) -> ProjectScore:
    """Score the predictions of the project at ``root`` (read from disk: safe on a worker thread);
    ``progress(done, total)`` comes per scored image and may raise to stop."""
    project = Project.open(root)
    palette = project.palette
    isthing = {c.id: c.isthing for c in palette}
    candidates = list(project.entries(SCORED_STATES))
    total_matrix = ConfusionMatrix(palette.ids)
    total_stat = PQStat()
    scores: list[ImageScore] = []
    for done, entry in enumerate(candidates):
        if progress is not None:
            progress(done, len(candidates))
        prediction = project.load_prediction(entry.id)
        if prediction is None:
            continue
        labels = project.load_labels(entry.id)
        matrix = ConfusionMatrix.from_maps(labels.category, prediction.category, palette.ids)
        stat = label_map_pq_stat(
            labels.category, labels.instance, prediction.category, prediction.instance, labels.crowd
        )
        total_matrix.counts += matrix.counts
        total_stat += stat
        quality = panoptic_quality(stat, isthing)
        scores.append(ImageScore(entry.id, str(entry.state), matrix.miou, matrix.pixel_accuracy, quality))
    if progress is not None:
        progress(len(candidates), len(candidates))
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
