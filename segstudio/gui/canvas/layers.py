"""Overlay layers: 8-bit index maps drawn through 256-colour tables, repainted box by box.

Each layer keeps an (H, W) uint8 index array wrapped without a copy as an Indexed8 QImage.
After an edit only the changed box is recomputed (``refresh(box)``); opacity and palette
colours are colour-table swaps, never pixel work.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from segstudio.core.box import Box
from segstudio.core.palette import Palette
from segstudio.gui.canvas.overlay import (
    color_table,
    disagreement_mask,
    display_lut,
    heat_color_table,
    mask_color_table,
    outline_mask,
    reindex,
)
from segstudio.gui.canvas.qimage import ArrayImage, indexed_image
from segstudio.gui.document.document import Document

IMAGE = "image"
GROUND_TRUTH = "ground truth"
PREDICTION = "prediction"
DISAGREEMENT = "disagreement"
OUTLINES = "instance outlines"
UNCERTAINTY = "uncertainty"
SCRIBBLES = "scribbles"

LAYER_NAMES: tuple[str, ...] = (
    IMAGE,
    GROUND_TRUTH,
    PREDICTION,
    UNCERTAINTY,
    DISAGREEMENT,
    OUTLINES,
    SCRIBBLES,
)
"""Bottom to top."""

FOLLOWS_GROUND_TRUTH: tuple[str, ...] = (GROUND_TRUTH, DISAGREEMENT, OUTLINES)
"""Layers recomputed (box by box) when the ground truth changes."""


@dataclass
class LayerState:
    """What the layers panel controls for one layer."""

    visible: bool
    opacity: float


def default_states() -> dict[str, LayerState]:
    return {
        IMAGE: LayerState(True, 1.0),
        GROUND_TRUTH: LayerState(True, 0.5),
        PREDICTION: LayerState(False, 0.5),
        DISAGREEMENT: LayerState(True, 0.7),
        OUTLINES: LayerState(True, 0.9),
        UNCERTAINTY: LayerState(False, 0.8),
        SCRIBBLES: LayerState(True, 0.9),
    }


_LAYER_SERIALS = itertools.count(1)


class IndexedLayer(QGraphicsItem):
    """Base of the overlays: an index map, a colour table and box-wise repaint."""

    margin = 0
    """How far outside an edited box this layer's pixels depend on the edit."""

    def __init__(self, shape: tuple[int, int], opacity: float, filled: bool = True) -> None:
        super().__init__()
        self._serial = next(_LAYER_SERIALS)
        self._version = 0
        """Bumped when the pixels are recomputed for another reason than a label change (a palette
        of other class ids): saved pixels of an older version no longer match the labels."""
        self._opacity = opacity
        # Not zeroed: every ``_fill`` writes its whole box, and zeroing 12 MP cost the turn that shows
        # a photo ~5 ms a layer. Not ``filled``: the owner fills it (``refresh``) before showing it.
        self._index = np.empty(shape, np.uint8)
        if filled:
            self._fill(Box.full(shape))
        self._image: ArrayImage = indexed_image(self._index, self._color_table())
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def _fill(self, box: Box) -> None:
        """Recompute the display indices of ``box``."""
        raise NotImplementedError

    def _color_table(self) -> list[int]:
        raise NotImplementedError

    @property
    def layer_opacity(self) -> float:
        return self._opacity

    def set_layer_opacity(self, opacity: float) -> None:
        """Change opacity by swapping the 256-entry colour table; pixels stay as they are."""
        self._opacity = opacity
        self._image.image.setColorTable(self._color_table())
        self.update()

    def refresh(self, box: Box) -> None:
        """Recompute and repaint only ``box`` (grown by ``margin``) after the labels changed there."""
        box = self.reach(box)
        if box.is_empty:
            return
        self._fill(box)
        self.update(QRectF(box.left, box.top, box.width, box.height))

    @property
    def content_key(self) -> tuple[int, int]:
        """This layer and the rule its pixels follow: pixels saved under another key do not fit."""
        return self._serial, self._version

    def reach(self, box: Box) -> Box:
        """``box`` grown by ``margin`` and clipped to the layer: what ``refresh(box)`` recomputes."""
        return box.pad(self.margin).clip(self._index.shape)

    def save(self, box: Box) -> tuple[Box, np.ndarray]:
        """A copy of the display indices ``refresh(box)`` would recompute, and their box."""
        box = self.reach(box)
        return box, self._index[box.slices].copy()

    def read(self, box: Box, out: np.ndarray) -> None:
        """Copy the display indices of exactly ``box`` into ``out``."""
        np.copyto(out, self._index[box.slices])

    def restore(self, box: Box, indices: np.ndarray) -> None:
        """Put back indices from ``save`` (for the labels they were saved under) and repaint them."""
        self._index[box.slices] = indices
        self.update(QRectF(box.left, box.top, box.width, box.height))

    @property
    def index_shape(self) -> tuple[int, int]:
        return self._index.shape  # type: ignore[return-value]

    def exchange(self, indices: np.ndarray) -> np.ndarray:
        """Show ``indices`` (a whole map from ``save``) and return the map shown until now: an undo
        or redo of a whole-image step swaps its overlays back without copying them."""
        if indices.shape != self._index.shape:
            raise ValueError(f"an overlay of {self._index.shape} cannot show indices of {indices.shape}")
        old, self._index = self._index, indices
        self._image = indexed_image(indices, self._color_table())
        self.update()
        return old

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        height, width = self._index.shape
        return QRectF(0, 0, width, height)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        exposed = option.exposedRect.intersected(self.boundingRect()).toAlignedRect()
        painter.drawImage(exposed, self._image.image, exposed)


class LabelLayer(IndexedLayer):
    """A category map drawn with the palette's colours (its background classes clear unless
    ``show_background``: a black background class would darken the whole photo)."""

    def __init__(
        self,
        category: np.ndarray,
        palette: Palette,
        opacity: float = 0.5,
        show_background: bool = True,
        filled: bool = True,
    ) -> None:
        self._category = category
        self._palette = palette
        self._lut = display_lut(palette)
        self._show_background = show_background
        super().__init__(category.shape, opacity, filled)

    def _fill(self, box: Box) -> None:
        reindex(self._category, self._lut, self._index, box)

    def _color_table(self) -> list[int]:
        clear = () if self._show_background else self._palette.background_ids
        return color_table(self._palette, self._opacity, clear)

    def set_show_background(self, on: bool) -> None:
        """Draw the background classes or leave the photo clear there (a colour-table swap)."""
        self._show_background = on
        self._image.image.setColorTable(self._color_table())
        self.update()

    def set_palette(self, palette: Palette) -> None:
        """New colours are a table swap; pixels are re-indexed only when the class ids changed."""
        ids_changed = palette.ids != self._palette.ids
        self._palette = palette
        if ids_changed:
            self._lut = display_lut(palette)
            self._version += 1
            self._fill(Box.full(self._index.shape))
        self._image.image.setColorTable(self._color_table())
        self.update()


class MaskLayer(IndexedLayer):
    """A boolean mask computed box by box (disagreement, instance outlines) in one colour."""

    def __init__(
        self,
        shape: tuple[int, int],
        compute: Callable[[Box], np.ndarray],
        color: tuple[int, int, int],
        opacity: float,
        margin: int = 0,
        filled: bool = True,
    ) -> None:
        self._compute = compute
        self._color = color
        self.margin = margin
        super().__init__(shape, opacity, filled)

    def _fill(self, box: Box) -> None:
        self._index[box.slices] = self._compute(box)

    def _color_table(self) -> list[int]:
        return mask_color_table(self._color, self._opacity)


class HeatLayer(IndexedLayer):
    """A uint8 level map (the scribble classifier's uncertainty): clear at 0, opaque hot colours at 255."""

    def __init__(self, levels: np.ndarray, opacity: float, filled: bool = True) -> None:
        self._levels = levels
        super().__init__(levels.shape, opacity, filled)

    def _fill(self, box: Box) -> None:
        self._index[box.slices] = self._levels[box.slices]

    def _color_table(self) -> list[int]:
        return heat_color_table(self._opacity)


BACKGROUND_LAYERS: tuple[str, ...] = (GROUND_TRUTH, PREDICTION)
"""Layers that leave background classes clear unless asked (scribbles always show what was drawn)."""


PREDICTION_LAYERS: tuple[str, ...] = (PREDICTION, UNCERTAINTY, DISAGREEMENT)
"""Layers rebuilt when a new prediction arrives (the others do not depend on it)."""


def document_layers(
    document: Document,
    palette: Palette,
    show_background: bool = False,
    only: Collection[str] = LAYER_NAMES,
    filled: bool = True,
) -> dict[str, IndexedLayer]:
    """The overlays of one document, bottom to top (no prediction: no prediction or disagreement);
    ``only`` those named (a new prediction rebuilds ``PREDICTION_LAYERS``, not the 12 MP rest);
    not ``filled``: their pixels left for the caller to fill (``refresh``) band by band."""
    labels, prediction = document.labels, document.prediction
    layers: dict[str, IndexedLayer] = {}
    if GROUND_TRUTH in only:
        layers[GROUND_TRUTH] = LabelLayer(
            labels.category, palette, show_background=show_background, filled=filled
        )
    if prediction is not None and PREDICTION in only:
        layers[PREDICTION] = LabelLayer(
            prediction.category, palette, show_background=show_background, filled=filled
        )
    if document.uncertainty is not None and UNCERTAINTY in only:
        layers[UNCERTAINTY] = HeatLayer(document.uncertainty, 0.8, filled)
    if prediction is not None and DISAGREEMENT in only:
        layers[DISAGREEMENT] = MaskLayer(
            labels.shape,
            lambda box: disagreement_mask(labels.category, prediction.category, box),
            (255, 0, 64),
            0.7,
            filled=filled,
        )
    if OUTLINES in only:
        layers[OUTLINES] = MaskLayer(
            labels.shape,
            lambda box: outline_mask(labels.instance, box),
            (255, 255, 255),
            0.9,
            margin=1,
            filled=filled,
        )
    if SCRIBBLES in only:
        layers[SCRIBBLES] = LabelLayer(document.scribbles.category, palette, 0.9, filled=filled)
    return layers
