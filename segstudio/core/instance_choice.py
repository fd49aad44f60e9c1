"""Which object a new stroke of a thing class belongs to: one object per object, as in labelme.

A brush stroke, superpixel stroke or flood fill of a thing class that touches an object of that
class (covers or borders one of its pixels, 4-neighbours) joins it: that is what a labeller
correcting an object expects. Touching several, it joins the one under the point where it began,
else the one it touches most; it never merges them (the others keep their ids; pixels painted
over change object, as paint does). Touching none, it is a new object. Polygons and boxes outline
a whole object, so they always start a new one. The user can override (``InstanceMode``): N makes
the next object new whatever it touches, the picker continues a chosen object, and Ctrl held when
a stroke begins paints into the object under the cursor (else the current one). Stuff classes
have no instances.
"""

from __future__ import annotations

from enum import Enum

import cv2
import numpy as np

from segstudio.core.box import Box
from segstudio.core.labels import LabelMap

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


class InstanceMode(Enum):
    """How the next object of a thing class gets its instance id."""

    AUTO = "auto"
    """Join the object the stroke touches, else start a new one (polygons and boxes: new)."""
    NEW = "new"
    """The next object is new whatever it touches (N); then back to AUTO."""
    PICKED = "picked"
    """Continue the object chosen with the picker, until another class, N or another image."""


def touching_instances(
    labels: LabelMap, box: Box, mask: np.ndarray, category: int, exclude: int = 0
) -> dict[int, int]:
    """Instances of ``category`` on or 4-adjacent to the pixels ``mask`` (shaped like ``box``),
    with how many of their pixels do so; ``exclude`` (e.g. the stroke's own provisional id) and
    instance 0 are left out. Reads the box grown by one pixel only."""
    if box.is_empty or not mask.any():
        return {}
    outer = box.pad(1).clip(labels.shape)
    grown = np.zeros((outer.height, outer.width), np.uint8)
    inner = box.shift(-outer.top, -outer.left)
    grown[inner.slices] = mask
    grown = cv2.dilate(grown, _CROSS).view(bool)
    window = outer.slices
    instances = labels.instance[window]
    near = grown & (labels.category[window] == category) & (instances != 0)
    if exclude:
        near &= instances != exclude
    ids, counts = np.unique(instances[near], return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist(), strict=True))


def joined_instance(contacts: dict[int, int], start: int = 0) -> int:
    """The object a stroke touching ``contacts`` joins: ``start`` (the instance under the point
    where it began) when touched, else the one touched most (lowest id on a tie); 0 when none."""
    if not contacts:
        return 0
    if start in contacts:
        return start
    return min(contacts, key=lambda instance: (-contacts[instance], instance))
