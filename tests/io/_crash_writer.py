"""Helper process for the crash test in test_project.py: saves labels in a loop until it is killed.

Each image alternates between two known label maps, A (variant 0) and B (variant 1); every save
is preceded by an autosave of the same labels and followed by an autosave of the other variant,
so a kill can land inside any write: labels, journal or index (the state flips each save).
Usage: ``python _crash_writer.py PROJECT_ROOT``; prints ``ready`` once the project is open.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np

from segstudio.core.labels import VOID, LabelMap
from segstudio.io.project import ImageState, Project

SHAPE = (120, 160)


def known_labels(image_index: int, variant: int) -> LabelMap:
    """Label map A or B of an image: random enough not to compress to nothing, big instance ids."""
    rng = np.random.default_rng(1000 * image_index + variant)
    category = rng.integers(0, 20, SHAPE).astype(np.uint16)
    category[rng.random(SHAPE) < 0.1] = VOID
    instance = rng.integers(0, 2**32, SHAPE, dtype=np.uint64).astype(np.uint32)
    provenance = rng.integers(1, 3, SHAPE).astype(np.uint8)
    return LabelMap.from_arrays(category, instance, provenance, crowd={(variant, 2**32 - 1 - image_index)})


def main(root: str) -> None:
    project = Project.open(root)
    ids = project.image_ids()
    variants = [[known_labels(i, v) for v in (0, 1)] for i in range(len(ids))]
    print("ready", flush=True)
    for step in itertools.count():
        for index, image_id in enumerate(ids):
            variant = (step + index) % 2
            project.autosave(image_id, variants[index][variant])
            state = ImageState.EDITED if variant == 0 else ImageState.REVIEWED
            project.save_labels(image_id, variants[index][variant], state=state)
            project.autosave(image_id, variants[index][1 - variant])


if __name__ == "__main__":
    main(sys.argv[1])
