"""COCO panoptic and COCO instances files (cocodataset/panopticapi, cocodataset/cocoapi).

What segstudio reads from them, as the formats define it: integer ids (image ids may also be
strings, as Cityscapes-panoptic conversions write them), ``iscrowd`` and ``isthing`` 0/1 (or a
JSON bool), non-negative finite areas, polygons of finite numbers, RLE ``size`` two integers and
``counts`` a list of integers or a string. ``"supercategory": null`` is accepted, as pycocotools
accepts it (labelme2coco writes it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from segstudio.io.schemas import Entry, Number

Id = StrictInt
ImageId = StrictInt | StrictStr
Flag = Literal[0, 1] | StrictBool
Count = Annotated[StrictInt, Field(ge=0)]
Side = Annotated[StrictInt, Field(gt=0)]
Area = StrictInt | Annotated[StrictFloat, Field(ge=0, allow_inf_nan=False)]
Channel = Annotated[StrictInt, Field(ge=0, le=255)]
SEGMENT_ID_MAX = 256**3 - 1
"""Largest id an RGB panoptic PNG can carry."""


class Category(Entry):
    id: Id
    name: StrictStr = ""
    supercategory: StrictStr | None = None
    isthing: Flag = 0
    color: Annotated[list[Channel], Field(min_length=3, max_length=3)] | None = None


class Image(Entry):
    id: ImageId
    file_name: Annotated[StrictStr, Field(min_length=1)]
    height: Side | None = None
    width: Side | None = None


class SizedImage(Image):
    """An instances file's image: masks are decoded at its size, so it must be given."""

    height: Side
    width: Side


class PanopticSegment(Entry):
    id: Annotated[StrictInt, Field(ge=1, le=SEGMENT_ID_MAX)]
    category_id: Id
    iscrowd: Flag = 0
    area: Area = 0
    bbox: list[Number] = Field(default_factory=list)


class PanopticAnnotation(Entry):
    image_id: ImageId
    file_name: Annotated[StrictStr, Field(min_length=1)]
    segments_info: list[PanopticSegment]


class PanopticFile(Entry):
    images: list[Image] = Field(default_factory=list)
    annotations: list[PanopticAnnotation]
    categories: list[Category] = Field(default_factory=list)


class PanopticGroundTruth(PanopticFile):
    """The ground truth of ``eval panoptic``: categories must be there."""

    categories: list[Category]


class Rle(Entry):
    size: Annotated[list[Count], Field(min_length=2, max_length=2)]
    counts: list[Count] | StrictStr


Polygon = list[Number]


class InstanceAnnotation(Entry):
    id: Id
    image_id: ImageId
    category_id: Id
    segmentation: list[Polygon] | Rle | None = None
    iscrowd: Flag = 0
    area: Area = 0
    bbox: list[Number] = Field(default_factory=list)


class InstancesFile(Entry):
    images: list[SizedImage]
    annotations: list[InstanceAnnotation]
    categories: list[Category]
