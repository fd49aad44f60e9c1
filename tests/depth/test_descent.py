"""The depth-specific descent reaches exactly the leaves of the generic lazy forest descent."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.depth.body import render_frame
from segstudio.depth.descent import DepthDescent
from segstudio.depth.features import depth_in_metres
from segstudio.depth.model import BodyPartModel, bundled_model_path
from segstudio.depth.parts import BACKGROUND
from segstudio.depth.training import TrainingParams, train_body_parts


def _generic(model: BodyPartModel, depth_mm: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    reader = model.bank.pair_reader(depth_in_metres(depth_mm), pixels)
    return model.forest.predict_proba_lazy(len(pixels), reader)


@pytest.mark.parametrize("source", ["tiny", "bundled"])
def test_probabilities_are_bit_identical_to_the_generic_descent(source: str) -> None:
    """The bundled forest (depth 20, leaves at every level, so pairs are dropped mid-descent) and a
    tiny one, on a held-out frame and on a frame whose probes leave the image."""
    if source == "tiny":
        model = train_body_parts(
            TrainingParams(frames=3, pixels_per_frame=150, features=50, min_samples_leaf=2, trees=2, depth=7)
        )
    else:
        model = BodyPartModel.load(bundled_model_path())
    frame = render_frame(1_000_003)
    pixels = np.argwhere(frame.parts != BACKGROUND)
    expected = _generic(model, frame.depth, pixels)
    np.testing.assert_array_equal(model.predict_pixels(frame.depth, pixels), expected)
    edge = np.zeros((12, 16), np.uint16)
    edge[:, :5] = 900  # a near body at the image border: many probes clamp
    edge_pixels = np.argwhere(edge > 0)
    np.testing.assert_array_equal(model.predict_pixels(edge, edge_pixels), _generic(model, edge, edge_pixels))


def test_a_forest_of_root_leaves_needs_no_descent() -> None:
    model = train_body_parts(TrainingParams(frames=1, pixels_per_frame=20, features=5, trees=2, depth=0))
    descent = DepthDescent.build(model.forest, model.bank)
    assert descent.depth == 0
    frame = render_frame(1_000_000)
    pixels = np.argwhere(frame.parts != BACKGROUND)[:50]
    proba = descent.predict_proba(depth_in_metres(frame.depth), pixels)
    np.testing.assert_array_equal(proba, _generic(model, frame.depth, pixels))
