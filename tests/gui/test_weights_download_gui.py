"""Models dock: downloading published weights (real server on 127.0.0.1, real worker) and the device menu."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from gui_helpers import models_ready, open_boxes
from weights_server import Served, serving

from segstudio.gui.modelling.device_menu import SETTINGS_KEY
from segstudio.gui.settings import user_settings
from segstudio.models import registry
from segstudio.models import weights as W

WAIT_MS = 20000
BASE = "unet-small"
PUBLISHED = "unet-small-published"


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private torch hub folder: downloads land here, never in the user's cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def _weights() -> bytes:
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(registry.get_spec(BASE).build().state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture
def published(hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Served, bytes, str]]:
    """``unet-small-published``: unet-small with weights published on a local server."""
    data = _weights()
    name = f"{PUBLISHED}-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setattr(W, "CHUNK_BYTES", 16 << 10)  # many progress reports (and cancel points)
    with serving() as served:
        served.files[name] = data
        source = registry.WeightSource(served.url(name), hashlib.sha256(data).hexdigest(), name)
        spec = dataclasses.replace(registry.get_spec(BASE), name=PUBLISHED, weights=(source,))
        registry.register(spec, replace=True)
        try:
            yield served, data, name
        finally:
            registry.unregister(PUBLISHED)


def test_download_stopped_midway_resumes_and_the_model_runs(
    make_window, project_root: Path, qtbot, published, hub_dir: Path
) -> None:
    served, data, file_name = published
    window = models_ready(qtbot, make_window(project_root), PUBLISHED)
    panel, bar = window.models.models_panel, window.models.models_panel.download
    assert bar.isVisible() and bar.button.isEnabled() and not bar.stop_button.isEnabled()
    assert "Weights missing" in panel.info.text() and file_name in panel.info.text()
    assert served.url(file_name) in panel.info.text()  # where it comes from

    served.hold_after = len(data) // 2  # the server stalls halfway until the test opens the gate
    bar.button.click()
    assert served.holding.wait(WAIT_MS / 1000)
    qtbot.waitUntil(lambda: "Downloading" in bar.label.text(), timeout=WAIT_MS)
    assert bar.stop_button.isEnabled() and not bar.button.isEnabled()
    assert bar.bar.maximum() == len(data) // 1024 and 0 < bar.bar.value() < bar.bar.maximum()
    with qtbot.waitSignal(window.models.downloader.cancelled, timeout=WAIT_MS):
        bar.stop_button.click()
        served.gate.set()
    part = hub_dir / (file_name + W.PART_SUFFIX)
    kept = part.stat().st_size
    assert len(data) // 2 <= kept < len(data)  # what came is kept ...
    assert not (hub_dir / file_name).exists()  # ... and nothing looks complete
    assert "stopped" in bar.label.text() and bar.button.isEnabled()

    with qtbot.waitSignal(window.models.downloader.finished, timeout=WAIT_MS) as finished:
        bar.button.click()
    assert served.ranges[-1] == f"bytes={kept}-"  # resumed, not started over
    assert finished.args == [PUBLISHED, str(hub_dir / file_name)]
    assert (hub_dir / file_name).read_bytes() == data and not part.exists()
    qtbot.waitUntil(lambda: window.models.catalog.get(PUBLISHED).weights_present, timeout=WAIT_MS)
    assert not bar.isVisible() and "Weights missing" not in panel.info.text()
    assert "weights present" in panel.model_combo.currentText()

    assert window.open_image("plain")
    with qtbot.waitSignal(window.models.prelabeller.filed, timeout=WAIT_MS):
        panel.current_button.click()
    assert window.document.prediction is not None and not open_boxes(window)


def test_a_failed_download_names_the_file_to_place(
    make_window, project_root: Path, qtbot, published, capfd
) -> None:
    served, data, file_name = published
    del served.files[file_name]  # the server answers 404
    window = models_ready(qtbot, make_window(project_root), PUBLISHED)
    bar = window.models.models_panel.download
    with qtbot.waitSignal(window.models.downloader.problem, timeout=WAIT_MS):
        bar.button.click()
    qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
    box = open_boxes(window)[0]
    assert box.windowTitle() == "Download failed"
    assert "HTTP 404" in box.text() and f"place {file_name} in" in box.text()
    assert bar.button.isEnabled() and "failed" in bar.label.text()
    assert "Traceback" not in capfd.readouterr().err  # the message box says it all
    box.close()


def test_device_choice_is_kept_and_an_unusable_one_falls_back(make_window, project_root: Path, qtbot) -> None:
    window = make_window(project_root)
    menu = window.models.device_menu
    assert menu.actions["auto"].isChecked()
    with qtbot.waitSignal(menu.described, timeout=WAIT_MS) as described:
        menu.actions["cpu"].trigger()
    assert described.args[0].startswith("cpu (")
    assert window.models.models_panel.device_label.text() == f"Device: {described.args[0]}"
    assert user_settings().value(SETTINGS_KEY) == "cpu"

    if not torch.backends.mps.is_available():  # ask for a device this computer lacks
        messages: list[str] = []
        menu.status.connect(messages.append)
        with qtbot.waitSignal(menu.described, timeout=WAIT_MS) as described:
            menu.actions["mps"].trigger()
        assert "device 'mps' is not available here" in " ".join(messages)
        expected = "cuda" if torch.cuda.is_available() else "cpu"
        assert described.args[0].startswith(expected)

    again = make_window(project_root)  # a new window starts with the saved choice
    assert again.models.device_menu.actions[menu.preference].isChecked()
    assert again.models.backend.device_preference == menu.preference


def test_prelabelling_without_weights_says_what_to_do(make_window, project_root: Path, qtbot, published):
    window = models_ready(qtbot, make_window(project_root), PUBLISHED)
    panel = window.models.models_panel
    with qtbot.waitSignal(window.models.catalog.changed, timeout=WAIT_MS):  # the list is asked again
        panel.current_button.click()
    assert "no weights on this computer yet: Download weights" in panel.status.text()
    assert "no weights on this computer yet" in window.statusBar().currentMessage()  # where one looks
    with qtbot.waitSignal(window.models.catalog.changed, timeout=WAIT_MS):
        panel.all_button.click()
    assert not window.models.prelabeller.batch_running  # nothing queued that could only fail
    assert not window.models.jobs.pending() and not open_boxes(window)


def test_weights_placed_by_hand_are_found_at_the_next_try(
    make_window, project_root: Path, qtbot, published, hub_dir: Path
) -> None:
    served, data, file_name = published
    window = models_ready(qtbot, make_window(project_root), PUBLISHED)
    panel = window.models.models_panel
    hub_dir.mkdir(parents=True, exist_ok=True)
    (hub_dir / file_name).write_bytes(data)  # the user follows "place FILE in FOLDER"
    with qtbot.waitSignal(window.models.catalog.changed, timeout=WAIT_MS):
        panel.current_button.click()  # refused (the list is old), and the list is asked again
    assert window.models.catalog.get(PUBLISHED).weights_present
    with qtbot.waitSignal(window.models.prelabeller.filed, timeout=WAIT_MS):
        panel.current_button.click()
