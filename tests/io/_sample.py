"""Module fixtures for one JSON file of the real COCO panoptic sample and its parsed contents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def sample_fixtures(file_name: str) -> tuple[Any, Any]:
    """Fixtures ``sample_json`` (the sample's ``file_name``) and ``sample_data`` (its JSON), module-scoped.

    Assign both in a test module (``sample_json, sample_data = sample_fixtures(...)``) to use them.
    """

    @pytest.fixture(scope="module")
    def sample_json(coco_panoptic_sample: Path) -> Path:
        return coco_panoptic_sample / file_name

    @pytest.fixture(scope="module")
    def sample_data(sample_json: Path) -> dict:
        return json.loads(sample_json.read_text())

    return sample_json, sample_data
