"""Refine a prediction's objects with SAM: each thing instance's box becomes a box prompt, and
SAM's mask replaces the instance's pixels (still a prediction, so the IoU and PQ docks show the
change). Pure numpy: the masks come from the model half (``ModelBackend.sam_boxes``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from segstudio.core.box import Box
from segstudio.core.labels import VOID, LabelMap, Provenance


@dataclass(frozen=True)
class ThingBox:
    """One predicted object and the box around it, as SAM takes it: (x0, y0, x1, y1) in pixels."""

    instance: int
    category: int
    box: tuple[float, float, float, float]


def thing_boxes(prediction: LabelMap, thing_ids: Collection[int]) -> list[ThingBox]:
    """Every instance of a thing class in ``prediction`` with its bounding box, by instance id."""
    things = []
    is_thing = np.isin(prediction.category, np.fromiter(thing_ids, np.int64, len(thing_ids)))
    for instance in np.unique(prediction.instance[is_thing & (prediction.instance > 0)]):
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
