"""The scribble map: brush strokes of class ids beside the labels, per-stroke undo, and the
conversions to the classifier's 0 / id + 1 convention; and one live update of the classifier."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core.box import Box
from segstudio.core.edits import brush_footprint
from segstudio.core.features import FeatureCache
from segstudio.core.jobs import Cancelled, CancelToken
from segstudio.core.labels import VOID, Provenance
from segstudio.core.pixel_classifier import ClassifierParams
from segstudio.core.scribble_run import ScribbleRequest, classify_scribbles
from segstudio.core.scribbles import ScribbleMap, categories_from_values

SHAPE = (40, 60)


def stroke(scribbles: ScribbleMap, points, category: int | None, radius: float = 2.0) -> Box:
    scribbles.begin_stroke()
    scribbles.paint(points, radius, category)
    return scribbles.end_stroke()


def test_a_stroke_paints_the_brush_footprint_and_undo_redo_take_it_back_whole():
    scribbles = ScribbleMap(SHAPE)
    stroke(scribbles, [(5, 5), (30, 5)], 0)  # class 0 is a real class (VOC background)
    before = scribbles.category.copy()
    box = stroke(scribbles, [(10, 20), (40, 30), (50, 35)], 12, radius=3)
    mask, footprint = brush_footprint(SHAPE, [(10, 20), (40, 30), (50, 35)], 3)
    expected = before.copy()
    expected[footprint.slices][mask] = 12
    assert np.array_equal(scribbles.category, expected)
    assert box == Box.of_mask(expected != before)
    assert scribbles.counts() == {0: int((before == 0).sum()), 12: int(mask.sum())}

    assert scribbles.undo() == box and np.array_equal(scribbles.category, before)
    assert scribbles.redo() == box and np.array_equal(scribbles.category, expected)
    stroke(scribbles, [(10, 20), (40, 30)], None)  # erase part of it
    erased, erased_box = brush_footprint(SHAPE, [(10, 20), (40, 30)], 2)
    assert (scribbles.category[erased_box.slices][erased] == VOID).all()
    assert (scribbles.category == 12).any()
    scribbles.undo()
    assert np.array_equal(scribbles.category, expected)


def test_a_stroke_that_changes_nothing_is_no_undo_step_and_clear_is_one():
    scribbles = ScribbleMap(SHAPE)
    stroke(scribbles, [(5, 5)], 3)
    assert stroke(scribbles, [(5, 5)], 3).is_empty
    scribbles.undo()
    assert not scribbles.counts()  # the empty stroke left no step behind the real one
    scribbles.redo()
    scribbled = Box.of_mask(scribbles.category != VOID)
    assert scribbles.clear() == scribbled
    assert not scribbles.counts()
    scribbles.undo()
    assert scribbles.counts() == {3: 13}


def test_values_round_trip_in_the_classifier_convention():
    scribbles = ScribbleMap(SHAPE)
    stroke(scribbles, [(5, 5), (20, 5)], 0)
    stroke(scribbles, [(5, 30), (20, 30)], 300)
    values = scribbles.values()
    assert values.dtype == np.uint16
    assert set(np.unique(values).tolist()) == {0, 1, 301}
    loaded = ScribbleMap(SHAPE)
    assert loaded.load_values(values) == Box.full(SHAPE)
    assert np.array_equal(loaded.category, scribbles.category)
    assert loaded.undo().is_empty  # a loaded map starts a fresh history
    assert categories_from_values(np.array([1, 301], np.uint16)).tolist() == [0, 300]
    with pytest.raises(ValueError, match="the image is"):
        loaded.load_values(values[:-1])
    with pytest.raises(RuntimeError, match="begin_stroke"):
        loaded.paint([(1, 1)], 1, 0)


def _two_halves() -> tuple[np.ndarray, np.ndarray]:
    """Dark left, bright right; one short scribble of each."""
    rgb = np.zeros((*SHAPE, 3), np.uint8)
    rgb[:, 30:] = 200
    values = np.zeros(SHAPE, np.uint16)
    values[10:30, 10] = 1
    values[10:30, 50] = 6
    return rgb, values


def test_a_live_update_labels_every_pixel_and_reuses_the_cached_features():
    rgb, values = _two_halves()
    cache = FeatureCache()
    request = ScribbleRequest("img", rgb, values, ClassifierParams())
    result = classify_scribbles(request, cache)
    assert result.classes == [0, 5] and result.scribbled_pixels == 40
    assert (result.category[:, :28] == 0).all() and (result.category[:, 32:] == 5).all()
    assert result.uncertainty.dtype == np.uint8 and result.uncertainty.shape == SHAPE
    again = classify_scribbles(ScribbleRequest("img", rgb, values, ClassifierParams(), result.model), cache)
    assert again.model is result.model  # nothing it learns from changed: not retrained
    assert cache.nbytes > 0 and len(cache._stacks) == 1


def test_blobs_of_a_scribbled_thing_class_become_separate_instances():
    rgb = np.zeros((*SHAPE, 3), np.uint8)
    rgb[8:32, 5:20] = rgb[8:32, 40:55] = 200  # two bright objects, only the first scribbled
    values = np.zeros(SHAPE, np.uint16)
    values[15:25, 12] = 5 + 1  # class 5 (a thing), in the classifier's id + 1 convention
    values[2, 5:55] = 0 + 1  # class 0 (stuff): the dark background
    request = ScribbleRequest("img", rgb, values, ClassifierParams(), thing_ids=frozenset({5}))
    result = classify_scribbles(request, FeatureCache())
    labels = result.to_labels()
    assert (labels.category[12:28, 9:16] == 5).all() and (labels.category[12:28, 44:51] == 5).all()
    assert (labels.category[:, 26:34] == 0).all()  # the background between them keeps them apart
    first, second = int(labels.instance[20, 12]), int(labels.instance[20, 47])
    assert first and second and first != second
    assert (labels.instance[labels.category == 0] == 0).all()
    assert labels.provenance.max() == Provenance.MODEL
    stuff_only = classify_scribbles(ScribbleRequest("img", rgb, values, ClassifierParams()), FeatureCache())
    assert not stuff_only.instance.any()  # no thing classes given: instance 0 as before


def test_a_cancelled_update_stops_between_stages():
    rgb, values = _two_halves()
    token = CancelToken()
    checks: list[int] = []

    def check() -> None:
        checks.append(1)
        if len(checks) == 2:  # after the features
            token.cancel()
        token.check()

    with pytest.raises(Cancelled):
        classify_scribbles(ScribbleRequest("img", rgb, values, ClassifierParams()), FeatureCache(), check)
    assert len(checks) == 2


def test_a_large_image_gets_a_coarse_first_result_from_its_own_cached_features(monkeypatch):
    """Above COARSE_PIXELS the first pass classifies a downscaled copy and scales the labels back;
    its features are computed once (prefetched) and the full pass agrees with it on plain halves."""
    from segstudio.core import scribble_run

    monkeypatch.setattr(scribble_run, "COARSE_PIXELS", 60 * 80)  # a 240x320 image: factor 4
    height, width = 240, 320
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = (30, 90, 200)
    rgb[:, width // 2 :] = (220, 180, 40)
    values = np.zeros((height, width), np.uint16)
    values[40:200, 60] = 1  # one-pixel strokes: never lost by the downscaling
    values[40:200, 250] = 3
    assert scribble_run.coarse_factor((height, width)) == 4
    cache = FeatureCache()
    scribble_run.prefetch_coarse_features("img", rgb, cache)
    assert len(cache._stacks) == 1
    request = ScribbleRequest("img", rgb, values, ClassifierParams())
    coarse = scribble_run.classify_coarse(request, cache)
    assert coarse.coarse and coarse.scale == 4 and len(cache._stacks) == 1  # no new features
    assert coarse.category.shape == coarse.uncertainty.shape == (height, width)
    assert coarse.model.forest.n_trees == scribble_run.COARSE_TREES
    assert (coarse.category[:, :150] == 0).all() and (coarse.category[:, 170:] == 2).all()
    full = classify_scribbles(request, cache)
    assert not full.coarse and (full.category[:, :150] == 0).all() and (full.category[:, 170:] == 2).all()


def test_scribbles_move_onto_the_small_image_block_by_block() -> None:
    from segstudio.core.scribble_run import downscale_scribbles

    values = np.zeros((7, 10), np.uint16)
    values[0, 0], values[1, 1], values[6, 9], values[3, 5] = 2, 4, 1, 3
    small = downscale_scribbles(values, 3)
    expected = np.zeros((3, 4), np.uint16)
    expected[0, 0], expected[2, 3], expected[1, 1] = 4, 1, 3  # the largest of each block
    np.testing.assert_array_equal(small, expected)


def test_a_result_is_counted_on_the_worker_against_the_labels_it_was_asked_with(monkeypatch):
    """The request's labels snapshot gives the result its metrics (coarse and full), equal to
    counting the result's map against those labels; without a snapshot there are none."""
    from segstudio.core import scribble_run
    from segstudio.core.label_document import human_corrections
    from segstudio.core.metrics import ConfusionMatrix
    from segstudio.core.prediction_metrics import LabelsSnapshot

    monkeypatch.setattr(scribble_run, "COARSE_PIXELS", 20 * 20)
    rgb, values = _two_halves()
    truth = np.full(SHAPE, VOID, np.uint16)
    truth[:, :20] = 0
    truth[5:15, 40:60] = 0  # a person says background where the classifier will say 5
    provenance = np.where(truth == VOID, Provenance.NONE, Provenance.HUMAN).astype(np.uint8)
    labels = LabelsSnapshot(7, truth, provenance, (0, 5))
    request = ScribbleRequest("img", rgb, values, ClassifierParams(), labels=labels)
    coarse = scribble_run.classify_coarse(request, FeatureCache())
    for result in (coarse, classify_scribbles(request, FeatureCache())):
        assert result.metrics is not None and result.metrics.revision == 7
        assert result.metrics.confusion == ConfusionMatrix.from_maps(truth, result.category, (0, 5))
        assert result.metrics.corrections == human_corrections(truth, provenance, result.category)
        assert result.metrics.corrections > 0
        assert result.to_labels().category is result.category  # the map is built on the worker
    bare = classify_scribbles(ScribbleRequest("img", rgb, values, ClassifierParams()), FeatureCache())
    assert bare.metrics is None
