"""``eval panoptic``'s entry checks without importing pydantic for entries that plainly fit.

``io.schemas.coco`` is the rule (``Category``, ``PanopticAnnotation``); importing pydantic and
building those models costs ~0.2 CPU-s, about a sixth of scoring 500 image pairs, and each entry
~0.04 ms more. :func:`plainly_fits` accepts only entries whose every field has exactly the type
and range the model asks for (a narrower test than the model's: a test holds that it never
accepts what the model refuses); anything else, and every error, goes through the model, so
what is refused and the message naming the file and field are the model's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEGMENT_ID_MAX = 256**3 - 1
"""As ``schemas.coco.SEGMENT_ID_MAX`` (a test holds them equal; importing it would import pydantic)."""


def _whole(value: Any) -> bool:
    return type(value) is int


def _flag(value: Any) -> bool:
    return value is True or value is False or (type(value) is int and value in (0, 1))


def _number(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _optional(entry: dict[str, Any], key: str, test: Callable[[Any], bool]) -> bool:
    return key not in entry or test(entry[key])


def _colour(value: Any) -> bool:
    return value is None or (
        type(value) is list and len(value) == 3 and all(type(c) is int and 0 <= c <= 255 for c in value)
    )


def category_fits(entry: Any) -> bool:
    """Whether ``entry`` is plainly a valid ``categories`` entry."""
    return (
        type(entry) is dict
        and _whole(entry.get("id"))
        and _optional(entry, "name", lambda v: type(v) is str)
        and _optional(entry, "supercategory", lambda v: v is None or type(v) is str)
        and _optional(entry, "isthing", _flag)
        and _optional(entry, "color", _colour)
    )


def _numbers(values: list[Any]) -> bool:
    """Whether every value is a whole or finite number (one look at their types for all-int lists)."""
    kinds = set(map(type, values))
    return kinds <= {int} or (kinds <= {int, float} and all(map(_number, values)))


def _segment_fits(segment: Any) -> bool:
    # ``.get`` with a default that passes: the same as "absent, or present and passing"
    if type(segment) is not dict:
        return False
    segment_id, area, bbox = segment.get("id"), segment.get("area", 0), segment.get("bbox", [])
    return (
        type(segment_id) is int
        and 1 <= segment_id <= SEGMENT_ID_MAX
        and type(segment.get("category_id")) is int
        and _flag(segment.get("iscrowd", 0))
        and (type(area) is int or (_number(area) and area >= 0))
        and type(bbox) is list
        and _numbers(bbox)
    )


def annotation_fits(entry: Any) -> bool:
    """Whether ``entry`` is plainly a valid panoptic ``annotations`` entry."""
    if type(entry) is not dict:
        return False
    image_id, file_name, segments = entry.get("image_id"), entry.get("file_name"), entry.get("segments_info")
    return (
        (type(image_id) is int or type(image_id) is str)
        and type(file_name) is str
        and file_name != ""
        and type(segments) is list
        and all(map(_segment_fits, segments))
    )


def check_category(entry: Any, path: Path, error_type: type[ValueError], n: int) -> None:
    """``categories[n]`` of ``path`` checked against ``schemas.coco.Category``."""
    if not category_fits(entry):
        from segstudio.io.schemas import validate_entry
        from segstudio.io.schemas.coco import Category

        validate_entry(Category, entry, path, error_type, ("categories", n))


def check_annotation(entry: Any, path: Path, error_type: type[ValueError], n: int) -> None:
    """``annotations[n]`` of ``path`` checked against ``schemas.coco.PanopticAnnotation``."""
    if not annotation_fits(entry):
        from segstudio.io.schemas import validate_entry
        from segstudio.io.schemas.coco import PanopticAnnotation

        validate_entry(PanopticAnnotation, entry, path, error_type, ("annotations", n))
