"""Pre-labelling from the Models dock: the real window, the real worker thread, a real small model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import PALETTE, models_ready, open_boxes, write_png
from PySide6.QtCore import Qt

from segstudio.app import model_backend
from segstudio.core.jobs import CancelToken
from segstudio.core.palette import ClassDef, Palette
from segstudio.gui.canvas.layers import PREDICTION
from segstudio.gui.main_window import MainWindow
from segstudio.gui.modelling.model_backend import FIRST_DOWNLOAD, ModelInfo, pick_default
from segstudio.io.class_map import class_map_path, read_class_map
from segstudio.io.project import ImageState, Project
from segstudio.models.service import ModelService

WAIT_MS = 20000
MODEL = "unet-small"


def _label_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "labels").glob("*"))}


def test_start_up_and_the_model_list_are_apart(make_window, project_root: Path, qtbot) -> None:
    window = make_window(project_root)
    assert not window.models.catalog.loaded and not window.models.models_dock.isVisible()
    models_ready(qtbot, window, MODEL)
    names = [info.name for info in window.models.catalog.models]
    assert {"unet-small", "deeplabv3", "deeplabv3_resnet50"} <= set(names)
    info = window.models.catalog.get("deeplabv3_resnet50")
    assert info is not None and info.random_init is False
    if not info.weights_present:  # the machine has no published weights: the panel says which file
        window.models.models_panel.select_model("deeplabv3_resnet50")
        assert "Weights missing" in window.models.models_panel.info.text()
        assert info.hint.split()[1] in window.models.models_panel.info.text()  # the file name


def test_a_model_with_random_weights_prelabels_only_with_a_warning(make_window, project_root: Path, qtbot):
    window = models_ready(qtbot, make_window(project_root), MODEL)  # no published weights, untrained
    panel = window.models.models_panel
    assert "random weights" in panel.info.text()
    said: list[str] = []
    window.statusBar().messageChanged.connect(said.append)
    with qtbot.waitSignal(window.models.prelabeller.filed, timeout=WAIT_MS):
        panel.current_button.click()
    assert any("labels with random weights" in text for text in said)


def test_a_current_image_run_ends_with_a_full_bar_and_what_it_did(make_window, project_root: Path, qtbot):
    """The bar does not stay empty or busy, nor an earlier message on screen, after a run."""
    window = models_ready(qtbot, make_window(project_root), MODEL)
    window.models.models_dock.raise_()
    panel = window.models.models_panel
    panel.say("unet-small has no weights on this computer yet: an earlier message")
    assert window.open_image("plain")
    with qtbot.waitSignal(window.models.prelabeller.filed, timeout=WAIT_MS):
        qtbot.mouseClick(panel.current_button, Qt.MouseButton.LeftButton)
        assert panel.progress.maximum() == 0 or panel.progress.value() > 0  # busy, then tiles
        assert panel.status.text().startswith("Pre-labelling the current image with unet-small")
    assert panel.progress.maximum() > 0 and panel.progress.value() == panel.progress.maximum()
    assert panel.status.text().startswith("Pre-labelled plain with unet-small")
    assert "random weights" in panel.status.text()  # this model is untrained: still said
    assert "earlier message" not in panel.status.text()


def test_prelabel_current_image_fills_the_prediction_layer(make_window, project_root: Path, qtbot) -> None:
    window = models_ready(qtbot, make_window(project_root), MODEL)
    assert window.open_image("plain")
    before = window.labels.category.copy(), window.labels.provenance.copy()
    saved = _label_files(project_root)
    assert window.document.prediction is None
    assert not window.canvas.states[PREDICTION].visible  # hidden by default, under the ground truth
    with qtbot.waitSignal(window.models.prelabeller.filed, timeout=WAIT_MS) as filed:
        window.models.models_panel.current_button.click()
    assert filed.args == ["plain"]
    prediction = window.document.prediction
    assert prediction is not None and prediction.shape == window.labels.shape
    assert set(np.unique(prediction.category)) <= set(PALETTE.ids)  # VOC classes of the model
    things = np.isin(prediction.category, list(PALETTE.thing_ids))
    assert things.any() and (prediction.instance[things] > 0).all()  # thing blobs are objects
    assert (prediction.instance[~things] == 0).all()
    assert PREDICTION in window.canvas.layers
    assert window.canvas.layers[PREDICTION].isVisible()  # shown once the user asked for it
    project = Project.open(project_root)
    assert project.entry("plain").state == ImageState.PRELABELLED
    assert np.array_equal(project.load_prediction("plain").category, prediction.category)
    assert window.image_list.state_text("plain") == "pre-labelled"
    # pre-labelling never changes ground truth, in memory or on disk
    assert np.array_equal(window.labels.category, before[0])
    assert np.array_equal(window.labels.provenance, before[1])
    assert not window.document.dirty and _label_files(project_root) == saved


def test_the_project_class_map_steers_prelabelling(make_window, project_root: Path, qtbot) -> None:
    window = models_ready(qtbot, make_window(project_root), MODEL)
    assert window.open_image("plain")
    panel = window.models.models_panel
    dialog = panel.class_map_dialog()  # the "Class mapping…" button's dialog, of the chosen model
    assert dialog is not None and dialog.class_names == window.models.catalog.get(MODEL).classes
    for combo in dialog.combos:
        combo.setCurrentText("cat")
    dialog.accept()
    assert read_class_map(class_map_path(project_root, MODEL)).map.keys() <= set(dialog.class_names)
    with qtbot.waitSignal(window.models.prelabeller.filed, timeout=WAIT_MS):
        panel.current_button.click()
    prediction = window.document.prediction
    assert prediction is not None and set(np.unique(prediction.category)) == {PALETTE.by_name("cat").id}


class GatedService(ModelService):
    """The real backend, holding its ``hold_at``-th image until released (to cancel mid-batch)."""

    def __init__(self, hold_at: int) -> None:
        super().__init__()
        self.calls = 0
        self.hold_at = hold_at
        self.reached = threading.Event()
        self.release = threading.Event()

    def prelabel(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.hold_at:
            self.reached.set()
            self.release.wait(10)
        return super().prelabel(*args, **kwargs)


@pytest.fixture
def gated(qtbot, tmp_path: Path) -> Iterator[tuple[MainWindow, GatedService, Path]]:
    root = tmp_path / "many"
    project = Project.create(root, PALETTE, name="many")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    for index in range(6):
        rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        project.add_image(write_png(root / "images" / f"img{index}.png", rgb))
    service = GatedService(hold_at=3)
    window = MainWindow(tmp_path / "data", offer_recovery=False, model_backend=lambda: service)
    window.open_path(root)
    window.show()
    yield window, service, root
    service.release.set()
    window.close()
    window.deleteLater()


def test_a_batch_cancelled_midway_keeps_what_was_done(qtbot, gated) -> None:
    window, service, root = gated
    models_ready(qtbot, window, MODEL)
    filed: list[str] = []
    progress: list[tuple[int, int]] = []
    prelabeller = window.models.prelabeller
    prelabeller.filed.connect(filed.append)
    prelabeller.batch_progress.connect(lambda done, total: progress.append((done, total)))
    window.models.models_panel.all_button.click()
    assert window.models.models_panel.cancel_button.isEnabled()
    assert service.reached.wait(WAIT_MS / 1000)
    qtbot.waitUntil(lambda: len(filed) == 2, timeout=WAIT_MS)
    with qtbot.waitSignal(prelabeller.batch_ended, timeout=WAIT_MS) as ended:
        window.models.models_panel.cancel_button.click()
        service.release.set()
    assert ended.args == [2, 6]
    assert filed == ["img0", "img1"]
    assert progress[0] == (0, 600) and progress[-1][1] == 600 and 200 <= progress[-1][0] <= 600
    files = sorted(p.name for p in (root / "predictions").iterdir())
    assert files == ["img0.npz", "img1.npz"]  # no partial or temporary files for the rest
    project = Project.open(root)
    states = [project.entry(f"img{i}").state for i in range(6)]
    assert states == [ImageState.PRELABELLED] * 2 + [ImageState.UNLABELLED] * 4
    assert [window.image_list.state_text(f"img{i}") for i in (1, 2)] == ["pre-labelled", "unlabelled"]
    assert not window.models.models_panel.cancel_button.isEnabled()


def test_a_corrupt_checkpoint_is_named_and_the_window_goes_on(make_window, project_root: Path, qtbot) -> None:
    (project_root / "models").mkdir()
    bad = project_root / "models" / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint")
    window = make_window(project_root)
    window.models.models_dock.show()
    qtbot.waitUntil(lambda: window.models.catalog.loaded and bool(open_boxes(window)), timeout=WAIT_MS)
    box = open_boxes(window)[0]
    assert "broken.pt" in box.text()
    box.close()
    assert "broken" not in [info.name for info in window.models.catalog.models]

    # the same file chosen as weights: the error names it too, and nothing changes
    panel = window.models.models_panel
    panel.select_model(MODEL)
    panel.set_weights(bad)
    assert window.open_image("plain")
    panel.current_button.click()
    qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
    assert str(bad) in open_boxes(window)[0].text()
    open_boxes(window)[0].close()
    assert window.document.prediction is None and not (project_root / "predictions" / "plain.npz").exists()

    panel.set_weights(None)  # still usable
    with qtbot.waitSignal(window.models.prelabeller.filed, timeout=WAIT_MS):
        panel.current_button.click()
    assert window.document.prediction is not None


def _quiet(done: int, total: int) -> None:
    pass


def test_a_model_sharing_no_class_with_the_palette_is_refused() -> None:
    service = model_backend()
    palette = Palette("odd", [ClassDef(1, "zebra crossing", (1, 2, 3))])
    rgb = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="no class of the palette 'odd'"):
        service.prelabel(MODEL, None, rgb, palette, CancelToken(), lambda done, total: None, print)
    with pytest.raises(ValueError, match="'zebra', which is not a class of the palette 'odd'"):
        service.prelabel(
            MODEL, None, rgb, palette, CancelToken(), lambda d, t: None, print, class_map={"cat": "zebra"}
        )
    info = next(m for m in service.list_models().models if m.name == MODEL)
    edits = dict.fromkeys(info.classes, "zebra crossing")  # a class map fits the model to this palette
    labels = service.prelabel(MODEL, None, rgb, palette, CancelToken(), _quiet, print, class_map=edits)
    assert set(np.unique(labels.category)) == {1}


def test_windows_without_a_backend_say_so(qtbot, tmp_path: Path) -> None:
    window = MainWindow(tmp_path / "data", offer_recovery=False)
    qtbot.addWidget(window)
    messages: list[str] = []
    window.models.catalog.problem.connect(messages.append)
    window.models.refresh()
    assert messages and "without a model backend" in messages[0]
    for box in open_boxes(window):
        box.close()


def test_the_default_model_is_never_random_weights_by_choice() -> None:
    def info(name: str, present: bool, random: bool = False) -> ModelInfo:
        return ModelInfo(name, "semantic", ("background",), present or random, random)

    random_first = [
        info("unet-small", False, random=True),
        info("fcn_resnet50", False),
        info(FIRST_DOWNLOAD, False),
    ]
    assert pick_default(random_first, None) == 2  # nothing trained here: the small download
    trained = [*random_first, info("shapes-unet", True)]
    assert pick_default(trained, None) == 3  # weights here beat a download
    assert pick_default(trained, "unet-small") == 0  # what the user chose wins
    assert pick_default(random_first[:2], None) == 0  # no better offer: the first
