"""The GUI's model backend runs click to segment on the worker's side: one SAM model per (name,
weights), the embedding cached, prompts answered with a mask at the image's size."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import partial

import numpy as np
import pytest
from sam_fixtures import TEST_INPUT

from segstudio.core.jobs import Cancelled, CancelToken
from segstudio.core.model_records import ModelInfo
from segstudio.core.prompts import PromptPoint, Prompts
from segstudio.gui.modelling.model_backend import pick_default
from segstudio.models import registry
from segstudio.models.sam import SAM_VARIANTS, build_sam
from segstudio.models.service import ModelService

NAME = "sam-test-256"


@pytest.fixture
def sam_spec() -> Iterator[str]:
    """SAM 2.1 tiny's architecture at a 256-px input, no published weights (random ones)."""
    spec = dataclasses.replace(
        registry.get_spec(SAM_VARIANTS[0].name),
        name=NAME,
        builder=partial(build_sam, SAM_VARIANTS[0].config, image_size=TEST_INPUT),
        weights=(),
    )
    registry.register(spec, replace=True)
    yield NAME
    registry.unregister(NAME)


def test_the_backend_embeds_once_and_answers_prompts(sam_spec: str) -> None:
    service = ModelService("cpu", num_threads=1)
    rgb = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    key = service.sam_embed(sam_spec, None, rgb, CancelToken())
    assert service.sam_embed(sam_spec, None, rgb.copy(), CancelToken()) == key
    predictor = service._sam[(sam_spec, None)]
    assert predictor.embeddings_computed == 1
    mask, score = service.sam_predict(sam_spec, None, key, Prompts((PromptPoint(20, 30),)))
    assert mask.shape == (50, 70) and mask.dtype == bool and np.isfinite(score)
    cancelled = CancelToken()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        service.sam_embed(sam_spec, None, rgb[::-1].copy(), cancelled)
    with pytest.raises(ValueError, match="not a click-to-segment model"):
        service.sam_embed("unet-small", None, rgb, CancelToken())


def test_a_sam_model_is_never_the_default_for_pre_labelling() -> None:
    def info(name: str, task: str) -> ModelInfo:
        return ModelInfo(name, task, ("x",), weights_present=True, random_init=False)

    models = [info("sam2.1-tiny", "promptable"), info("fcn8s", "semantic")]
    assert pick_default(models, None) == 1


def test_one_sam_model_at_a_time_and_its_weights_named_for_a_prediction(sam_spec: str) -> None:
    other = f"{sam_spec}-other"
    registry.register(dataclasses.replace(registry.get_spec(sam_spec), name=other), replace=True)
    try:
        service = ModelService("cpu", num_threads=1)
        rgb = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
        service.sam_embed(sam_spec, None, rgb, CancelToken())
        assert service.sam_weights(sam_spec, None).startswith("random:")  # no weights file: said so
        service.sam_embed(other, None, rgb, CancelToken())
        assert list(service._sam) == [(other, None)]  # the first model was let go
    finally:
        registry.unregister(other)
