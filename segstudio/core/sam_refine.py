"""Refine a prediction's objects with SAM: each thing instance's box becomes a box prompt, and
SAM's mask replaces the instance's pixels (still a prediction, so the IoU and PQ docks show the
change). Pure numpy: the masks come from the model half (``ModelBackend.sam_boxes``).

The refined prediction is filed as a model's (``refined_source_model``): the same prediction file, tagged
``sam-refine:<SAM model>`` with the SAM weights' digest, so reopening the image shows it and the
index says where it came from (a model's pre-label run never takes it for its own)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from segstudio.core.box import Box
from segstudio.core.labels import VOID, LabelMap, Provenance

REFINE_PREFIX = "sam-refine:"


def refined_source_model(sam_model: str) -> str:
    """The model name a refined prediction is filed under (its weights: the SAM weights' digest)."""
    return f"{REFINE_PREFIX}{sam_model}"


@dataclass(frozen=True)
class ThingBox:
    """One predicted object and the box around it, as SAM takes it: (x0, y0, x1, y1) in pixels."""

    instance: int
    category: int
    box: tuple[float, float, float, float]


def thing_boxes(
    prediction: LabelMap, thing_ids: Collection[int], only: int | None = None
) -> list[ThingBox]:
    """Every instance of a thing class in ``prediction`` with its bounding box, by instance id
    (``only``: that instance alone, none when it is not an object of a thing class)."""
    things = []
    is_thing = np.isin(prediction.category, np.fromiter(thing_ids, np.int64, len(thing_ids)))
    chosen = prediction.instance > 0 if only is None else prediction.instance == only
    for instance in np.unique(prediction.instance[is_thing & chosen]):
        pixels = prediction.instance == instance
        categories, counts = np.unique(prediction.category[pixels], return_counts=True)
        area = Box.of_mask(pixels)
        things.append(
            ThingBox(
                int(instance),
                int(categories[np.argmax(counts)]),
                (area.left, area.top, area.right, area.bottom),
            )
        )
    return things


def refined(prediction: LabelMap, things: Sequence[ThingBox], masks: Sequence[np.ndarray]) -> LabelMap:
    """``prediction`` with each thing's pixels replaced by its mask (larger objects first, so a
    smaller one on top of a larger one stays visible); pixels a thing leaves become unlabelled."""
    if len(things) != len(masks):
        raise ValueError(f"{len(things)} objects but {len(masks)} masks")
    category, instance = prediction.category.copy(), prediction.instance.copy()
    for thing in things:
        old = instance == thing.instance
        category[old], instance[old] = VOID, 0
    for index in sorted(range(len(things)), key=lambda i: -int(masks[i].sum())):
        mask = masks[index]
        category[mask], instance[mask] = things[index].category, things[index].instance
    return LabelMap.from_arrays(category, instance, Provenance.MODEL)
