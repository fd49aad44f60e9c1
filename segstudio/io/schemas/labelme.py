"""labelme annotation files (wkentaro/labelme ``LabelFile``): what segstudio reads from one.

``shapes`` of a string ``label``, ``points`` as ``[x, y]`` pairs of finite numbers, an optional
``shape_type`` and ``group_id`` (an integer, or a string as some converters write, or null) and,
for mask shapes, a base64 PNG in ``mask``; ``imagePath`` a non-empty string; ``imageHeight`` and
``imageWidth`` positive integers when given.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, StrictStr

from segstudio.io.schemas import Entry, Number

Point = Annotated[list[Number], Field(min_length=2, max_length=2)]
Side = Annotated[StrictInt, Field(gt=0)]


class Shape(Entry):
    label: StrictStr
    points: list[Point]
    shape_type: StrictStr | None = None
    group_id: StrictInt | StrictStr | None = None
    mask: StrictStr | None = None


class LabelmeFile(Entry):
    shapes: list[Shape]
    imagePath: Annotated[StrictStr, Field(min_length=1)] | None = None
    imageHeight: Side | None = None
    imageWidth: Side | None = None
