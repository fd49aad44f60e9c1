"""A shapes project and a small model's checkpoint for the pre-label tests (local and on Ray).

The checkpoint is ``unet-small`` fine-tuned in name only on the shapes classes, with weights drawn
from a fixed seed: the tests compare runs with each other, so what it predicts need not be good.
Half the images are left unlabelled; the other half keep their reviewed (human) labels.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from segstudio.io.project import ImageState, Project
from segstudio.models.shapes_dataset import SHAPES_PALETTE, make_shapes_project

IMAGES = 40
UNLABELLED = 20


def make_checkpoint(path: Path, seed: int = 0) -> Path:
    import torch

    from segstudio.models import registry

    torch.manual_seed(seed)
    names = [c.name for c in SHAPES_PALETTE]
    spec = registry.get_spec("unet-small").fine_tuned(f"shapes-net-{seed}", names, palette="shapes")
    registry.save_checkpoint(path, spec.build(), spec, class_ids=[c.id for c in SHAPES_PALETTE])
    return path


def make_template(root: Path) -> Path:
    """40 shape images: the first 20 unlabelled (labels removed), the rest reviewed."""
    with make_shapes_project(root, n=IMAGES, seed=0) as project:
        for image_id in project.image_ids()[:UNLABELLED]:
            project.labels_file(image_id).unlink()
            project.set_state(image_id, ImageState.UNLABELLED)
    return root


def copy_project(template: Path, root: Path) -> Path:
    shutil.copytree(template, root)
    return root


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def states(root: Path) -> dict[str, str]:
    with Project.open(root) as project:
        ids, values = project.id_states()
    return dict(zip(ids, values, strict=True))
