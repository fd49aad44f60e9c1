"""Undo and redo put the ground-truth overlays back from memory (``canvas.overlay_memory``) instead of
recomputing them: the pixels must equal a fresh whole-image computation after every step, whichever
way the memory was filled (a band edit's whole rows, a stroke's overlapping pieces), and must not be
used when the overlay's rule changed meanwhile (another palette, another prediction) or when it was
not kept (its memory bound)."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import CAT, DOG, PALETTE, PERSON
from PySide6.QtWidgets import QGraphicsScene

from segstudio.core.edits import Protect, brush_stroke
from segstudio.core.label_document import LabelDocument
from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.palette import Palette
from segstudio.gui.canvas.canvas import Canvas, Preview
from segstudio.gui.canvas.layers import FOLLOWS_GROUND_TRUTH, document_layers
from segstudio.gui.canvas.overlay_memory import OverlayMemory
from segstudio.gui.document.document import BAND_PIXELS, Document

HEIGHT, WIDTH = 480, 640  # 307,200 pixels: three bands
UNPREDICTED = 420


def _blocky_prediction(seed: int = 0) -> LabelMap:
    """Blocks of classes and one instance per block: varied ids, so outlines are everywhere."""
    rng = np.random.default_rng(seed)
    block = 40
    rows, cols = HEIGHT // block, WIDTH // block
    coarse = rng.choice(np.array([0, CAT, DOG, PERSON], np.uint16), (rows, cols))
    category = np.ascontiguousarray(coarse.repeat(block, 0).repeat(block, 1))
    ids = np.arange(1, rows * cols + 1, dtype=np.uint32).reshape(rows, cols).repeat(block, 0).repeat(block, 1)
    category[UNPREDICTED:] = VOID  # the last band's lower rows stay unlabelled: never repainted
    ids[UNPREDICTED:] = 0
    return LabelMap.from_arrays(category, np.ascontiguousarray(ids), Provenance.MODEL)


@pytest.fixture
def shown(qtbot) -> tuple[Canvas, Document]:
    """An unlabelled image with a prediction, shown by a real canvas (undo written in one call)."""
    model = LabelDocument(
        "memory", np.zeros((HEIGHT, WIDTH, 3), np.uint8), LabelMap.empty(HEIGHT, WIDTH), PALETTE,
        _blocky_prediction(),
    )
    document = Document(model)
    document.replay_turn_s = float("inf")
    canvas = Canvas(Preview(QGraphicsScene()))
    qtbot.addWidget(canvas)
    canvas.show_document(document, PALETTE)
    assert HEIGHT * WIDTH > 2 * BAND_PIXELS
    return canvas, document


def _assert_fresh(canvas: Canvas, document: Document) -> None:
    """The shown overlays equal ones computed from scratch for the labels as they are."""
    fresh = document_layers(document, document.palette, canvas.show_background, only=FOLLOWS_GROUND_TRUTH)
    for name, layer in fresh.items():
        assert np.array_equal(canvas.layers[name]._index, layer._index), name


def _done(document: Document) -> None:
    document.settle()
    assert not document.busy


def test_undo_and_redo_of_a_band_edit_swap_the_overlays_back(shown) -> None:
    canvas, document = shown
    memory = canvas.overlay_memory
    _assert_fresh(canvas, document)
    document.accept_prediction()
    _done(document)
    _assert_fresh(canvas, document)
    for turn in range(1, 5):  # undo, redo, undo, redo
        (document.undo if turn % 2 else document.redo)()
        _done(document)
        assert memory.restored == len(FOLLOWS_GROUND_TRUTH) * turn  # none recomputed
        _assert_fresh(canvas, document)
    assert memory.nbytes <= memory.max_bytes


def test_a_stroke_of_overlapping_pieces_comes_back_exactly(shown) -> None:
    """Brush dabs overlap: the piece saved first holds a pixel as it was before the stroke."""
    canvas, document = shown
    document.accept_prediction()
    _done(document)
    points = [(60.0 + 7 * i, 50.0 + 3 * i) for i in range(40)]
    with document.stroke():
        for start in range(0, len(points) - 1, 2):
            value = (DOG if start % 4 else CAT, 5000 + start)
            document.edit(
                lambda labels, recorder, p=points[start : start + 3], v=value: brush_stroke(
                    labels, p, 9, v, protect=Protect.NONE, recorder=recorder
                )
            )
    _assert_fresh(canvas, document)
    restored = canvas.overlay_memory.restored
    document.undo()
    _done(document)
    assert canvas.overlay_memory.restored == restored + len(FOLLOWS_GROUND_TRUTH)
    _assert_fresh(canvas, document)
    document.redo()
    _done(document)
    assert canvas.overlay_memory.restored == restored + 2 * len(FOLLOWS_GROUND_TRUTH)
    _assert_fresh(canvas, document)


def test_another_palette_or_prediction_is_recomputed_not_restored(shown) -> None:
    canvas, document = shown
    memory = canvas.overlay_memory
    document.accept_prediction()
    _done(document)
    document.undo()
    _done(document)
    restored = memory.restored
    reordered = Palette(PALETTE.name, tuple(reversed(list(PALETTE))))
    document.set_palette(reordered)
    canvas.set_palette(reordered)
    document.redo()  # the ground truth's indices follow the new class order: recomputed
    _done(document)
    assert memory.restored == restored + len(FOLLOWS_GROUND_TRUTH) - 1
    _assert_fresh(canvas, document)
    document.set_prediction(_blocky_prediction(seed=1))
    canvas.finish_layers()
    document.undo()  # the disagreement layer is a new one, for the new prediction
    _done(document)
    assert memory.restored == restored + 2 * len(FOLLOWS_GROUND_TRUTH) - 2
    _assert_fresh(canvas, document)


def test_nothing_is_kept_past_the_memory_bound(shown) -> None:
    canvas, document = shown
    canvas.overlay_memory = OverlayMemory(max_bytes=HEIGHT * WIDTH)  # less than three overlays' worth
    document.accept_prediction()
    _done(document)
    document.undo()
    _done(document)
    document.redo()
    _done(document)
    assert canvas.overlay_memory.restored == 0
    assert canvas.overlay_memory.nbytes == 0
    _assert_fresh(canvas, document)


def test_an_undo_step_of_crowd_flags_only_changes_no_overlay(shown) -> None:
    canvas, document = shown
    document.accept_prediction()
    _done(document)
    with document.stroke():
        document.labels.crowd.add((CAT, 1))
    document.undo()
    _done(document)
    assert (CAT, 1) not in document.labels.crowd
    _assert_fresh(canvas, document)
