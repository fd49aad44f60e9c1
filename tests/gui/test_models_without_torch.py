"""Without torch (the standalone bundle, a pip install without the models extra) the app works and
its Models dock says what the models need and how to get them, instead of failing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from gui_helpers import open_boxes

from segstudio.extras import models_missing

PIP_HINT = "pip install 'segstudio[models]'"


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if torch and torchvision were not installed: importing them fails, and the model modules
    already imported by other tests are imported afresh (and fail on ``import torch``)."""
    for name in ("torch", "torchvision"):
        monkeypatch.setitem(sys.modules, name, None)
    for name in [n for n in sys.modules if n == "segstudio.models" or n.startswith("segstudio.models.")]:
        monkeypatch.delitem(sys.modules, name)


def test_the_models_dock_says_what_it_needs_without_torch(no_torch, make_window, project_root: Path, qtbot):
    window = make_window(project_root)
    window.models.models_dock.show()
    status = window.models.models_panel.status
    qtbot.waitUntil(lambda: PIP_HINT in status.text(), timeout=20_000)
    assert "PyTorch" in status.text()
    assert not window.models.catalog.loaded
    boxes = open_boxes(window)
    assert boxes and PIP_HINT in boxes[0].text()
    for box in boxes:
        box.close()
    window.toolbox.set_tool("brush")  # the rest of the window goes on: annotation needs no torch
    assert window.toolbox.active.name == "brush"


def test_the_bundle_says_it_leaves_torch_out(monkeypatch: pytest.MonkeyPatch) -> None:
    error = ImportError("No module named 'torch'")
    assert "No module named 'torch'" in models_missing(error) and PIP_HINT in models_missing(error)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    text = models_missing(error)
    assert "standalone build leaves out" in text and PIP_HINT in text
