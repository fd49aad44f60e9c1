"""Instances from a semantic map: each connected blob of a thing class becomes its own object.

Semantic models and the scribble classifier label pixels by class only. Left at instance 0, two
cars in one photo would be one object to the instance-outline layer, COCO export and PQ; a user of
CVAT or labelme expects two. Blobs are 8-connected (pixels touching at a corner belong together),
so a thin diagonal part (a bicycle frame, an arm one pixel wide) is not shattered into many objects;
the price is that two objects meeting only at a corner become one. Ids are unique within the image
(not per class), as the data model requires: 1..N, class by class in ascending class id, and within
a class in OpenCV's component order. Stuff classes and VOID keep instance 0.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import cv2
import numpy as np

from segstudio.core.labels import INSTANCE_DTYPE

Connectivity = Literal[4, 8]

THING_CONNECTIVITY: Connectivity = 8
"""Pixels touching at a corner are one blob (see the module notes)."""


def split_things(
    category: np.ndarray, thing_ids: Collection[int], connectivity: Connectivity = THING_CONNECTIVITY
) -> np.ndarray:
    """Instance ids (uint32, same shape as ``category``): one per connected blob of each thing class."""
    category = np.asarray(category)
    if category.ndim != 2:
        raise ValueError(f"expected an (H, W) category map; got shape {category.shape}")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8; got {connectivity}")
    instance = np.zeros(category.shape, INSTANCE_DTYPE)
    things = np.asarray(sorted({int(t) for t in thing_ids}), np.int64)
    present = np.intersect1d(np.unique(category), things)
    next_id = 1
    for thing in present:
        mask = category == thing
        count, blobs = cv2.connectedComponents(
            mask.view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S
        )
        instance[mask] = blobs[mask].astype(INSTANCE_DTYPE) + (next_id - 1)
        next_id += count - 1
    return instance
