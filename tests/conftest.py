"""Shared test set-up: Qt offscreen unless told otherwise, and the real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Offscreen by default; run with SEGSTUDIO_TEST_HEADED=1 (and a display) to watch GUI tests.
if not os.environ.get("SEGSTUDIO_TEST_HEADED"):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
COCO_PANOPTIC_SAMPLE = REPO_ROOT / "tests" / "data" / "coco-panoptic-sample"  # as on main


@pytest.fixture(scope="session")
def coco_panoptic_sample() -> Path:
    """The real COCO panoptic sample (two val2017 images with official ground truth)."""
    if not COCO_PANOPTIC_SAMPLE.is_dir():
        raise FileNotFoundError(f"{COCO_PANOPTIC_SAMPLE}: the shared test data is missing")
    return COCO_PANOPTIC_SAMPLE
