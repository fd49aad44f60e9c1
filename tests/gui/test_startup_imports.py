"""What start-up leaves for later (``segstudio bench gui``'s ``startup_ms``): the benchmark's
start-up script, run as it runs it, has imported none of what the first paint does not need when
the canvas first paints; the IoU chart (pyqtgraph) is built after its place first paints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gui_helpers import prediction

from segstudio.benchmarks.gui import STARTUP_SCRIPT

LATER = (
    "pyqtgraph",  # the IoU chart, the Train plot, the SAM outline
    "segstudio.gui.exchange.export_dialog",  # File > Export dataset
    "segstudio.gui.exchange.import_dialog",
    "segstudio.depth.sources",  # the depth stream: renderer, sources, body-part model
    "segstudio.depth.model",
    "segstudio.depth.joints",
    "segstudio.gui.modelling.project_score",  # Models > Score project, its evaluation
    "segstudio.io.project_eval",
    "segstudio.commands.bench",  # the other subcommands
    "importlib.metadata",  # segstudio.__version__
    "torch",
)


def test_the_first_paint_imports_only_what_it_needs(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-c", STARTUP_SCRIPT, str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["painted"]
    assert "segstudio.gui.main_window" in result["modules"]
    assert [name for name in LATER if name in result["modules"]] == []


def test_the_iou_chart_comes_once_its_place_is_shown(qtbot, make_window, project_root) -> None:
    window = make_window(project_root)
    panel = window.iou_panel
    qtbot.waitUntil(lambda: panel.chart_built)  # the project's image has a prediction: bars to show
    height, width = window.labels.shape
    window.document.set_prediction(prediction(height, width))
    qtbot.waitUntil(lambda: len(panel.bars.opts["brushes"] or []) >= 2)

