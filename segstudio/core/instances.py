"""Instances from a semantic map: each connected blob of a thing class becomes its own object.

Semantic models and the scribble classifier label pixels by class only. Left at instance 0, two
cars in one photo would be one object to the instance-outline layer, COCO export and PQ; a user of
CVAT or labelme expects two. Blobs are 8-connected (pixels touching at a corner belong together),
so a thin diagonal part (a bicycle frame, an arm one pixel wide) is not shattered into many objects;
the price is that two objects meeting only at a corner become one. Ids are unique within the image
(not per class), as the data model requires: 1..N, class by class in ascending class id, and within
a class in OpenCV's component order. Stuff classes and VOID keep instance 0.

Specks (blobs under :func:`speck_area`: 0.1 % of the image, at least 64 pixels) join the largest
blob of their class instead of becoming objects: a classifier's stray pixels are noise far more
often than objects, and as objects they would fill the outline layer and an export with dozens of
one-speck "cats" (and PQ with as many false positives). Categories are never changed, so IoU is
the same either way; a class made only of specks becomes one object.
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
SPECK_FRACTION = 1e-3
SPECK_MIN_PIXELS = 64


def speck_area(height: int, width: int) -> int:
    """Blobs smaller than this many pixels are specks (see the module notes)."""
    return max(SPECK_MIN_PIXELS, int(height * width * SPECK_FRACTION))


def split_things(
    category: np.ndarray,
    thing_ids: Collection[int],
    connectivity: Connectivity = THING_CONNECTIVITY,
    min_area: int | None = None,
) -> np.ndarray:
    """Instance ids (uint32, same shape as ``category``): one per connected blob of each thing
    class, blobs under ``min_area`` pixels (default :func:`speck_area`; 0 keeps every blob) joining
    the largest blob of their class."""
    category = np.asarray(category)
    if category.ndim != 2:
        raise ValueError(f"expected an (H, W) category map; got shape {category.shape}")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8; got {connectivity}")
    instance = np.zeros(category.shape, INSTANCE_DTYPE)
    things = np.asarray(sorted({int(t) for t in thing_ids}), np.int64)
    present = np.intersect1d(np.unique(category), things)
    if min_area is None:
        min_area = speck_area(*category.shape)
    next_id = 1
    for thing in present:
        mask = category == thing
        count, blobs, stats, _ = cv2.connectedComponentsWithStats(
            mask.view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S
        )
        ids = _blob_ids(stats[:, cv2.CC_STAT_AREA], min_area, next_id)
        instance[mask] = ids[blobs[mask]]
        next_id = int(ids.max()) + 1
    return instance


def _blob_ids(areas: np.ndarray, min_area: int, first: int) -> np.ndarray:
    """Instance id of each component label (label 0, the background, unused): consecutive from
    ``first`` for the blobs kept, the largest blob's id for the specks."""
    areas = areas.astype(np.int64)
    kept = areas >= min_area
    kept[0] = False
    largest = int(np.argmax(np.where(np.arange(len(areas)) > 0, areas, -1)))
    kept[largest] = True  # a class of specks only is one object
    ids = np.zeros(len(areas), INSTANCE_DTYPE)
    ids[kept] = np.arange(first, first + int(kept.sum()), dtype=INSTANCE_DTYPE)
    ids[~kept] = ids[largest]
    ids[0] = 0
    return ids
