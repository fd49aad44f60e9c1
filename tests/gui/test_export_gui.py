"""File > Export dataset… in the real window: the export runs on the worker, saves the open image
first, equals the command line's export, and never overwrites a folder."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from gui_helpers import DOG, drag, export_from_menu, open_boxes, zoomed
from PySide6.QtWidgets import QDialogButtonBox

from segstudio.cli import main as cli_main
from segstudio.gui.exchange.dataset_exchange import export_home
from segstudio.gui.exchange.export_dialog import free_folder
from segstudio.gui.threads.worker import Job, Priority
from segstudio.io.export import ExportFormat
from segstudio.io.semantic_png import read_label_values

WAIT_MS = 20000


def test_export_saves_the_open_image_and_equals_the_cli(qtbot, make_window, project_root, tmp_path) -> None:
    window = zoomed(make_window(project_root))
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(4)
    drag(qtbot, window, [(5, 5), (30, 5)])
    assert window.document.dirty
    out = tmp_path / "gui-export"
    with qtbot.waitSignal(window.exchange.job.done, timeout=WAIT_MS) as finished:
        export_from_menu(qtbot, window, ExportFormat.SEMANTIC_PNG, out)
        assert window.exchange.status.isVisible()
    assert finished.args == [1]
    assert not window.document.dirty  # saved before the export read the project
    qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
    box = open_boxes(window)[0]
    assert box.windowTitle() == "Export finished" and str(out) in box.text()
    box.close()
    assert not window.exchange.status.isVisible()

    values = read_label_values(out / "scene.png")
    assert (values[5, 5:30] == DOG).all()  # the stroke made just before exporting is in it
    cli_out = tmp_path / "cli-export"
    assert cli_main(["export", "semantic-png", str(project_root), str(cli_out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in cli_out.iterdir())
    for path in out.iterdir():
        assert path.read_bytes() == (cli_out / path.name).read_bytes(), path.name


def test_coco_panoptic_export_from_the_window(qtbot, make_window, project_root, tmp_path) -> None:
    window = make_window(project_root)
    out = tmp_path / "panoptic"
    with qtbot.waitSignal(window.exchange.job.done, timeout=WAIT_MS):
        export_from_menu(qtbot, window, ExportFormat.COCO_PANOPTIC, out)
    data = json.loads((out / "annotations" / "panoptic.json").read_text())
    assert [a["file_name"] for a in data["annotations"]] == ["scene.png"]
    categories = {s["category_id"] for s in data["annotations"][0]["segments_info"]}
    assert categories == {0, 8}  # background and the cat of the ground truth
    for box in open_boxes(window):
        box.close()


def test_the_dialog_never_offers_an_existing_folder(qtbot, make_window, project_root, tmp_path) -> None:
    window = make_window(project_root)
    dialog = window.exchange.open_export()
    assert dialog is not None
    home = export_home(project_root, window.data_dir)
    assert home == project_root.parent
    assert Path(dialog.out.text()) == free_folder(home, f"{project_root.name}-coco-panoptic")
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()
    dialog.out.setText(str(project_root))  # exists: refused, with the reason
    assert not ok.isEnabled() and "already exists" in dialog.problem.text()
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.COCO_INSTANCES))
    assert dialog.polygons.isVisibleTo(dialog) and not dialog.grey.isVisibleTo(dialog)
    assert not dialog.images.isEnabled()
    (project_root.parent / f"{project_root.name}-coco-instances").mkdir()
    dialog.out.setText("")
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.CITYSCAPES))
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.COCO_INSTANCES))
    assert Path(dialog.out.text()).name == f"{project_root.name}-coco-instances-2"
    dialog.reject()


def test_a_failing_export_leaves_nothing_and_says_why(qtbot, make_window, project_root, tmp_path) -> None:
    window = make_window(project_root)
    (project_root / "labels" / "scene.npz").write_bytes(b"not a label file")
    out = tmp_path / "broken"
    with qtbot.waitSignal(window.exchange.job.failed, timeout=WAIT_MS) as failed:
        export_from_menu(qtbot, window, ExportFormat.COCO_INSTANCES, out)
    assert "scene" in failed.args[0]
    assert not out.exists() and not any(p.name.startswith(".broken") for p in tmp_path.iterdir())
    qtbot.waitUntil(lambda: bool(open_boxes(window)), timeout=WAIT_MS)
    assert open_boxes(window)[0].windowTitle() == "Export failed"
    for box in open_boxes(window):
        box.close()
    assert window.open_image("plain") and not window.exchange.job.running  # the app goes on


def test_stopping_an_export_writes_nothing(qtbot, make_window, project_root, tmp_path) -> None:
    window = make_window(project_root)
    gate = threading.Event()
    window.worker.submit(Job("test-gate", "hold", lambda context: gate.wait(WAIT_MS / 1000), Priority.BATCH))
    out = tmp_path / "stopped"
    export_from_menu(qtbot, window, ExportFormat.CITYSCAPES, out)  # queued behind the gate
    assert window.exchange.status.isVisible() and window.exchange.job.running
    with qtbot.waitSignal(window.exchange.job.cancelled, timeout=WAIT_MS):
        window.exchange.stop_button.click()
        gate.set()
    assert not out.exists() and not window.exchange.status.isVisible()
    assert "nothing was written" in window.statusBar().currentMessage()
