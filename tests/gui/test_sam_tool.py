"""Click to segment in the window: real clicks, right clicks and drags on the canvas; SAM 2.1 tiny's
architecture (seeded random weights, 256-px input) runs on the worker through the model backend."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from gui_helpers import BACKGROUND, CAT, DOG, HEIGHT, PALETTE, PERSON, WIDTH, click, drag, view_point
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu
from sam_fixtures import small_sam_spec

from segstudio.core.jobs import CancelToken
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.sam_refine import refined, thing_boxes
from segstudio.gui.main_window import MainWindow
from segstudio.gui.tools.sam_tool import ClickSegment, mask_outline
from segstudio.io.prediction_files import PredictionSource
from segstudio.models import registry

NAME = "sam-test-gui"
WAIT_MS = 120000  # an embedding takes seconds on a busy two-core machine


@pytest.fixture
def window(make_window, project_root) -> Iterator[MainWindow]:
    registry.register(small_sam_spec(NAME), replace=True)  # type: ignore[arg-type]
    window = make_window(project_root)
    window.sam.model = NAME
    window.commands.tools[ClickSegment.name].trigger()
    window.toolbox.set_label(PERSON)
    yield window
    window.toolbox.finish()
    registry.unregister(NAME)


def _action(window: MainWindow, text: str) -> QAction:
    (action,) = [a for a in window.findChildren(QAction) if a.text().replace("&", "") == text]
    return action


def _tool(window: MainWindow) -> ClickSegment:
    tool = window.toolbox.active
    assert isinstance(tool, ClickSegment)
    return tool


def _answered(qtbot, window: MainWindow) -> ClickSegment:
    tool = _tool(window)
    qtbot.waitUntil(lambda: not tool.waiting and not window.sam.pending(), timeout=WAIT_MS)
    assert tool.mask is not None and tool.mask.shape == (HEIGHT, WIDTH)
    return tool


def test_clicks_and_a_box_are_prompts_and_enter_writes_one_new_object(qtbot, window: MainWindow) -> None:
    document = window.document
    before = document.labels.category.copy(), document.labels.instance.copy()
    x, y = click(qtbot, window, 40, 84)  # the unlabelled strip at the bottom
    tool = _answered(qtbot, window)
    (point,) = tool.prompts.points
    assert point.positive and abs(point.x - x) < 1e-6 and abs(point.y - y) < 1e-6
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.RightButton, pos=view_point(window, 100, 84))
    click(qtbot, window, 110, 86, Qt.KeyboardModifier.AltModifier)
    drag(qtbot, window, [(10, 78), (50, 84), (90, 89)])
    tool = _answered(qtbot, window)
    assert [p.positive for p in tool.prompts.points] == [True, False, False]
    assert tool.prompts.points[1].x == pytest.approx(100, abs=1) and tool.prompts.box is not None
    x0, y0, x1, y1 = tool.prompts.box
    assert (x0, x1) == pytest.approx((10, 90), abs=1) and (y0, y1) == pytest.approx((78, 89), abs=1)
    service = window.models.backend.get()
    assert service._sam[(NAME, None)].embeddings_computed == 1  # one embedding, four prompts

    mask = tool.mask.copy()
    assert mask.any(), "the seeded network should give a mask for these prompts"
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    document.settle()  # a long edit is written band by band; finish it
    category, instance = document.labels.category, document.labels.instance
    unlabelled = before[0] == VOID
    written = mask & unlabelled
    assert written.any() and np.all(category[written] == PERSON)
    ids = np.unique(instance[written])
    assert len(ids) == 1 and ids[0] not in np.unique(before[1])  # one new object
    assert np.array_equal(category[~written], before[0][~written])  # human labels untouched
    assert tool.prompts.empty and tool.mask is None
    document.undo()  # one undo step
    assert np.array_equal(document.labels.category, before[0])


def test_shift_enter_writes_over_human_labels_and_esc_clears(qtbot, window: MainWindow) -> None:
    document = window.document
    before = document.labels.category.copy()
    click(qtbot, window, 30, 40)
    tool = _answered(qtbot, window)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert tool.prompts.empty and tool.mask is None
    click(qtbot, window, 30, 40)
    click(qtbot, window, 90, 30)
    tool = _answered(qtbot, window)
    mask = tool.mask.copy()
    assert (mask & np.isin(before, [BACKGROUND, CAT])).any()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    document.settle()
    assert np.all(document.labels.category[mask] == PERSON)
    assert np.array_equal(document.labels.category[~mask], before[~mask])


def test_moving_to_another_image_drops_the_prompts_and_their_answer(qtbot, window: MainWindow) -> None:
    scene = window.document
    before = scene.labels.category.copy()
    click(qtbot, window, 40, 84)
    assert window.open_image("plain")
    assert _tool(window).prompts.empty
    qtbot.waitUntil(lambda: not window.sam.pending(), timeout=WAIT_MS)
    assert _tool(window).mask is None and np.array_equal(scene.labels.category, before)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)  # nothing to commit: said, nothing written
    assert not np.any(window.document.labels.category == PERSON)


def _dog_and_cat(window: MainWindow) -> LabelMap:
    """A prediction with two objects (a dog, instance 4; a cat, instance 5), set on the open image."""
    category = np.full((HEIGHT, WIDTH), BACKGROUND, np.uint16)
    instance = np.zeros((HEIGHT, WIDTH), np.uint32)
    category[10:30, 10:40], instance[10:30, 10:40] = DOG, 4
    category[40:70, 60:100], instance[40:70, 60:100] = CAT, 5
    prediction = LabelMap.from_arrays(category, instance, Provenance.MODEL)
    window.document.set_prediction(prediction)
    return prediction


def test_refine_with_sam_replaces_each_predicted_object_by_the_mask_of_its_box(
    qtbot, window: MainWindow
) -> None:
    document = window.document
    before = _dog_and_cat(window)
    labels_before = document.labels.category.copy()
    things = thing_boxes(before, PALETTE.thing_ids)
    assert [t.instance for t in things] == [4, 5]
    with qtbot.waitSignal(document.prediction_changed, timeout=WAIT_MS):
        _action(window, "Refine the prediction's objects with SAM").trigger()
    service = window.models.backend.get()
    masks = service.sam_boxes(NAME, None, document.rgb, [t.box for t in things], CancelToken())
    expected = refined(before, things, masks)
    assert np.array_equal(document.prediction.category, expected.category)
    assert np.array_equal(document.prediction.instance, expected.instance)
    assert not np.array_equal(document.prediction.instance, before.instance)
    assert np.array_equal(document.labels.category, labels_before)  # the ground truth is untouched
    _saved_as_sams(window, service)


def _saved_as_sams(window: MainWindow, service) -> None:  # type: ignore[no-untyped-def]
    """The refined prediction is the image's saved prediction, filed under SAM's name and weights."""
    document, project = window.document, window.project
    source = project.prediction_source(document.image_id)
    assert source == PredictionSource(f"sam-refine:{NAME}", service.sam_weights(NAME, None))
    saved = project.load_prediction(document.image_id)
    assert np.array_equal(saved.category, document.prediction.category)
    assert np.array_equal(saved.instance, document.prediction.instance)


def test_ctrl_click_refines_only_the_predicted_object_under_it(qtbot, window: MainWindow) -> None:
    document = window.document
    before = _dog_and_cat(window)
    said: list[str] = []
    window.sam.message.connect(said.append)
    window.toolbox.message.connect(said.append)
    click(qtbot, window, 110, 85, Qt.KeyboardModifier.ControlModifier)  # background: no object
    assert "no object of the prediction there" in said[-1] and document.prediction is before
    with qtbot.waitSignal(document.prediction_changed, timeout=WAIT_MS):
        click(qtbot, window, 80, 55, Qt.KeyboardModifier.ControlModifier)  # the cat, instance 5
    assert _tool(window).prompts.empty  # a Ctrl+click is no prompt
    service = window.models.backend.get()
    (cat,) = thing_boxes(before, PALETTE.thing_ids, only=5)
    (mask,) = service.sam_boxes(NAME, None, document.rgb, [cat.box], CancelToken())
    expected = refined(before, [cat], [mask])
    after = document.prediction
    assert np.array_equal(after.instance, expected.instance)
    assert np.array_equal(after.category, expected.category)
    dog = before.instance == 4
    assert np.all(after.instance[dog & ~mask] == 4)  # the dog is not refined (where the cat is not)
    assert not np.array_equal(after.instance == 5, before.instance == 5)
    assert said[-1] == "Refine with SAM: 1 object refined"
    _saved_as_sams(window, service)


def _click_menu_item(qtbot, menu: QMenu, action: QAction) -> None:
    """A real click on ``action`` in ``menu``, popped up on the screen."""
    menu.popup(QPoint(0, 0))
    qtbot.waitExposed(menu)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not menu.isVisible())


def test_the_model_is_chosen_in_the_models_menu_remembered_and_used(
    qtbot, make_window, project_root, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no published weights here
    window = make_window(project_root)
    menu = window.sam_models
    assert window.sam.model == "sam2.1-tiny" and menu.actions["sam2.1-tiny"].isChecked()
    texts = [a.text() for a in menu.submenu.actions()]
    assert len(menu.actions) == 4 and "small" in texts[1] and "large" in texts[3]
    assert texts[-1] == "Keep embeddings on &disk"  # after the models
    window.commands.tools[ClickSegment.name].trigger()
    click(qtbot, window, 40, 84)  # a prompt of the tiny model (its weights are missing too)
    _click_menu_item(qtbot, menu.submenu, menu.actions["sam2.1-small"])
    assert window.sam.model == "sam2.1-small" and menu.actions["sam2.1-small"].isChecked()
    assert _tool(window).prompts.empty and _tool(window).mask is None  # the other model's prompts went

    said: list[str] = []
    window.toolbox.message.connect(said.append)
    click(qtbot, window, 40, 84)
    qtbot.waitUntil(lambda: any("sam2.1_hiera_small.pt" in text for text in said), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.sam.pending(), timeout=WAIT_MS)

    again = make_window(project_root)  # the choice is kept in the user's settings
    assert again.sam.model == "sam2.1-small" and again.sam_models.actions["sam2.1-small"].isChecked()


def test_embeddings_kept_on_disk_when_the_menu_says_so(
    qtbot, window: MainWindow, make_window, project_root, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the user's cache folder
    menu = window.sam_models
    assert not menu.disk_cache.isChecked() and window.sam.disk_cache is None  # off by default
    _click_menu_item(qtbot, menu.submenu, menu.disk_cache)
    folder = window.sam.disk_cache
    assert menu.disk_cache.isChecked() and folder is not None and folder.is_relative_to(tmp_path)
    click(qtbot, window, 40, 84)
    _answered(qtbot, window)
    assert len(list(folder.glob("*.sam.pt"))) == 1  # the open image's embedding
    again = make_window(project_root)  # remembered in the user's settings
    assert again.sam_models.disk_cache.isChecked() and again.sam.disk_cache == folder


def test_the_preview_outline_fills_the_mask_and_leaves_its_holes(qtbot) -> None:
    mask = np.zeros((60, 90), bool)
    mask[10:50, 10:50] = True
    mask[20:30, 20:30] = False  # a hole
    mask[5:15, 60:85] = True  # a second region
    path = mask_outline(mask)
    inside = [(12.5, 12.5), (45.5, 45.5), (70.5, 10.5)]
    outside = [(25.5, 25.5), (55.5, 30.5), (70.5, 40.5)]
    assert all(path.contains(QPointF(x, y)) for x, y in inside)
    assert not any(path.contains(QPointF(x, y)) for x, y in outside)
    assert mask_outline(np.zeros((5, 5), bool)).isEmpty()
