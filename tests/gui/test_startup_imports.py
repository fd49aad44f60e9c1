"""What start-up leaves for later (``segstudio bench gui``'s ``startup_ms``): a fresh interpreter
starts the app as a bare ``segstudio`` does and, when the canvas first paints, has imported none of
what that paint does not need; the IoU chart (pyqtgraph) is built after it, once it has bars to show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LATER = (
    "pyqtgraph",  # the IoU chart, the Train plot, the SAM outline
    "segstudio.gui.exchange.export_dialog",  # File > Export dataset
    "segstudio.gui.exchange.import_dialog",
    "segstudio.depth.sources",  # the depth stream: renderer, sources, body-part model
    "segstudio.depth.model",
    "segstudio.depth.joints",
    "segstudio.commands.bench",  # the other subcommands
    "importlib.metadata",  # segstudio.__version__
    "torch",
)

SCRIPT = r"""
import json, sys, time
from pathlib import Path
import segstudio.cli
segstudio.cli.parse([])
from segstudio import app
from PySide6.QtCore import QEvent, QObject, QSettings
data = Path(sys.argv[1])
app.data_dir = lambda: data
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(data / "settings"))
qt = app.qt_application()
window = app.create_window(None, offer_recovery=False)
at_paint = []

class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not at_paint:
            at_paint.append(sorted(set(sys.modules)))
        return False

watch = Watch()
window.canvas.viewport().installEventFilter(watch)
window.show()
deadline = time.monotonic() + 60
while not at_paint and time.monotonic() < deadline:
    qt.processEvents()
if window.document.prediction is None:  # the chart shows with a prediction: give it one
    window.document.set_prediction(window.document.labels.copy())
while not window.iou_panel.chart_built and time.monotonic() < deadline:
    qt.processEvents()
print(json.dumps({"at_paint": at_paint[0] if at_paint else None, "chart": window.iou_panel.chart_built,
                  "later": sorted(sys.modules)}))
window.close()
"""


def test_the_first_paint_imports_only_what_it_needs(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["at_paint"] is not None, "the canvas never painted"
    assert [name for name in LATER if name in result["at_paint"]] == []
    assert result["chart"]  # the IoU chart came after the paint, not never
    assert "pyqtgraph" in result["later"]
