"""The depth-specific descent, numpy and compiled, reaches exactly the leaves of the generic lazy
forest descent."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.depth.body import render_frame
from segstudio.depth.descent import DepthDescent
from segstudio.depth.descent_jit import leaves_kernel, mean_kernel
from segstudio.depth.features import depth_in_metres
from segstudio.depth.model import BodyPartModel, bundled_model_path
from segstudio.depth.parts import BACKGROUND
from segstudio.depth.training import TrainingParams, train_body_parts


def _generic(model: BodyPartModel, depth_mm: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    reader = model.bank.pair_reader(depth_in_metres(depth_mm), pixels)
    return model.forest.predict_proba_lazy(len(pixels), reader)


def _predict(model: BodyPartModel, depth_mm: np.ndarray, pixels: np.ndarray, compiled: bool) -> np.ndarray:
    return model.descent.predict_proba(depth_in_metres(depth_mm), pixels, compiled=compiled)


def test_the_compiled_descent_is_available() -> None:
    """Numba is a dependency: the compiled descent and mean (with their prefetch intrinsic) must
    load, or the fast path silently is numpy."""
    assert leaves_kernel() is not None
    assert mean_kernel() is not None


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("source", ["tiny", "bundled"])
def test_probabilities_are_bit_identical_to_the_generic_descent(source: str, compiled: bool) -> None:
    """The bundled forest (depth 28, leaves at many levels, so pairs are dropped mid-descent) and a
    tiny one, on a held-out frame (split into blocks on threads) and on a frame whose probes leave
    the image."""
    if source == "tiny":
        model = train_body_parts(
            TrainingParams(frames=3, pixels_per_frame=150, features=50, min_samples_leaf=2, trees=2, depth=7)
        )
    else:
        model = BodyPartModel.load(bundled_model_path())
    frame = render_frame(1_000_003)
    pixels = np.argwhere(frame.parts != BACKGROUND)
    expected = _generic(model, frame.depth, pixels)
    np.testing.assert_array_equal(_predict(model, frame.depth, pixels, compiled), expected)
    edge = np.zeros((12, 16), np.uint16)
    edge[:, :5] = 900  # a near body at the image border: many probes clamp
    edge_pixels = np.argwhere(edge > 0)
    got = _predict(model, edge, edge_pixels, compiled)
    np.testing.assert_array_equal(got, _generic(model, edge, edge_pixels))


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_a_forest_of_root_leaves_needs_no_descent(compiled: bool) -> None:
    model = train_body_parts(
        TrainingParams(
            frames=1,
            pixels_per_frame=20,
            features=5,
            trees=2,
            depth=0,
            disjoint_trees=False,
            level_wise=False,
        )
    )
    descent = DepthDescent.build(model.forest, model.bank)
    assert descent.depth == 0
    frame = render_frame(1_000_000)
    pixels = np.argwhere(frame.parts != BACKGROUND)[:50]
    proba = descent.predict_proba(depth_in_metres(frame.depth), pixels, compiled=compiled)
    np.testing.assert_array_equal(proba, _generic(model, frame.depth, pixels))
