"""SAM 2.1 networks for the tests: the package's real architecture, seeded random weights."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from segstudio.io.atomic import atomic_write_bytes
from segstudio.models.sam import SAM_VARIANTS, build_sam

TEST_INPUT = 256
"""The tests' encoder input side (the published models use 1024)."""


def small_sam(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_sam(SAM_VARIANTS[0].config, image_size=TEST_INPUT)


def small_sam_spec(name: str) -> object:
    """A registry spec of SAM 2.1 tiny's architecture at the test input, seeded, no published weights."""
    import dataclasses
    from functools import partial

    from segstudio.models import registry

    base = registry.get_spec(SAM_VARIANTS[0].name)
    return dataclasses.replace(base, name=name, builder=partial(small_sam, 0), weights=())


def save_sam_checkpoint(module: torch.nn.Module, path: Path) -> Path:
    buffer = io.BytesIO()
    torch.save({"model": module.state_dict()}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path
