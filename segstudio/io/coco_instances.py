"""COCO instance annotations (the detection format): one mask per object, as polygons or RLE.

Format (cocodataset/cocoapi): ``images`` (``id``, ``file_name``, ``width``, ``height``),
``annotations`` (``id``, ``image_id``, ``category_id``, ``segmentation``, ``area``, ``bbox``,
``iscrowd``) and ``categories`` (``id``, ``name``, ``supercategory``). A segmentation is a list
of polygons ``[x1, y1, x2, y2, ...]``, an uncompressed RLE (``counts`` a list, column-major) or a
compressed RLE (``counts`` a string); pycocotools decodes all three.

Reading paints each image's annotations into one label map, so overlaps must be settled: larger
masks are painted first and smaller ones on top (ties by annotation id), which keeps a person
visible in front of the crowd region around it. Things get instance ids 1, 2, ... in annotation
id order; annotations of stuff categories (panoptic files converted to detection format carry
them) get instance 0, so two of one stuff class in one image merge. Crowd flags are kept.

Writing gives each (category, instance) segment one annotation: compressed RLE by default, exact;
``polygons=True`` writes outlines along pixel edges for non-crowd segments, which decode to the
same pixels except that holes are filled (COCO polygons cannot carry holes; crowd keeps RLE);
their ``area`` is what the polygons decode to, holes included, so it matches the segmentation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from segstudio.core.labels import CATEGORY_DTYPE, INSTANCE_DTYPE, VOID, LabelMap, Provenance
from segstudio.core.palette import Palette
from segstudio.io.atomic import atomic_directory
from segstudio.io.datasets import (
    COCO_ANNOTATIONS_DIR,
    DatasetError,
    Decoded,
    LabelDataset,
    LabelStream,
    LazyRecord,
    categories_palette,
    coco_categories,
    is_int,
    list_field,
    loaded,
    read_json,
    segment_crop,
    write_coco_json,
    write_records,
)
from segstudio.io.safe_files import check_pixels, coordinates_problem

JSON_NAME = "instances.json"


# -- masks <-> COCO segmentations ------------------------------------------------------------------


def rle_string_counts(counts: str | bytes) -> list[int]:
    """The run lengths of a compressed RLE string (the cocoapi's ``rleFrString``, in Python).

    Used to check a string before pycocotools decodes it: pycocotools fills a mask whose runs
    fall short of width x height with whatever memory held.
    """
    data = counts.encode("ascii") if isinstance(counts, str) else counts
    runs: list[int] = []
    position = 0
    while position < len(data):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(data):
                raise ValueError("compressed RLE string ends inside a number")
            c = data[position] - 48
            if not 0 <= c < 64:
                raise ValueError(f"byte {data[position]!r} is not a compressed RLE character")
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            position += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def _check_runs(runs: Sequence[Any], height: int, width: int) -> None:
    if not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in runs):
        raise ValueError("RLE counts must be non-negative integers")
    if sum(runs) != height * width:
        raise ValueError(f"RLE counts add up to {sum(runs)} pixels, the image has {height}x{width}")


def _polygons(
    segmentation: list[Any], size: tuple[int, int], where: str, warnings: list[str]
) -> list[list[float]]:
    """Valid polygons of a segmentation; polygons under 3 points are dropped (they have no area).

    Coordinates must lie within one image size of the image (pycocotools overflows, or runs for
    minutes, on coordinates of 1e8 and more).
    """
    kept = []
    for n, polygon in enumerate(segmentation):
        if not isinstance(polygon, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in polygon
        ):
            raise ValueError(f"polygon #{n} must be a list of numbers")
        problem = coordinates_problem(polygon, size)
        if problem:
            raise ValueError(f"polygon #{n}: {problem}")
        if len(polygon) % 2:
            raise ValueError(f"polygon #{n} has an odd number of coordinates ({len(polygon)})")
        if len(polygon) < 6:
            warnings.append(f"{where}: polygon #{n} has fewer than 3 points; dropped")
            continue
        kept.append([float(v) for v in polygon])
    return kept


def decode_segmentation(
    segmentation: Any, height: int, width: int, where: str, warnings: list[str]
) -> np.ndarray | None:
    """The boolean mask of a COCO segmentation (polygons, RLE or compressed RLE); None when empty.

    Raises ValueError saying what is wrong with it.
    """
    if isinstance(segmentation, list):
        polygons = _polygons(segmentation, (height, width), where, warnings)
        if not polygons:
            return None
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, Mapping) and "counts" in segmentation and "size" in segmentation:
        if list(segmentation["size"]) != [height, width]:
            raise ValueError(f"RLE size {segmentation['size']} differs from the image's [{height}, {width}]")
        counts = segmentation["counts"]
        if isinstance(counts, list):
            _check_runs(counts, height, width)
            rle = mask_utils.frPyObjects(dict(segmentation), height, width)
        elif isinstance(counts, str):
            _check_runs(rle_string_counts(counts), height, width)
            rle = {"size": [height, width], "counts": counts.encode("ascii")}
        else:
            raise ValueError(f"RLE counts must be a list or a string, got {type(counts).__name__}")
    else:
        raise ValueError("segmentation must be a list of polygons or an RLE object with 'size' and 'counts'")
    return mask_utils.decode(rle).astype(bool)


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Compressed RLE of a full-image boolean mask, ``counts`` as a str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))  # cocoapi runs are column-major
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def mask_to_polygons(mask: np.ndarray, left: int = 0, top: int = 0) -> list[list[int]]:
    """Outer outlines of a boolean mask along pixel edges, offset by (``left``, ``top``).

    Traced at twice the resolution so that each boundary sub-pixel u maps onto the pixel edge
    ceil(u / 2): pycocotools then rasterises the polygons to exactly the mask with holes filled.
    """
    doubled = np.repeat(np.repeat(mask.astype(np.uint8), 2, axis=0), 2, axis=1)
    contours, _ = cv2.findContours(doubled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polygons = []
    for contour in contours:
        corners = (contour.reshape(-1, 2) + 1) // 2
        corners = corners[np.any(corners != np.roll(corners, 1, axis=0), axis=1)]
        before = corners - np.roll(corners, 1, axis=0)
        after = np.roll(corners, -1, axis=0) - corners
        corners = corners[before[:, 0] * after[:, 1] != before[:, 1] * after[:, 0]]  # keep turns only
        if len(corners) >= 3:
            polygons.append((corners + (left, top)).ravel().tolist())
    return polygons


def polygons_area(polygons: list[list[int]], size: tuple[int, int]) -> int:
    """Pixels that COCO polygons cover when pycocotools decodes them (so ``area`` matches them)."""
    if not polygons:
        return 0
    return int(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(polygons, *size))))


# -- read ----------------------------------------------------------------------------------------


def _image_size(image: Any, n: int, path: Path) -> tuple[int, int]:
    if not isinstance(image, Mapping) or "id" not in image:
        raise DatasetError(f"{path}: image #{n} needs an 'id'")
    height, width = image.get("height"), image.get("width")
    if not (is_int(height) and is_int(width) and height > 0 and width > 0):
        raise DatasetError(f"{path}: image {image['id']!r} needs positive integer 'height' and 'width'")
    check_pixels(height, width, f"{path}: image {image['id']!r}", DatasetError)
    return height, width


def _paint(
    annotations: list[Mapping[str, Any]],
    size: tuple[int, int],
    thing_ids: set[int],
    where: str,
    warnings: list[str],
) -> LabelMap:
    """One image's label map from its annotations: larger first, smaller on top."""
    category = np.full(size, VOID, CATEGORY_DTYPE)
    instance = np.zeros(size, INSTANCE_DTYPE)
    crowd: set[tuple[int, int]] = set()
    painted = []
    next_instance = 1
    for annotation in sorted(annotations, key=lambda a: a["id"]):
        at = f"{where}: annotation {annotation['id']}"
        if not annotation.get("segmentation"):
            warnings.append(f"{at}: no segmentation; skipped")
            continue
        try:
            mask = decode_segmentation(annotation["segmentation"], *size, at, warnings)
        except ValueError as error:
            raise DatasetError(f"{at}: {error}") from error
        if mask is None or not mask.any():
            warnings.append(f"{at}: empty mask; skipped")
            continue
        category_id = annotation["category_id"]
        instance_id = 0
        if category_id in thing_ids:
            instance_id, next_instance = next_instance, next_instance + 1
        painted.append((-int(mask.sum()), annotation["id"], mask, category_id, instance_id))
        if annotation.get("iscrowd"):
            crowd.add((category_id, instance_id))
    for _, _, mask, category_id, instance_id in sorted(painted, key=lambda p: p[:2]):
        category[mask] = category_id
        instance[mask] = instance_id
    labels = LabelMap.from_arrays(category, instance, Provenance.HUMAN, crowd)
    labels.prune_crowd()
    present = {(s.category, s.instance) for s in labels.segments()}
    for _, annotation_id, _, category_id, instance_id in painted:
        if (category_id, instance_id) not in present:
            warnings.append(f"{where}: annotation {annotation_id} is hidden by smaller ones on top")
    return labels


def read_coco_instances(json_path: str | Path) -> LabelDataset:
    """Read a COCO instances file into one label map per ``images`` entry (entries kept as read).

    Errors name the file and the image or annotation; skipped annotations (no mask) and masks
    hidden entirely by others are reported in ``warnings``.
    """
    return loaded(scan_coco_instances(json_path))


def scan_coco_instances(json_path: str | Path) -> LabelStream:
    """The records of :func:`read_coco_instances`, each image's masks painted only when loaded."""
    path = Path(json_path)
    data = read_json(path)
    # pydantic is imported when a file is checked, not at start-up (0.2 s the app need not pay)
    from segstudio.io.schemas import validate
    from segstudio.io.schemas.coco import InstancesFile

    validate(InstancesFile, data, path, DatasetError)
    palette = categories_palette(coco_categories(data, path), path.stem, path, things_by_default=True)
    sizes: dict[Any, tuple[int, int]] = {}
    images = list_field(data, "images", path)
    for n, image in enumerate(images):
        size = _image_size(image, n, path)
        if image["id"] in sizes:
            raise DatasetError(f"{path}: image id {image['id']!r} is listed twice")
        sizes[image["id"]] = size
    by_image: dict[Any, list[Mapping[str, Any]]] = {image_id: [] for image_id in sizes}
    seen: set[int] = set()
    for n, annotation in enumerate(list_field(data, "annotations", path)):
        if not isinstance(annotation, Mapping) or not is_int(annotation.get("id")):
            raise DatasetError(f"{path}: annotation #{n} needs an integer 'id'")
        where = f"{path}: annotation {annotation['id']}"
        if annotation["id"] in seen:
            raise DatasetError(f"{where}: id used twice")
        seen.add(annotation["id"])
        if annotation.get("image_id") not in by_image:
            raise DatasetError(f"{where}: image_id {annotation.get('image_id')!r} is not in 'images'")
        if annotation.get("category_id") not in palette:
            raise DatasetError(
                f"{where}: category_id {annotation.get('category_id')!r} is not in 'categories'"
            )
        by_image[annotation["image_id"]].append(annotation)

    records = [
        LazyRecord(
            dict(image),
            partial(
                _image_labels,
                by_image[image["id"]],
                sizes[image["id"]],
                palette.thing_ids,
                f"{path}: image {image['id']!r}",
            ),
        )
        for image in images
    ]
    return LabelStream(records, palette, [])


def _image_labels(
    annotations: list[Mapping[str, Any]], size: tuple[int, int], thing_ids: set[int], where: str
) -> Decoded:
    warnings: list[str] = []
    return Decoded(_paint(annotations, size, thing_ids, where, warnings), warnings)


# -- write ---------------------------------------------------------------------------------------


def _annotations(labels: LabelMap, image_id: Any, first_id: int, polygons: bool) -> list[dict[str, Any]]:
    """One annotation per segment, in (instance, category) order so a re-read keeps instance ids."""
    annotations = []
    for n, segment in enumerate(sorted(labels.segments(), key=lambda s: (s.instance, s.category))):
        box = segment.box
        crop = segment_crop(labels, segment)
        area = segment.area
        if polygons and not segment.iscrowd:
            segmentation: Any = mask_to_polygons(crop, box.left, box.top)
            area = polygons_area(segmentation, labels.shape)  # holes filled: what readers decode
        else:
            mask = np.zeros(labels.shape, bool)
            mask[box.slices] = crop
            segmentation = mask_to_rle(mask)
        annotations.append(
            {
                "id": first_id + n,
                "image_id": image_id,
                "category_id": segment.category,
                "segmentation": segmentation,
                "area": area,
                "bbox": [int(v) for v in segment.bbox],
                "iscrowd": int(segment.iscrowd),
            }
        )
    return annotations


class InstancesWriter:
    """COCO instances as a :class:`~segstudio.io.datasets.DatasetWriter`: annotations per image
    (numbered when the JSON is written, so ids run from 1 in image order whoever wrote them)."""

    def __init__(
        self,
        palette: Palette,
        polygons: bool = False,
        info: Mapping[str, Any] | None = None,
        licenses: Sequence[Any] = (),
    ) -> None:
        self.palette = palette
        self.polygons = polygons
        self.info = info
        self.licenses = licenses

    def name_of(self, file_name: str) -> None:
        return None

    def write_image(
        self, folder: Path, entry: dict[str, Any], labels: LabelMap, name: Any
    ) -> list[dict[str, Any]]:
        return _annotations(labels, entry["id"], 1, self.polygons)

    def finish(self, folder: Path, entries: list[dict[str, Any]], results: list[Any]) -> None:
        annotations: list[dict[str, Any]] = []
        for image_annotations in results:
            for annotation in image_annotations:
                annotation["id"] = len(annotations) + 1
                annotations.append(annotation)
        json_path = folder / COCO_ANNOTATIONS_DIR / JSON_NAME
        write_coco_json(json_path, entries, annotations, self.palette, self.info, self.licenses)


def write_coco_instances(
    out_dir: str | Path,
    records: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    *,
    polygons: bool = False,
    info: Mapping[str, Any] | None = None,
    licenses: Sequence[Any] = (),
    overwrite: bool = False,
) -> Path:
    """Export records as ``out_dir/annotations/instances.json``; the folder appears complete or not at all.

    ``area`` is the pixel count, ``bbox`` the tight integer ``[x, y, w, h]``, annotation ids run
    from 1. Image entries are kept as given (``width``/``height`` added when missing). Returns
    the JSON's path.
    """
    out_dir = Path(out_dir)
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        write_records(staging, records, InstancesWriter(palette, polygons, info, licenses))
    return out_dir / COCO_ANNOTATIONS_DIR / JSON_NAME
