"""Train on this project from the Train dock: the real worker fine-tunes, plots, saves and registers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import drag

from segstudio.core.model_records import checkpoint_path
from segstudio.gui.main_window import MainWindow
from segstudio.gui.modelling.train_panel import default_name
from segstudio.io.project import Project
from segstudio.models import registry
from segstudio.models.shapes_dataset import SHAPES_PALETTE, make_shapes_project

WAIT_MS = 20000
NAME = "gui-shapes-test"


@pytest.fixture
def shapes_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "shapes"
    make_shapes_project(root, n=10, size=64)
    yield root
    if NAME in {spec.name for spec in registry.list_specs()}:
        registry.unregister(NAME)


def _train_dock(make_window, root: Path, qtbot) -> MainWindow:
    """A window on ``root`` with the Train dock shown and the model list in."""
    window: MainWindow = make_window(root)
    window.models.train_dock.show()
    qtbot.waitUntil(lambda: window.models.catalog.loaded, timeout=WAIT_MS)
    window.models.train_panel.name.setText(NAME)
    return window


def test_train_in_the_gui_plots_saves_registers_and_prelabels(make_window, shapes_root: Path, qtbot) -> None:
    window = _train_dock(make_window, shapes_root, qtbot)
    docks, panel = window.models, window.models.train_panel
    assert panel.architecture.currentData() == "unet-small"
    assert default_name(window.project, "unet-small") == "shapes-unet-small"
    panel.epochs.setValue(3)
    panel.time_limit.setValue(15)
    with qtbot.waitSignal(panel.trained, timeout=WAIT_MS) as trained:
        panel.train_button.click()
        assert panel.running and panel.cancel_button.isEnabled()
    assert trained.args == [NAME]
    assert panel.points and all(np.isfinite(p.loss) for p in panel.points)
    steps, losses = panel.loss_curve.getData()
    assert len(steps) == len(panel.points) and losses[0] == panel.points[0].loss
    assert panel.summary is not None and panel.summary.checkpoint == checkpoint_path(shapes_root, NAME)
    assert checkpoint_path(shapes_root, NAME).is_file()
    assert not panel.running and panel.train_button.isEnabled()

    # the new model is listed, chosen, and pre-labels with the project's classes
    qtbot.waitUntil(lambda: docks.models_panel.model == NAME, timeout=WAIT_MS)
    info = docks.catalog.get(NAME)
    assert info is not None and info.base == "unet-small" and info.classes == ("background", "disc", "square")
    truth = window.labels.category.copy()
    with qtbot.waitSignal(docks.prelabeller.filed, timeout=WAIT_MS):
        docks.models_panel.current_button.click()
    predicted = set(np.unique(window.document.prediction.category).tolist())
    assert predicted <= set(SHAPES_PALETTE.ids)
    assert np.array_equal(window.labels.category, truth)


def test_cancelling_training_saves_nothing(make_window, shapes_root: Path, qtbot) -> None:
    window = _train_dock(make_window, shapes_root, qtbot)
    docks, panel = window.models, window.models.train_panel
    panel.epochs.setValue(10_000)
    panel.time_limit.setValue(0)  # no limit: only Cancel ends it
    panel.train_button.click()
    qtbot.waitUntil(lambda: len(panel.points) >= 2, timeout=WAIT_MS)
    with qtbot.waitSignal(docks.jobs.worker.cancelled, timeout=WAIT_MS):
        panel.cancel_button.click()
    assert not panel.running and "cancelled" in panel.result.text()
    assert not (shapes_root / "models").exists()  # no checkpoint, no temporary file


def test_training_saves_the_open_images_corrections_first(make_window, shapes_root: Path, qtbot) -> None:
    window = _train_dock(make_window, shapes_root, qtbot)
    panel = window.models.train_panel
    image_id = window.document.image_id
    window.toolbox.set_label(SHAPES_PALETTE.by_name("square").id)
    window.toolbox.set_tool("brush")
    drag(qtbot, window, [(5, 5), (20, 5), (20, 12)])
    assert window.document.dirty
    corrected = window.labels.category.copy()
    assert not np.array_equal(Project.open(shapes_root).load_labels(image_id).category, corrected)
    panel.epochs.setValue(1)
    with qtbot.waitSignal(panel.trained, timeout=WAIT_MS):
        panel.train_button.click()
    assert not window.document.dirty  # saved before the job read the project
    assert np.array_equal(Project.open(shapes_root).load_labels(image_id).category, corrected)
    assert panel.summary is not None and panel.summary.extra["train_images"] >= 1
