"""Metrics and overlays follow each edit's box and always equal a whole-image recompute."""

from __future__ import annotations

import time

import numpy as np
from gui_helpers import (
    BACKGROUND,
    CAT,
    DOG,
    PALETTE,
    PERSON,
    drag,
    ground_truth,
    prediction,
    scene_image,
    write_png,
    zoomed,
)
from PySide6.QtWidgets import QDockWidget

from segstudio.core.box import Box
from segstudio.core.edits import brush_stroke, flood_fill
from segstudio.core.label_document import LabelDocument
from segstudio.core.label_pq import label_map_pq
from segstudio.core.labels import LabelMap, Provenance
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import ClassDef
from segstudio.gui.canvas import layers as layers_module
from segstudio.gui.canvas.layers import DISAGREEMENT, OUTLINES, PREDICTION
from segstudio.gui.canvas.overlay import disagreement_mask, outline_mask
from segstudio.gui.document.document import Document
from segstudio.gui.panels.iou_panel import NO_PREDICTION, percent, pq_summary
from segstudio.io.project import Project


def _corrections(document: Document) -> int:
    labels, pred = document.labels, document.prediction
    return int(((labels.provenance == Provenance.HUMAN) & (labels.category != pred.category)).sum())


def _full_matrix(document: Document) -> ConfusionMatrix:
    return ConfusionMatrix.from_maps(document.labels.category, document.prediction.category, PALETTE.ids)


def test_metrics_follow_edits_undo_redo_and_accepting_the_prediction(qtbot) -> None:
    document = Document(LabelDocument("scene", scene_image(), ground_truth(), PALETTE, prediction()))
    assert document.confusion == _full_matrix(document)
    with document.stroke():
        document.edit(
            lambda labels, rec: brush_stroke(labels, [(10, 10), (40, 30)], 5, (DOG, 3), recorder=rec)
        )
        document.edit(
            lambda labels, rec: brush_stroke(labels, [(40, 30), (90, 60)], 5, (CAT, 1), recorder=rec)
        )
    document.apply(lambda labels, rec: flood_fill(labels, (5, 85), (PERSON, 4), recorder=rec))
    assert document.confusion == _full_matrix(document)
    assert document.human_corrections == _corrections(document) > 0
    document.undo()
    assert document.confusion == _full_matrix(document)
    assert document.human_corrections == _corrections(document)
    document.redo()
    document.accept_prediction(replace=True)
    assert document.confusion == _full_matrix(document)
    assert document.human_corrections == _corrections(document)
    assert document.confusion.miou == 1.0  # ground truth now is the prediction


def test_disagreement_and_outline_layers_equal_a_whole_image_pass_after_edits(
    qtbot, make_window, project_root
):
    window = zoomed(make_window(project_root))
    window.toolbox.set_label(PERSON)
    window.toolbox.set_radius(4)
    drag(qtbot, window, [(20, 20), (70, 40), (100, 20)])
    window.toolbox.new_instance()
    drag(qtbot, window, [(30, 60), (40, 60)])
    labels, pred = window.document.labels, window.document.prediction
    whole = Box.full(labels.shape)
    disagreement = window.canvas.layers[DISAGREEMENT]._index.astype(bool)
    outlines = window.canvas.layers[OUTLINES]._index.astype(bool)
    assert np.array_equal(disagreement, disagreement_mask(labels.category, pred.category, whole))
    assert np.array_equal(outlines, outline_mask(labels.instance, whole))
    assert outlines.sum() > 50 and disagreement.sum() > 100


def _iou_table(panel) -> dict[str, str]:
    """Class -> IoU as its cell's tooltip gives it (exact; the cell itself shows one decimal)."""
    return {
        panel.table.item(row, 0).text(): panel.table.item(row, 1).toolTip()
        for row in range(panel.table.rowCount())
    }


def test_iou_dock_shows_what_from_maps_computes_after_a_stroke(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    panel = window.iou_panel
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(6)
    drag(qtbot, window, [(5, 5), (20, 12), (30, 25)])
    expected = ConfusionMatrix.from_maps(
        window.labels.category, window.document.prediction.category, PALETTE.ids
    )
    rows = {
        PALETTE[int(c)].name: percent(float(v))
        for c, v in zip(expected.class_ids, expected.iou, strict=True)
        if not np.isnan(v)
    }
    assert set(rows) == {"background", "cat", "dog"}
    qtbot.waitUntil(lambda: _iou_table(panel) == rows)
    corrections = _corrections(window.document)
    assert f"mIoU {percent(expected.miou)}" in panel.summary.text()
    assert f"Human pixels unlike the prediction: {corrections:,}" in panel.summary.text()
    assert panel.bars.opts["height"].tolist() == [v for v in expected.iou if not np.isnan(v)]


def _pq_column(panel) -> dict[str, str]:
    rows = range(panel.table.rowCount())
    return {panel.table.item(row, 0).text(): panel.table.item(row, 2).toolTip() for row in rows}


def _direct_pq(document: Document):
    labels, pred = document.labels, document.prediction
    isthing = {c.id: c.isthing for c in PALETTE}
    return label_map_pq(labels.category, labels.instance, pred.category, pred.instance, isthing, labels.crowd)


def test_pq_follows_the_edits_off_the_gui_thread(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    panel, live = window.iou_panel, window.panoptic
    qtbot.waitUntil(lambda: live.quality is not None, timeout=10000)
    before = _direct_pq(window.document)
    assert live.quality == before
    assert before.per_class[DOG].fp == 1 and before.per_class[DOG].tp == 0  # the GT has no dog
    assert panel.pq_label.text() == pq_summary(before) and panel.pq_label.text().startswith("PQ ")
    assert _pq_column(panel)["dog"] == percent(0.0)

    # label the dog the model saw (top-left 25x20): it becomes a match and PQ goes up
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(5)
    drag(qtbot, window, [(0, 3), (24, 3), (24, 9), (0, 9), (0, 15), (24, 15), (24, 19), (0, 19)])
    after = _direct_pq(window.document)
    assert after.per_class[DOG].tp == 1 and after.all.pq > before.all.pq
    qtbot.waitUntil(lambda: live.quality == after, timeout=10000)
    qtbot.waitUntil(lambda: panel.pq_label.text() == pq_summary(after), timeout=10000)
    assert _pq_column(panel)["dog"] == percent(after.per_class[DOG].pq)

    assert window.save() and window.open_image("plain")  # no prediction: no PQ
    qtbot.waitUntil(lambda: live.quality is None and panel.pq_label.text() == "")


def test_iou_dock_says_when_the_image_has_no_prediction(qtbot, make_window, project_root):
    window = make_window(project_root)
    assert window.open_image("plain")
    assert window.iou_panel.summary.text() == NO_PREDICTION
    assert not window.iou_panel.table.isVisible()
    assert PREDICTION not in window.canvas.layers
    assert not window.layers_panel.visible[PREDICTION].isEnabled()


def test_brush_moves_on_a_large_image_touch_only_the_dab_boxes(qtbot, make_window, tmp_path, monkeypatch):
    """4000x3000: each mouse-move recomputes overlays and metrics over the new segment's box only."""
    height, width, radius = 3000, 4000, 10
    root = tmp_path / "big"
    project = Project.create(root, PALETTE)
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, :, 1] = 90
    entry = project.add_image(write_png(tmp_path / "big.png", rgb))
    category = np.full((height, width), BACKGROUND, np.uint16)
    category[:, width // 2 :] = CAT
    project.save_prediction(entry.id, LabelMap.from_arrays(category, None, Provenance.MODEL))
    window = make_window(root)
    window.canvas.actual_size()
    window.canvas.centerOn(2000, 1500)
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(radius)

    boxes: list[Box] = []

    def spy(function):
        def spied(*args):
            boxes.append(args[-1])
            return function(*args)

        return spied

    for name in ("reindex", "disagreement_mask", "outline_mask"):  # all the pixel work of the overlays
        monkeypatch.setattr(layers_module, name, spy(getattr(layers_module, name)))

    def no_full_recount(*args, **kwargs):
        raise AssertionError("metrics recounted over the whole image during a stroke")

    monkeypatch.setattr(ConfusionMatrix, "from_maps", no_full_recount)
    points = [(1980 + 6 * i, 1490 + 2 * i) for i in range(12)]
    started = time.perf_counter()
    used = drag(qtbot, window, points)
    elapsed = time.perf_counter() - started
    monkeypatch.undo()

    assert len(boxes) >= 3 * (len(points) - 1)  # every move repainted its own box
    segment = (2 * radius + 1 + 6 + 2) * (2 * radius + 1 + 2 + 2)  # capsule box + outline ring
    assert max(box.area for box in boxes) <= segment
    assert window.document.confusion == ConfusionMatrix.from_maps(
        window.labels.category, category, PALETTE.ids
    )
    reference = LabelMap.empty(height, width)
    brush_stroke(reference, used, radius, (DOG, 1))
    assert np.array_equal(window.labels.category == DOG, reference.category == DOG)
    print(f"{len(points)} brush events on 4000x3000: {elapsed * 1000:.0f} ms (its goal: bench gui)")


def test_palette_colour_edit_swaps_the_colour_table_without_pixel_work(qtbot, make_window, project_root):
    window = make_window(project_root)
    layer = window.canvas.layers["ground truth"]
    index_before = layer._index.copy()
    calls: list[Box] = []
    layer._fill = lambda box: calls.append(box)  # any pixel work would show up here
    position = [c.id for c in PALETTE].index(CAT)
    assert window.palette_panel.replace_class(ClassDef(CAT, "kitty", (1, 2, 3), True))
    assert calls == []
    assert np.array_equal(layer._index, index_before)
    color = layer._image.image.colorTable()[position]
    assert (color >> 16 & 255, color >> 8 & 255, color & 255) == (1, 2, 3)
    assert window.project.palette[CAT].name == "kitty"
    assert Project.open(window.project.root).palette[CAT].name == "kitty"  # saved in the index
    assert window.commands.classes[position].text() == "kitty"


def test_a_new_prediction_rebuilds_overlays_and_metrics(qtbot, make_window, project_root) -> None:
    """A model (or the scribble classifier) delivers a prediction: layers, IoU dock, counts follow."""
    window = make_window(project_root)
    document = window.document
    assert document is not None
    labels = document.labels
    prediction = LabelMap.from_arrays(labels.category.copy(), labels.instance.copy(), Provenance.MODEL)
    prediction.category[:, : labels.shape[1] // 2] = window.palette.classes[0].id
    with qtbot.waitSignal(window.canvas.layers_changed, timeout=2000):
        document.set_prediction(prediction)
    assert PREDICTION in window.canvas.layers and DISAGREEMENT in window.canvas.layers
    assert window.layers_panel.visible[PREDICTION].isEnabled()
    expected = ConfusionMatrix.from_maps(labels.category, prediction.category, window.palette.ids)
    assert document.confusion == expected
    document.set_prediction(None)
    assert PREDICTION not in window.canvas.layers and document.confusion is None
    assert not window.layers_panel.visible[PREDICTION].isEnabled()


def test_pq_is_recounted_when_a_class_turns_from_thing_to_stuff(qtbot, make_window, project_root):
    window = make_window(project_root)
    live = window.panoptic
    qtbot.waitUntil(lambda: live.quality is not None, timeout=10000)
    before = live.quality
    cat = window.palette[CAT]
    assert cat.isthing and window.palette_panel.replace_class(ClassDef(CAT, cat.name, cat.color, False))
    recounted = lambda: live.quality is not None and live.quality.stuff.n == before.stuff.n + 1  # noqa: E731
    qtbot.waitUntil(recounted, timeout=10000)
    assert live.quality.things.n == before.things.n - 1
    assert window.iou_panel.pq_label.text() == pq_summary(live.quality)


def test_a_hidden_iou_dock_costs_no_pq_work_and_catches_up_when_shown(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    live, dock = window.panoptic, window.findChild(QDockWidget, "iou-dock")
    qtbot.waitUntil(lambda: live.quality is not None, timeout=10000)
    before = live.quality
    dock.hide()
    assert not live.active
    counted: list[object] = []
    live.updated.connect(counted.append)
    window.toolbox.set_label(DOG)
    window.toolbox.set_radius(5)
    drag(qtbot, window, [(0, 3), (24, 3), (24, 9), (0, 9), (0, 15), (24, 15), (24, 19), (0, 19)])
    qtbot.wait(600)  # longer than the throttle: a visible dock would have been updated by now
    assert counted == [] and live.quality == before
    dock.show()
    qtbot.waitUntil(lambda: live.quality == _direct_pq(window.document), timeout=10000)
    assert live.quality != before


def test_a_failed_pq_count_stays_said_until_the_next_count(qtbot, make_window, project_root):
    window = make_window(project_root)
    panel = window.iou_panel
    qtbot.waitUntil(lambda: window.panoptic.quality is not None, timeout=10000)
    panel.quality_failed("instance id 4294967295 is too large")
    panel.refresh()  # an IoU redraw must not hide it
    assert panel.pq_label.text() == "PQ could not be counted: instance id 4294967295 is too large"
    panel.set_quality(window.panoptic.quality)
    assert panel.pq_label.text() == pq_summary(window.panoptic.quality)
