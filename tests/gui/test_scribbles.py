"""Scribble mode end to end: real mouse drags on the canvas, the real worker thread and the real
classifier on a generated image whose textured regions are the known answer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_helpers import BACKGROUND, CAT, DOG, PALETTE, drag, press_key, write_png
from PySide6.QtCore import Qt

from segstudio.core.labels import VOID, Provenance
from segstudio.gui.canvas.layers import PREDICTION, SCRIBBLES, UNCERTAINTY
from segstudio.gui.main_window import MainWindow
from segstudio.gui.panels.iou_panel import NO_PREDICTION
from segstudio.io.project import ImageState, Project
from segstudio.io.scribble_file import scribbles_path
from segstudio.io.scribble_prediction import SCRIBBLE_MODEL
from segstudio.io.semantic_png import read_label_values

HEIGHT, WIDTH = 120, 160
DISC = 30
"""Radius of the dog disc in the middle; the strokes pass 5 pixels inside and outside its rim."""
WAIT_MS = 15000
RADIUS = 2.0


def textured_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Left half grey noise (background), right half horizontal stripes (cat), a reddish disc (dog)
    in the middle: both halves are mid grey on average, so texture has to be learnt."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    truth = np.where(xx < WIDTH // 2, BACKGROUND, CAT).astype(np.uint16)
    disc = (yy - HEIGHT / 2) ** 2 + (xx - WIDTH / 2) ** 2 < DISC**2
    truth[disc] = DOG
    noise = cv2.GaussianBlur(rng.normal(0, 1, (HEIGHT, WIDTH)), (0, 0), 1.0)
    grey = 128 + np.where(truth == BACKGROUND, 40 * noise / noise.std(), 0)
    grey += np.where(truth == CAT, 40 * np.sign(np.sin(2 * np.pi * yy / 6)), 0)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[disc] = (200, 90, 60) + rng.normal(0, 4, (int(disc.sum()), 3))
    return np.clip(rgb, 0, 255).astype(np.uint8), truth


TRUTH = textured_scene()[1]
STROKES = {
    BACKGROUND: [(70, 5), (20, 10), (WIDTH / 2 - DISC - 5, 60), (20, 110), (70, 114)],
    CAT: [(90, 5), (140, 10), (WIDTH / 2 + DISC + 5, 60), (140, 110), (90, 114)],
    DOG: [(80 + (DISC - 5) * np.cos(a), 60 + (DISC - 5) * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 13)],
}


@pytest.fixture
def scene_root(tmp_path: Path) -> Path:
    root = tmp_path / "scribble-project"
    project = Project.create(root, PALETTE, name="scribbles")
    (root / "images").mkdir()
    project.add_image(write_png(root / "images" / "texture.png", textured_scene()[0]))
    return root


def scribble_window(make_window, root: Path) -> MainWindow:
    window = make_window(root)
    window.toolbox.set_radius(RADIUS)
    return window


def scribble(qtbot, window: MainWindow, category: int, points=None) -> None:
    window.toolbox.set_label(category)
    drag(qtbot, window, points or STROKES[category])


def iou(labels: np.ndarray, truth: np.ndarray, k: int, where: np.ndarray | None = None) -> float:
    where = np.ones(truth.shape, bool) if where is None else where
    a, b = (labels == k) & where, (truth == k) & where
    return float((a & b).sum() / (a | b).sum())


def test_two_scribbled_classes_label_the_whole_image(qtbot, make_window, scene_root):
    window = scribble_window(make_window, scene_root)
    press_key(qtbot, window, Qt.Key.Key_K)
    assert window.toolbox.active.name == "scribble" and window.scribbles.active
    assert window.layers_panel.visible[PREDICTION].isChecked()  # scribble mode shows the prediction
    scribble(qtbot, window, BACKGROUND)
    qtbot.waitUntil(lambda: "second class" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    assert window.document.prediction is None and not window.worker.pending()  # one class: no run
    with qtbot.waitSignal(window.scribbles.applied, timeout=WAIT_MS):
        scribble(qtbot, window, CAT)

    document = window.document
    assert (document.labels.category == VOID).all()  # scribbles never touch the ground truth
    assert set(document.scribbles.counts()) == {BACKGROUND, CAT}
    predicted = document.prediction.category
    assert set(np.unique(predicted).tolist()) == {BACKGROUND, CAT}
    outside_disc = TRUTH != DOG
    for k in (BACKGROUND, CAT):
        assert iou(predicted, TRUTH, k, outside_disc) >= 0.9, k
    assert (document.prediction.provenance == Provenance.MODEL).all()
    assert {PREDICTION, UNCERTAINTY, SCRIBBLES} <= set(window.canvas.layers)
    assert window.canvas.layers[PREDICTION].isVisible() and not window.canvas.layers[UNCERTAINTY].isVisible()
    window.layers_panel.visible[UNCERTAINTY].setChecked(True)  # the dock shows where to scribble next
    assert window.canvas.layers[UNCERTAINTY].isVisible()
    uncertain = document.uncertainty
    assert uncertain.dtype == np.uint8 and uncertain.shape == TRUTH.shape
    assert uncertain[TRUTH == DOG].mean() > uncertain[outside_disc].mean()  # unscribbled texture: unsure
    assert "Scribble classifier" in window.statusBar().currentMessage()


def test_a_scribble_of_a_third_class_adds_it(qtbot, make_window, scene_root):
    window = scribble_window(make_window, scene_root)
    window.toolbox.set_tool("scribble")
    scribble(qtbot, window, BACKGROUND)
    with qtbot.waitSignal(window.scribbles.applied, timeout=WAIT_MS):
        scribble(qtbot, window, CAT)
    assert DOG not in window.document.prediction.category
    with qtbot.waitSignal(window.scribbles.applied, timeout=WAIT_MS) as applied:
        scribble(qtbot, window, DOG)
    assert applied.args[0].classes == [BACKGROUND, CAT, DOG]
    predicted = window.document.prediction.category
    for k in (BACKGROUND, CAT, DOG):
        assert iou(predicted, TRUTH, k) >= 0.88, k
    # cat and dog are things: each blob its own object; background is stuff, instance 0
    instance = window.document.prediction.instance
    assert (instance[predicted == BACKGROUND] == 0).all()
    assert (instance[(predicted == CAT) | (predicted == DOG)] > 0).all()
    assert not set(np.unique(instance[predicted == CAT])) & set(np.unique(instance[predicted == DOG]))
    dog_ids, dog_sizes = np.unique(instance[predicted == DOG], return_counts=True)
    assert dog_sizes.max() >= 0.9 * dog_sizes.sum()  # the disc is one object (specks aside)


def test_a_stroke_during_a_run_supersedes_it(qtbot, make_window, scene_root):
    window = scribble_window(make_window, scene_root)
    window.toolbox.set_tool("scribble")
    scribble(qtbot, window, BACKGROUND)
    worker, jobs, cancelled, applied = window.worker, [], [], []
    worker.cancelled.connect(cancelled.append)
    window.scribbles.applied.connect(applied.append)

    def second_stroke(job_id: int, title: str) -> None:
        if not jobs:  # the first run has started: scribble again at once, without the pause
            jobs.append(job_id)
            scribble(qtbot, window, DOG)
            jobs.append(window.scribbles.train_now())

    worker.started.connect(second_stroke)
    with qtbot.waitSignal(window.scribbles.applied, timeout=WAIT_MS):
        scribble(qtbot, window, CAT)
    qtbot.waitUntil(lambda: not worker.pending(), timeout=WAIT_MS)
    assert len(jobs) == 2 and jobs[1] is not None
    assert jobs[0] in cancelled  # superseded: its result, if it got that far, was dropped
    assert len(applied) == 1 and applied[0].classes == [BACKGROUND, CAT, DOG]
    assert DOG in window.document.prediction.category


def test_a_failing_run_is_reported_and_the_next_one_works(qtbot, make_window, scene_root, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("the forest fell over")

    window = scribble_window(make_window, scene_root)
    window.toolbox.set_tool("scribble")
    scribble(qtbot, window, BACKGROUND)
    monkeypatch.setattr("segstudio.io.scribble_prediction.classify_scribbles", broken)
    scribble(qtbot, window, CAT)
    qtbot.waitUntil(
        lambda: "failed: the forest fell over" in window.statusBar().currentMessage(), timeout=WAIT_MS
    )
    assert window.document.prediction is None and not window.scribbles.busy
    monkeypatch.undo()
    with qtbot.waitSignal(window.scribbles.applied, timeout=WAIT_MS):
        press_key(qtbot, window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)  # train now
    assert window.document.prediction is not None


def test_accepting_keeps_human_pixels(qtbot, make_window, scene_root):
    window = scribble_window(make_window, scene_root)
    press_key(qtbot, window, Qt.Key.Key_B)
    window.toolbox.set_label(DOG)
    drag(qtbot, window, [(30, 30), (40, 30)])  # a human label where the classifier will say background
    human = window.labels.category == DOG
    assert human.sum() > 10
    window.toolbox.set_tool("scribble")
    scribble(qtbot, window, BACKGROUND)
    with qtbot.waitSignal(window.scribbles.applied, timeout=WAIT_MS):
        scribble(qtbot, window, CAT)
    predicted = window.document.prediction.category.copy()
    assert (predicted[human] == BACKGROUND).all()
    assert window.document.confusion is not None  # the IoU dock follows the scribble prediction

    press_key(qtbot, window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    labels = window.labels
    assert (labels.category[human] == DOG).all()
    assert (labels.provenance[human] == Provenance.HUMAN).all()
    assert np.array_equal(labels.category[~human], predicted[~human])
    assert (labels.provenance[~human] == Provenance.MODEL).all()


def test_undo_erase_and_reopen_act_on_the_scribbles(qtbot, make_window, scene_root):
    window = scribble_window(make_window, scene_root)
    window.toolbox.set_tool("scribble")
    scribble(qtbot, window, BACKGROUND)
    first = window.document.scribbles.category.copy()
    scribble(qtbot, window, CAT)
    press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.scribbles.category, first)  # the last stroke only
    press_key(
        qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert set(window.document.scribbles.counts()) == {BACKGROUND, CAT}
    layer = window.canvas.layers[SCRIBBLES]._index
    assert (layer[window.document.scribbles.category == VOID] == 255).all()  # clear where not scribbled
    assert (layer[window.document.scribbles.category == CAT] == PALETTE.ids.index(CAT)).all()

    press_key(qtbot, window, Qt.Key.Key_K, Qt.KeyboardModifier.ShiftModifier)
    assert window.toolbox.active.name == "scribble eraser"
    drag(qtbot, window, [(140, 5), (140, 40)])  # erase the top of the cat stroke
    erased = window.document.scribbles.category
    assert (erased[5:38, 138:143] == VOID).all() and (erased[80:110, 138:143] == CAT).any()
    assert (window.labels.category == VOID).all() and not window.document.history.can_undo
    expected = erased.copy()
    window.scribbles.flush()
    saved = read_label_values(scribbles_path(window.project, window.image_name))
    assert np.array_equal(saved, np.where(expected == VOID, 0, expected + 1))  # the CLI's convention
    window.close()

    reopened = make_window(scene_root)
    assert np.array_equal(reopened.document.scribbles.category, expected)
    assert (reopened.canvas.layers[SCRIBBLES]._index[expected == CAT] == PALETTE.ids.index(CAT)).all()


def test_the_scribble_prediction_is_saved_and_shown_on_reopening(qtbot, make_window, scene_root):
    window = scribble_window(make_window, scene_root)
    press_key(qtbot, window, Qt.Key.Key_K)
    scribble(qtbot, window, BACKGROUND)
    with qtbot.waitSignal(window.scribbles.applied, timeout=WAIT_MS):
        scribble(qtbot, window, CAT)
    predicted = window.document.prediction.category.copy()
    image_id = window.image_name
    source = window.project.prediction_source(image_id)
    assert source is not None and source.model == SCRIBBLE_MODEL  # provenance: the scribble classifier
    assert window.project.entry(image_id).state is ImageState.PRELABELLED  # as a model's pre-label
    window.close()

    reopened = make_window(scene_root)
    assert reopened.document.prediction is not None
    assert np.array_equal(reopened.document.prediction.category, predicted)
    assert PREDICTION in reopened.canvas.layers
    assert NO_PREDICTION not in reopened.iou_panel.summary.text()
    assert "mIoU" in reopened.iou_panel.summary.text()
    assert reopened.project.prediction_source(image_id).model == SCRIBBLE_MODEL


def test_a_large_image_shows_a_coarse_result_first_then_files_the_refined_one(
    qtbot, make_window, scene_root, monkeypatch
):
    """Above COARSE_PIXELS (lowered here to make the test image large): choosing the tool prefetches
    the coarse features, the first result is the coarse pass (shown, not filed), then the
    full-resolution refinement replaces it and is filed as the scribble classifier's prediction."""
    from segstudio.core import scribble_run

    monkeypatch.setattr(scribble_run, "COARSE_PIXELS", HEIGHT * WIDTH // 4)  # factor 2
    window = scribble_window(make_window, scene_root)
    controller = window.scribbles
    with qtbot.waitSignal(window.worker.finished, timeout=WAIT_MS):
        press_key(qtbot, window, Qt.Key.Key_K)  # the prefetch job
    assert len(controller.cache._stacks) == 1  # the coarse features, before any stroke
    scribble(qtbot, window, BACKGROUND)
    results = []
    controller.applied.connect(results.append)
    scribble(qtbot, window, CAT)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=WAIT_MS)
    coarse, refined = results
    assert coarse.coarse and coarse.scale == 2 and not refined.coarse
    assert coarse.category.shape == refined.category.shape == TRUTH.shape
    outside_disc = TRUTH != DOG
    for k in (BACKGROUND, CAT):
        assert iou(coarse.category, TRUTH, k, outside_disc) >= 0.8, k
    np.testing.assert_array_equal(window.document.prediction.category, refined.category)
    project = window.session.project
    image_id = window.document.image_id
    assert project.prediction_source(image_id).model == SCRIBBLE_MODEL
    np.testing.assert_array_equal(project.load_prediction(image_id).category, refined.category)
    qtbot.waitUntil(lambda: not controller.busy, timeout=WAIT_MS)
