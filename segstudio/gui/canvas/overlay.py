"""A label layer as an Indexed8 overlay: category values -> 8-bit display indices -> colours.

Category ids are uint16 and may be sparse (COCO ids reach 200); the display index is the
class's position in the palette, 255 is VOID and drawn clear. A palette change rebuilds two
small tables; a pixel edit re-indexes only the changed box.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from PySide6.QtGui import qRgba

from segstudio.core.box import Box
from segstudio.core.labels import VOID
from segstudio.core.palette import Palette

CLEAR_INDEX = 255
"""Display index for VOID and for ids the palette does not know: fully transparent."""


def display_lut(palette: Palette) -> np.ndarray:
    """uint8 table of length VOID + 1 mapping category value -> display index."""
    if len(palette) > CLEAR_INDEX:
        raise ValueError(f"palette {palette.name!r} has {len(palette)} classes; overlays show at most 255")
    lut = np.full(VOID + 1, CLEAR_INDEX, np.uint8)
    for position, class_def in enumerate(palette):
        lut[class_def.id] = position
    return lut


def color_table(palette: Palette, opacity: float, clear: Collection[int] = ()) -> list[int]:
    """256 ARGB entries: palette colours at ``opacity`` (0..1), index 255 and the classes in
    ``clear`` (ids) clear."""
    alpha = int(round(max(0.0, min(1.0, opacity)) * 255))
    table = [qRgba(0, 0, 0, 0)] * 256
    for position, class_def in enumerate(palette):
        if class_def.id not in clear:
            r, g, b = class_def.color
            table[position] = qRgba(r, g, b, alpha)
    return table


def reindex(category: np.ndarray, lut: np.ndarray, out: np.ndarray, box: Box | None = None) -> None:
    """Write display indices of ``category`` into ``out`` (whole map, or only ``box``)."""
    if box is None:
        np.take(lut, category, out=out)
    else:
        region = box.slices
        out[region] = lut[category[region]]


def mask_color_table(color: tuple[int, int, int], opacity: float) -> list[int]:
    """256 ARGB entries for a 0/1 mask: index 1 is ``color`` at ``opacity``, everything else clear."""
    alpha = int(round(max(0.0, min(1.0, opacity)) * 255))
    table = [qRgba(0, 0, 0, 0)] * 256
    table[1] = qRgba(*color, alpha)
    return table


def heat_color_table(opacity: float) -> list[int]:
    """256 ARGB entries for a 0..255 level map: yellow to red, alpha rising with the level, 0 clear."""
    opacity = max(0.0, min(1.0, opacity))
    return [qRgba(255, 255 - level, 0, int(round(level * opacity))) for level in range(256)]


def disagreement_mask(gt: np.ndarray, pred: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of ``box`` where labelled ground truth and the prediction differ.

    Unlabelled (VOID) ground truth is work not done yet rather than a disagreement, so it is left out.
    """
    truth, predicted = gt[box.slices], pred[box.slices]
    return (truth != predicted) & (truth != VOID)


def outline_mask(instance: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of ``box`` on an instance's border: instance > 0 and a 4-neighbour holds another id.

    Neighbours just outside ``box`` are read too, so a box-by-box update gives the same pixels
    as a whole-image pass.
    """
    outer = box.pad(1).clip(instance.shape)
    ids = instance[outer.slices]
    edge = np.zeros(ids.shape, bool)
    vertical = ids[1:] != ids[:-1]
    edge[1:] |= vertical
    edge[:-1] |= vertical
    horizontal = ids[:, 1:] != ids[:, :-1]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge &= ids != 0
    inner = box.shift(-outer.top, -outer.left)
    return edge[inner.slices]
