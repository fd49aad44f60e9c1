"""labelme shapes -> pixel masks, drawn as labelme's own ``shape_to_mask`` draws them.

labelme (and its ``labelme2voc`` / ``labelme2coco`` converters) rasterises with Pillow's
``ImageDraw`` on the points as given: a polygon is ``polygon(outline=1, fill=1)``, a rectangle
``rectangle`` over its two corners (in any order), a circle the ``ellipse`` through its centre and
a point on it, a line or line strip a 10-pixel-wide ``line``, a point a disc of radius 5. Drawing
with the same library the same way is what makes an import equal labelme's output pixel for
pixel (Pillow's own fill rules, not a re-implementation of them). A mask shape's points are the
inclusive box ``[[x1, y1], [x2, y2]]`` (truncated to integers) its PNG covers.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from segstudio.io.png import PNG_SIGNATURE
from segstudio.io.safe_files import coordinates_problem, pixel_limit_problem, quiet_native_stderr

LINE_WIDTH = 10
"""labelme's ``shape_to_mask`` default for lines and line strips."""
POINT_RADIUS = 5
"""labelme's ``shape_to_mask`` default for points."""
POINT_COUNTS = {"rectangle": 2, "circle": 2, "mask": 2, "line": 2, "point": 1, "oriented_rectangle": 4}
"""Shape types with a fixed number of points (polygons need 3 or more, line strips 2 or more)."""
SHAPE_TYPES = ("polygon", "linestrip", *POINT_COUNTS)


def _points(shape: Mapping[str, Any], size: tuple[int, int]) -> list[tuple[float, float]]:
    points = np.asarray(shape.get("points"), dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        raise ValueError("points must be a list of [x, y] numbers")
    problem = coordinates_problem(points.ravel().tolist(), size)
    if problem:
        raise ValueError(problem)
    return [(float(x), float(y)) for x, y in points]


def _decode_png_mask(data: Any) -> np.ndarray:
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, TypeError, ValueError) as error:
        raise ValueError(f"mask is not base64 ({error})") from error
    if raw.startswith(PNG_SIGNATURE) and len(raw) >= 24:  # IHDR's size, checked before decoding
        width, height = struct.unpack(">II", raw[16:24])
        problem = pixel_limit_problem(height, width)
        if problem:
            raise ValueError(f"mask PNG of {problem}")
    with quiet_native_stderr():
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED) if raw else None
    if image is None:
        raise ValueError("mask is not a PNG image")
    return image.any(axis=2) if image.ndim == 3 else image != 0


def _mask_shape(
    shape: Mapping[str, Any], points: list[tuple[float, float]], size: tuple[int, int]
) -> np.ndarray:
    (x1, y1), (x2, y2) = np.asarray(points).astype(int)  # labelme truncates, as here
    crop = _decode_png_mask(shape.get("mask"))
    if crop.shape != (y2 - y1 + 1, x2 - x1 + 1):
        raise ValueError(
            f"mask PNG is {crop.shape[1]}x{crop.shape[0]} but its box [{x1}, {y1}]-[{x2}, {y2}] "
            f"is {x2 - x1 + 1}x{y2 - y1 + 1}"
        )
    if x1 < 0 or y1 < 0 or x2 >= size[1] or y2 >= size[0]:
        raise ValueError(f"mask box [{x1}, {y1}]-[{x2}, {y2}] leaves the {size[1]}x{size[0]} image")
    mask = np.zeros(size, bool)
    mask[y1 : y2 + 1, x1 : x2 + 1] = crop
    return mask


def _draw(kind: str, xy: list[tuple[float, float]], size: tuple[int, int]) -> np.ndarray:
    canvas = Image.new("L", (size[1], size[0]), 0)
    draw = ImageDraw.Draw(canvas)
    if kind == "circle":
        (cx, cy), (px, py) = xy
        d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
        draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
    elif kind == "rectangle":
        (x0, y0), (x1, y1) = xy
        draw.rectangle(((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))), outline=1, fill=1)
    elif kind in ("line", "linestrip"):
        draw.line(xy, fill=1, width=LINE_WIDTH)
    elif kind == "point":
        ((cx, cy),) = xy
        r = POINT_RADIUS
        draw.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
    else:  # polygon, oriented_rectangle
        draw.polygon(xy, outline=1, fill=1)
    return np.asarray(canvas, dtype=bool)


def shape_mask(shape: Mapping[str, Any], size: tuple[int, int]) -> np.ndarray:
    """The boolean ``size`` mask of one labelme shape; ValueError says what is wrong with it."""
    kind = shape.get("shape_type") or "polygon"
    if kind not in SHAPE_TYPES:
        raise ValueError(f"unknown shape_type {kind!r}")
    xy = _points(shape, size)
    wanted = POINT_COUNTS.get(kind)
    if wanted is not None and len(xy) != wanted:
        raise ValueError(f"a {kind} needs {wanted} points, found {len(xy)}")
    if kind == "polygon" and len(xy) < 3:
        raise ValueError(f"a polygon needs at least 3 points, found {len(xy)}")
    if kind == "linestrip" and len(xy) < 2:
        raise ValueError(f"a linestrip needs at least 2 points, found {len(xy)}")
    if kind == "mask":
        return _mask_shape(shape, xy, size)
    return _draw(kind, xy, size)
