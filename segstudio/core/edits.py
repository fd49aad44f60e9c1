"""Label edits: brush, eraser, polygon, flood fill, set-from-mask and GrabCut.

Every edit builds a boolean mask over the small box it may touch and hands it to
:func:`apply_mask`, the one place where protection, provenance and undo recording live.
Every edit returns the tight :class:`Box` of the pixels it actually changed (empty when none),
so repaint, IoU, autosave and undo work on that box only.

Coordinates. Points are ``(x, y)`` in image coordinates where pixel ``(row, col)`` covers
``[col, col + 1) x [row, row + 1)`` (the Qt scene convention). A point names the pixel it falls
in, ``(floor(y), floor(x))``; brushes and polygons work on those pixels' centres, so results do
not depend on where inside a pixel the mouse was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum
from functools import reduce
from typing import Literal, Protocol

import cv2
import numpy as np

from segstudio.core.box import Box
from segstudio.core.labels import INSTANCE_DTYPE, VOID, LabelMap, Provenance

Point = tuple[float, float]
"""An ``(x, y)`` position in image coordinates (see the module docstring)."""

Label = tuple[int, int]
"""A label value: ``(category, instance)``."""

ERASED: Label = (VOID, 0)
"""What the eraser writes: no class, no instance."""

_MAX_INSTANCE = int(np.iinfo(INSTANCE_DTYPE).max)


class Protect(Enum):
    """Which existing pixels an edit must leave alone."""

    NONE = "none"
    """Write everywhere the edit's mask says."""
    HUMAN = "human"
    """Never overwrite pixels a human wrote last (used when applying model output)."""
    LABELLED = "labelled"
    """Only write VOID pixels: the GUI's "only paint unlabelled pixels" lock."""


class Recorder(Protocol):
    """Receives every write before it happens, so that it can be undone (see ``core.history``)."""

    def record(self, labels: LabelMap, box: Box, mask: np.ndarray) -> None:
        """Called just before the pixels ``mask`` (boolean, shaped like ``box``) of ``labels`` change."""


def apply_mask(
    labels: LabelMap,
    box: Box,
    mask: np.ndarray,
    value: Label,
    provenance: Provenance = Provenance.HUMAN,
    protect: Protect = Protect.NONE,
    recorder: Recorder | None = None,
) -> Box:
    """Write ``value`` with ``provenance`` where ``mask`` is set; the path every edit takes.

    ``mask`` is truthy where to write and shaped like ``box``, which may reach outside the map
    (it is clipped). Only pixels that ``protect`` allows and that would actually change are
    recorded and written; the tight box around them is returned.
    """
    category, instance = _check_label(value)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (box.height, box.width):
        raise ValueError(f"mask of shape {mask.shape} does not match a {box.height}x{box.width} box")
    clipped = box.clip(labels.shape)
    if clipped.is_empty:
        return Box.empty()
    mask = mask[_relative(clipped, box).slices]
    return _write(labels, clipped, mask, category, instance, Provenance(provenance), protect, recorder)


def copy_prediction(
    labels: LabelMap,
    prediction: LabelMap,
    box: Box,
    *,
    category: int | None = None,
    instance_offset: int = 0,
    protect: Protect = Protect.HUMAN,
    recorder: Recorder | None = None,
) -> Box:
    """Write the prediction's labelled pixels in ``box`` (only those of ``category``, when given)
    into ``labels`` as MODEL, its instance ids moved up by ``instance_offset`` (so they never merge
    with existing objects); returns the changed box. Works on ``box`` only, so accepting a whole
    prediction can go band by band."""
    if prediction.shape != labels.shape:
        raise ValueError(f"prediction is {prediction.shape}, labels are {labels.shape}")
    box = box.clip(labels.shape)
    if box.is_empty:
        return Box.empty()
    window = box.slices
    predicted, instances = prediction.category[window], prediction.instance[window]
    mask = predicted != VOID if category is None else predicted == category
    if instance_offset:
        instances = np.where(instances > 0, instances + np.uint32(instance_offset), instances)
    return _write(labels, box, mask, predicted, instances, Provenance.MODEL, protect, recorder)


def _write(
    labels: LabelMap,
    box: Box,
    mask: np.ndarray,
    category: int | np.ndarray,
    instance: int | np.ndarray,
    provenance: Provenance,
    protect: Protect,
    recorder: Recorder | None,
) -> Box:
    """Write where ``mask`` (over ``box``, inside the map) is set: ``category`` and ``instance``
    are values or arrays shaped like the box. Records and writes only pixels that change."""
    window = box.slices
    cat, inst, prov = labels.category[window], labels.instance[window], labels.provenance[window]
    change = mask & ((cat != category) | (inst != instance) | (prov != provenance))
    if protect is Protect.HUMAN:
        change &= prov != Provenance.HUMAN
    elif protect is Protect.LABELLED:
        change &= cat == VOID
    tight = Box.of_mask(change)
    if tight.is_empty:
        return Box.empty()
    change = change[tight.slices]
    changed = tight.shift(box.top, box.left)
    if recorder is not None:
        recorder.record(labels, changed, change)
    window = changed.slices
    labels.category[window][change] = _values(category, tight, change)
    labels.instance[window][change] = _values(instance, tight, change)
    labels.provenance[window][change] = provenance
    return changed


def _values(values: int | np.ndarray, tight: Box, change: np.ndarray) -> int | np.ndarray:
    """A value as is; an array of a box's values at the ``change`` pixels of its ``tight`` sub-box."""
    return values if np.ndim(values) == 0 else np.asarray(values)[tight.slices][change]


def brush_stroke(
    labels: LabelMap,
    points: Sequence[Point],
    radius: float,
    value: Label,
    *,
    provenance: Provenance = Provenance.HUMAN,
    protect: Protect = Protect.NONE,
    recorder: Recorder | None = None,
) -> Box:
    """Paint a round brush along successive mouse samples, leaving no gaps between them.

    The brush covers every pixel whose centre lies within ``max(radius, 0.5)`` of the polyline
    through the centres of the sampled pixels (a capsule per pair of samples). So a radius below
    1 paints a single pixel per dab and an 8-connected one-pixel line between samples; radius
    ``r >= 1`` paints a disc ``2 * floor(r) + 1`` pixels across. Only the stroke's box is touched.
    """
    if not points:
        return Box.empty()
    mask, box = _capsule_mask(labels.shape, [_row_col(p) for p in points], radius)
    if box.is_empty:
        return Box.empty()
    return apply_mask(labels, box, mask, value, provenance, protect, recorder)


def brush_footprint(shape: tuple[int, int], points: Sequence[Point], radius: float) -> tuple[np.ndarray, Box]:
    """The pixels a :func:`brush_stroke` along ``points`` would cover, over their clipped box.

    For tools that act on what the brush touches rather than painting it (superpixels).
    """
    return _capsule_mask(shape, [_row_col(p) for p in points], radius)


def brush_dab(
    labels: LabelMap,
    center: Point,
    radius: float,
    value: Label,
    *,
    provenance: Provenance = Provenance.HUMAN,
    protect: Protect = Protect.NONE,
    recorder: Recorder | None = None,
) -> Box:
    """One press of the brush: a disc around the pixel under ``center`` (see :func:`brush_stroke`)."""
    return brush_stroke(
        labels, [center], radius, value, provenance=provenance, protect=protect, recorder=recorder
    )


def erase_stroke(
    labels: LabelMap,
    points: Sequence[Point],
    radius: float,
    *,
    protect: Protect = Protect.NONE,
    recorder: Recorder | None = None,
) -> Box:
    """The eraser: a brush writing VOID, instance 0, as HUMAN (a person decided "no class" here)."""
    return brush_stroke(
        labels, points, radius, ERASED, provenance=Provenance.HUMAN, protect=protect, recorder=recorder
    )


def fill_polygon(
    labels: LabelMap,
    vertices: Sequence[Point],
    value: Label,
    *,
    provenance: Provenance = Provenance.HUMAN,
    protect: Protect = Protect.NONE,
    recorder: Recorder | None = None,
) -> Box:
    """Fill a polygon whose corners are the pixels under ``vertices``.

    A pixel is filled when its centre lies inside (even-odd rule) or on the polygon through the
    centres of the corner pixels, so corner pixels and pixels centred on an edge are included.
    The test is exact integer arithmetic over the polygon's box only. (``cv2.fillPoly`` is not
    used: it restarts its edge lines where they leave the canvas, so pixels along the image
    border would depend on where the crop was cut.)
    """
    if len(vertices) < 3:
        raise ValueError(f"a polygon needs at least 3 vertices, got {len(vertices)}")
    corners = np.array([_row_col(v) for v in vertices], np.int64)  # (row, col)
    top, left = corners.min(axis=0)
    bottom, right = corners.max(axis=0) + 1
    box = Box(int(top), int(left), int(bottom), int(right)).clip(labels.shape)
    if box.is_empty:
        return Box.empty()
    mask = _polygon_interior(corners, box)
    for (y0, x0), (y1, x1) in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        _mark_lattice_points(mask, box, (int(y0), int(x0)), (int(y1), int(x1)))
    return apply_mask(labels, box, mask, value, provenance, protect, recorder)


def flood_fill(
    labels: LabelMap,
    seed: Point,
    value: Label,
    *,
    connectivity: Literal[4, 8] = 4,
    provenance: Provenance = Provenance.HUMAN,
    protect: Protect = Protect.NONE,
    recorder: Recorder | None = None,
) -> Box:
    """Fill the connected region of pixels sharing the seed pixel's (category, instance).

    Provenance does not split regions. The same-label mask is built over the whole map (a region
    can reach anywhere), then ``cv2.floodFill`` finds the region and its box.
    """
    box, inside = fill_region(labels, seed, connectivity)
    if box.is_empty:
        return Box.empty()
    return apply_mask(labels, box, inside, value, provenance, protect, recorder)


def fill_region(labels: LabelMap, seed: Point, connectivity: Literal[4, 8] = 4) -> tuple[Box, np.ndarray]:
    """The connected region of pixels sharing the seed pixel's (category, instance): its box and a
    boolean mask over that box (empty box off the map). Reads the whole map, writes nothing, so it
    may run off the GUI thread on a snapshot."""
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    row, col = _row_col(seed)
    height, width = labels.shape
    if not (0 <= row < height and 0 <= col < width):
        return Box.empty(), np.zeros((0, 0), bool)
    same = (labels.category == labels.category[row, col]) & (labels.instance == labels.instance[row, col])
    region = np.zeros((height + 2, width + 2), np.uint8)
    flags = connectivity | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    _, _, _, (x, y, w, h) = cv2.floodFill(same.view(np.uint8), region, (col, row), 1, 0, 0, flags)
    box = Box.from_xywh(x, y, w, h)
    return box, region[1:-1, 1:-1][box.slices].view(bool)


def erase_object(labels: LabelMap, point: Point, *, recorder: Recorder | None = None) -> Box:
    """Unlabel the object under ``point``: every pixel of its instance (the parts of a thing
    instance need not touch), or, without an instance (stuff, or a thing painted as a class only),
    the connected region of its class. Written as HUMAN VOID, as the eraser writes: a person
    decided "no class" here. Nothing happens on an unlabelled pixel."""
    row, col = _row_col(point)
    height, width = labels.shape
    if not (0 <= row < height and 0 <= col < width) or labels.category[row, col] == VOID:
        return Box.empty()
    category, instance = int(labels.category[row, col]), int(labels.instance[row, col])
    if not instance:
        return flood_fill(labels, point, (VOID, 0), recorder=recorder)
    mask = (labels.instance == instance) & (labels.category == category)
    box = Box.of_mask(mask)
    return apply_mask(labels, box, mask[box.slices], (VOID, 0), Provenance.HUMAN, Protect.NONE, recorder)


def set_from_mask(
    labels: LabelMap,
    mask: np.ndarray,
    value: Label,
    *,
    box: Box | None = None,
    provenance: Provenance = Provenance.HUMAN,
    protect: Protect = Protect.NONE,
    recorder: Recorder | None = None,
) -> Box:
    """Write ``value`` where a boolean mask is set: the map's size, or shaped like ``box`` (its offset)."""
    if box is None:
        box = Box.full(labels.shape)
    return apply_mask(labels, box, mask, value, provenance, protect, recorder)


def grabcut_box(
    image_rgb: np.ndarray,
    labels: LabelMap,
    rect: Box,
    value: Label,
    iterations: int = 5,
    *,
    margin: int | None = None,
    provenance: Provenance = Provenance.HUMAN,
    protect: Protect = Protect.NONE,
    recorder: Recorder | None = None,
) -> Box:
    """Segment the object inside ``rect`` with GrabCut and write its foreground (see
    :func:`grabcut_foreground`; the GUI runs that half on its worker thread)."""
    crop, foreground = grabcut_foreground(image_rgb, labels.shape, rect, iterations, margin=margin)
    if crop.is_empty:
        return Box.empty()
    return apply_mask(labels, crop, foreground, value, provenance, protect, recorder)


def grabcut_foreground(
    image_rgb: np.ndarray,
    shape: tuple[int, int],
    rect: Box,
    iterations: int = 5,
    *,
    margin: int | None = None,
) -> tuple[Box, np.ndarray]:
    """GrabCut's foreground inside ``rect``: the crop it ran on and a boolean mask of that crop.

    GrabCut runs on a crop of ``rect`` grown by ``margin`` pixels (default: a quarter of the
    rect's longer side, at least 16), whose part outside ``rect`` teaches the background colours;
    the whole image is never processed. Reads only the image, so it may run off the GUI thread.
    """
    image = np.asarray(image_rgb)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.dtype != np.uint8 or image.shape != (*shape, 3):
        raise ValueError(
            f"GrabCut needs a uint8 RGB image of shape {(*shape, 3)}; got {image.dtype} {image.shape}"
        )
    rect = rect.clip(shape)
    if rect.is_empty:
        return Box.empty(), np.zeros((0, 0), bool)
    if margin is None:
        margin = max(16, max(rect.height, rect.width) // 4)
    crop = rect.pad(margin).clip(shape)
    if crop == rect:
        raise ValueError("GrabCut needs some background around the rect; it covers the whole image")
    state = np.zeros((crop.height, crop.width), np.uint8)
    inner = _relative(rect, crop)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(
        np.ascontiguousarray(image[crop.slices]),
        state,
        inner.xywh(),
        *models,
        iterations,
        cv2.GC_INIT_WITH_RECT,
    )
    return crop, (state == cv2.GC_FGD) | (state == cv2.GC_PR_FGD)


def _relative(inner: Box, outer: Box) -> Box:
    """``inner`` in the coordinates of ``outer``'s top-left corner."""
    return inner.shift(-outer.top, -outer.left)


def pixel_of(point: Point) -> tuple[int, int]:
    """The ``(x, y)`` of the pixel an ``(x, y)`` point falls in (the order of :data:`Point`)."""
    x, y = point
    return math.floor(x), math.floor(y)


def _row_col(point: Point) -> tuple[int, int]:
    """The pixel of ``point`` as array indices ``(row, col)``, the order numpy and OpenCV masks use."""
    x, y = pixel_of(point)
    return y, x


def _check_label(value: Label) -> tuple[int, int]:
    category, instance = (int(v) for v in value)
    if not 0 <= category <= VOID:
        raise ValueError(f"category {category} is outside 0..{VOID}")
    if not 0 <= instance <= _MAX_INSTANCE:
        raise ValueError(f"instance {instance} does not fit uint32")
    if category == VOID and instance != 0:
        raise ValueError("VOID pixels carry no instance")
    return category, instance


def _polygon_interior(corners: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of ``box`` whose centre is inside the polygon by the even-odd rule (scanline parity).

    Each row through pixel centres crosses an edge when it lies in the edge's half-open row span;
    a crossing flips the parity of every pixel from the first column at or right of it.
    """
    y0, x0 = corners[:, 0], corners[:, 1]
    y1, x1 = np.roll(y0, -1), np.roll(x0, -1)
    rows = np.arange(box.top, box.bottom, dtype=np.int64)[:, None]
    crossing = (np.minimum(y0, y1) <= rows) & (rows < np.maximum(y0, y1))
    step = np.where(y1 >= y0, 1, -1)
    rise = np.where(y1 == y0, 1, (y1 - y0) * step)  # > 0; horizontal edges never cross
    run = (rows - y0) * (x1 - x0) * step
    first_col = x0 - (-run // rise)  # x0 + ceil(run / rise), exactly
    hit_rows, hit_edges = np.nonzero(crossing)
    cols = np.clip(first_col[hit_rows, hit_edges] - box.left, 0, box.width)
    flips = np.zeros((box.height, box.width + 1), np.uint8)
    np.add.at(flips, (hit_rows, cols), 1)
    return (np.bitwise_xor.accumulate(flips & 1, axis=1)[:, : box.width]).astype(bool)


def _mark_lattice_points(mask: np.ndarray, box: Box, a: tuple[int, int], b: tuple[int, int]) -> None:
    """Set the pixels of ``mask`` (over ``box``) whose centres lie exactly on the segment ``a``-``b``."""
    dy, dx = b[0] - a[0], b[1] - a[1]
    steps = max(math.gcd(dy, dx), 1)
    k = np.arange(steps + 1)
    rows, cols = a[0] + k * (dy // steps) - box.top, a[1] + k * (dx // steps) - box.left
    keep = (rows >= 0) & (rows < box.height) & (cols >= 0) & (cols < box.width)
    mask[rows[keep], cols[keep]] = True


def _capsule_mask(
    shape: tuple[int, int], centres: list[tuple[int, int]], radius: float
) -> tuple[np.ndarray, Box]:
    """Pixels within ``max(radius, 0.5)`` of the polyline through ``centres``, over its clipped box.

    Distances are decided in exact integer arithmetic (squared, against ``r**2``) so that the
    result does not depend on floating-point rounding at the brush's rim.
    """
    r = max(float(radius), 0.5)
    r2 = r * r
    reach = math.floor(r)
    segments = list(zip(centres, centres[1:], strict=False)) or [(centres[0], centres[0])]
    boxes = [
        Box(
            min(a[0], b[0]) - reach,
            min(a[1], b[1]) - reach,
            max(a[0], b[0]) + reach + 1,
            max(a[1], b[1]) + reach + 1,
        ).clip(shape)
        for a, b in segments
    ]
    union = reduce(Box.union, boxes, Box.empty())
    mask = np.zeros((union.height, union.width), bool)
    for (a, b), box in zip(segments, boxes, strict=True):
        if box.is_empty:
            continue
        dy = np.arange(box.top - a[0], box.bottom - a[0], dtype=np.int64)[:, None]
        dx = np.arange(box.left - a[1], box.right - a[1], dtype=np.int64)[None, :]
        near_a = dx * dx + dy * dy
        if a == b:
            inside = near_a <= r2
        else:
            vy, vx = b[0] - a[0], b[1] - a[1]
            length2 = vy * vy + vx * vx
            along = dx * vx + dy * vy
            cross = dx * vy - dy * vx
            near_b = (dx - vx) ** 2 + (dy - vy) ** 2
            inside = np.where(
                along <= 0,
                near_a <= r2,
                np.where(along >= length2, near_b <= r2, cross * cross <= r2 * length2),
            )
        mask[_relative(box, union).slices] |= inside
    return mask, union
