"""Helper process for test_project_store.py. Usage: ``python _store_worker.py MODE PROJECT_ROOT ...``

- ``states NAME ROUNDS``: prints ``ready``, waits for a line on stdin, then (as a batch job beside
  the app would) ROUNDS times adds an image ``NAME-i``, sets the state of every image it added,
  and marks one of the images already there pre-labelled; prints ``done``.
- ``stop-after-write ID`` / ``stop-before-write ID``: saves labels of ID as reviewed, but prints
  ``stopped`` and sleeps (to be killed) right after (or right before) the labels file is written,
  so a kill lands exactly between the labels file and the index update.
- ``staging TARGET``: builds TARGET with ``atomic_directory``, prints ``stopped`` inside and sleeps.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import segstudio.io.project as project_module
from segstudio.core.labels import LabelMap
from segstudio.io.atomic import atomic_directory
from segstudio.io.images import write_png
from segstudio.io.project import ImageState, Project

STATES = (ImageState.EDITED, ImageState.REVIEWED, ImageState.UNLABELLED, ImageState.PRELABELLED)
SHAPE = (6, 8)


def expected_state(rounds: int) -> ImageState:
    """The state every own image of a ``states`` worker ends in."""
    return STATES[(rounds - 1) % len(STATES)]


def known_labels(seed: int) -> LabelMap:
    category = np.random.default_rng(seed).integers(0, 3, SHAPE).astype(np.uint16)
    return LabelMap.from_arrays(category, None)


def _states(root: Path, name: str, rounds: int) -> None:
    project = Project.open(root)
    shared = project.image_ids()
    photos = root / f"{name}-photos"
    photos.mkdir()
    print("ready", flush=True)
    sys.stdin.readline()
    own = []
    for step in range(rounds):
        path = photos / f"{name}-{step}.png"
        write_png(path, np.zeros((*SHAPE, 3), np.uint8))
        own.append(project.add_image(path, image_id=f"{name}-{step}").id)
        for image_id in own:  # every round rewrites every state this process wrote so far
            project.set_state(image_id, STATES[step % len(STATES)])
        project.mark_prelabelled(shared[step % len(shared)])
    print("done", flush=True)


def _stop(moment: str, root: Path, image_id: str) -> None:
    real = project_module.write_label_file

    def interrupted(*args, **kwargs):
        if moment == "before":
            print("stopped", flush=True)
            time.sleep(600)
        revision = real(*args, **kwargs)
        print("stopped", flush=True)
        time.sleep(600)
        return revision

    project_module.write_label_file = interrupted  # the real save path runs up to this point
    Project.open(root).save_labels(image_id, known_labels(1), ImageState.REVIEWED)


def _staging(target: Path) -> None:
    with atomic_directory(target) as staging:
        (staging / "half.txt").write_text("half an export")
        print("stopped", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    mode, root = sys.argv[1], Path(sys.argv[2])
    if mode == "states":
        _states(root, sys.argv[3], int(sys.argv[4]))
    elif mode in ("stop-after-write", "stop-before-write"):
        _stop(mode.split("-")[1], root, sys.argv[3])
    elif mode == "staging":
        _staging(root)
    else:
        raise SystemExit(f"unknown mode {mode}")
