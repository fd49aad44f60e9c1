"""A label layer as an Indexed8 overlay: category values -> 8-bit display indices -> colours.

Category ids are uint16 and may be sparse (COCO ids reach 200); the display index is the
class's position in the palette, 255 is VOID and drawn clear. A palette change rebuilds two
small tables; a pixel edit re-indexes only the changed box.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

import cv2
import numpy as np
from PySide6.QtGui import qRgba

from segstudio.core.box import Box
from segstudio.core.labels import VOID
from segstudio.core.palette import Palette

CLEAR_INDEX = 255
"""Display index for VOID and for ids the palette does not know: fully transparent."""
_SIMD_MIN = 64
"""Smaller boxes go through numpy: OpenCV reads a scalar operand as a 4-vector, ambiguous on tiny arrays."""
UNIFORM_MIN = 1 << 16
"""Boxes of at least this many pixels are first checked for one repeated value (an undo back to
unlabelled, a fill, its redo): one read pass then replaces the overlay's several."""


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
    """Write display indices of ``category`` into ``out`` (whole map, or only ``box``).

    When every id below 255 is all the table knows (every built-in palette), the ids are
    saturated to 8 bits and looked up by OpenCV (two SIMD passes, ~5x numpy's uint16 gather on a
    12 MP undo); ids of 255 and more then all mean "clear", as in ``lut``. A large box of one id
    (``uniform_value``) is one fill."""
    region = box.slices if box is not None else (slice(None), slice(None))
    source, target = category[region], out[region]
    value = uniform_value(source)
    if value is not None and value < len(lut):
        target[...] = lut[value]
        return
    small = _small_lut(lut)
    if small is None or category.dtype != np.uint16 or not target.flags.c_contiguous:
        target[...] = lut[source]
        return
    cv2.LUT(cv2.convertScaleAbs(source), small, dst=target)


def uniform_value(array: np.ndarray) -> int | None:
    """The one value every element of a large 2-D uint16 or uint32 array holds, else None (and
    None for small arrays, where the check would cost more than it saves). A few probes rule
    out most varied arrays before OpenCV's min/max pass reads the whole."""
    if array.size < UNIFORM_MIN or array.dtype not in (np.uint16, np.uint32) or array.ndim != 2:
        return None
    first = array[0, 0]
    height, width = array.shape
    for probe in (array[-1, -1], array[0, -1], array[-1, 0], array[height // 2, width // 2]):
        if probe != first:
            return None
    values = array.view(np.int32) if array.dtype == np.uint32 else array  # equal bits, equal ints
    low, high, _, _ = cv2.minMaxLoc(values)
    return int(first) if low == high else None


def _small_lut(lut: np.ndarray) -> np.ndarray | None:
    """``lut``'s first 255 entries and "clear" for 255, when every id from 255 up is clear."""
    if len(lut) <= CLEAR_INDEX or not (lut[CLEAR_INDEX:] == CLEAR_INDEX).all():
        return None
    return lut[: CLEAR_INDEX + 1]


def mask_color_table(color: tuple[int, int, int], opacity: float) -> list[int]:
    """256 ARGB entries for a 0/1 mask: index 1 is ``color`` at ``opacity``, everything else clear."""
    alpha = int(round(max(0.0, min(1.0, opacity)) * 255))
    table = [qRgba(0, 0, 0, 0)] * 256
    table[1] = qRgba(*color, alpha)
    return table


@functools.lru_cache(maxsize=16)
def heat_color_table(opacity: float) -> list[int]:
    """256 ARGB entries for a 0..255 level map: yellow to red, alpha rising with the level, 0 clear
    (kept per opacity: each new scribble result's layer asks again; never change the list)."""
    opacity = max(0.0, min(1.0, opacity))
    return [qRgba(255, 255 - level, 0, int(round(level * opacity))) for level in range(256)]


def disagreement_mask(gt: np.ndarray, pred: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of ``box`` where labelled ground truth and the prediction differ.

    Unlabelled (VOID) ground truth is work not done yet rather than a disagreement, so it is left out.
    """
    truth, predicted = gt[box.slices], pred[box.slices]
    value = uniform_value(truth)
    if value == VOID:
        return np.zeros(truth.shape, bool)
    if value is not None and predicted.dtype == np.uint16:
        return _as_bool(cv2.compare(predicted, float(value), cv2.CMP_NE))
    if truth.size < _SIMD_MIN or truth.dtype != np.uint16 or predicted.dtype != np.uint16:
        return (truth != predicted) & (truth != VOID)
    differs = cv2.compare(truth, predicted, cv2.CMP_NE)  # 255 where true, by OpenCV's SIMD loops
    differs &= cv2.compare(truth, float(VOID), cv2.CMP_NE)
    return _as_bool(differs)


def _as_bool(mask: np.ndarray) -> np.ndarray:
    """An OpenCV 0/255 mask as a bool array (in place: 255 -> 1, then viewed)."""
    np.bitwise_and(mask, 1, out=mask)
    return mask.view(bool)


def outline_mask(instance: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of ``box`` on an instance's border: instance > 0 and a 4-neighbour holds another id.

    Neighbours just outside ``box`` are read too, so a box-by-box update gives the same pixels
    as a whole-image pass. When the box but its rim holds one id (an undo back to unlabelled, a
    fill), only the rim can be outline: its inside is not compared at all.
    """
    core = box.pad(-1)
    value = None if core.is_empty else uniform_value(instance[core.slices])
    quiet = core if value == 0 else core.pad(-1)
    if value is not None and not quiet.is_empty:
        return _outline_of_rim(instance, box, quiet)
    outer = box.pad(1).clip(instance.shape)
    ids = instance[outer.slices]
    if ids.dtype == np.uint32:  # OpenCV compares int32; equality is the same on the bits
        ids = ids.view(np.int32)
    inner = box.shift(-outer.top, -outer.left)
    if ids.shape[0] < 2 or ids.shape[1] < 2 or ids.size < _SIMD_MIN or ids.dtype != np.int32:
        return _outline_numpy(ids)[inner.slices]
    edge = np.zeros(ids.shape, np.uint8)  # OpenCV's 0/255, written in place into row/column views
    horizontal = cv2.compare(ids[:, 1:], ids[:, :-1], cv2.CMP_NE)
    edge[:, 1:] = horizontal
    cv2.bitwise_or(edge[:, :-1], horizontal, dst=edge[:, :-1])
    vertical = cv2.compare(ids[1:], ids[:-1], cv2.CMP_NE)
    cv2.bitwise_or(edge[1:], vertical, dst=edge[1:])
    cv2.bitwise_or(edge[:-1], vertical, dst=edge[:-1])
    cv2.bitwise_and(edge, cv2.compare(ids, 0.0, cv2.CMP_NE), dst=edge)
    return _as_bool(edge)[inner.slices]


def _outline_of_rim(instance: np.ndarray, box: Box, quiet: Box) -> np.ndarray:
    """``outline_mask`` of ``box`` when no pixel of ``quiet`` (inside it) can be outline: the
    four strips around ``quiet`` are computed, the rest is left clear."""
    edge = np.zeros((box.height, box.width), bool)
    strips = (
        Box(box.top, box.left, quiet.top, box.right),
        Box(quiet.bottom, box.left, box.bottom, box.right),
        Box(quiet.top, box.left, quiet.bottom, quiet.left),
        Box(quiet.top, quiet.right, quiet.bottom, box.right),
    )
    for strip in strips:
        if not strip.is_empty:
            edge[strip.shift(-box.top, -box.left).slices] = outline_mask(instance, strip)
    return edge


def _outline_numpy(ids: np.ndarray) -> np.ndarray:
    """``outline_mask`` of a whole (small or non-uint32) array by numpy."""
    edge = np.zeros(ids.shape, bool)
    vertical = ids[1:] != ids[:-1]
    edge[1:] |= vertical
    edge[:-1] |= vertical
    horizontal = ids[:, 1:] != ids[:, :-1]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge &= ids != 0
    return edge
