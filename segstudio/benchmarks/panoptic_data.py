"""Generated COCO panoptic datasets for ``segstudio bench io`` and the streaming tests.

Each image is a scene like COCO's: a few stuff regions (a distorted Voronoi partition of stuff
classes, with void bands along some borders) under thing blobs (filled ellipses of thing classes,
a few of them crowd). Segment ids follow COCO's convention (stuff: its category colour; things:
jittered colours of theirs). A prediction of a scene is the same scene disturbed: blobs moved,
resized, dropped, relabelled or added, stuff borders shifted. Everything is seeded per image, so
a dataset is the same bytes on every run. Written with plain numpy + OpenCV, independently of
the code it measures (areas and boxes counted here, not by ``core.panoptic``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segstudio.core.palette import Palette, builtin_palette
from segstudio.io.parallel import OrderedPool

WIDTH, HEIGHT = 640, 480
PALETTE_NAME = "coco-panoptic"


@dataclass(frozen=True)
class Blob:
    """One thing: a filled ellipse."""

    category: int
    center: tuple[int, int]
    axes: tuple[int, int]
    angle: int
    crowd: bool


@dataclass(frozen=True)
class Scene:
    """What one image shows: stuff seeds (x, y, category), void border width and thing blobs."""

    seeds: np.ndarray
    void_band: float
    blobs: tuple[Blob, ...]


def _palette_split(palette: Palette) -> tuple[np.ndarray, np.ndarray]:
    things = sorted(palette.thing_ids)
    stuff = sorted(set(palette.ids) - set(things))
    return np.asarray(stuff), np.asarray(things)


def make_scene(rng: np.random.Generator, palette: Palette, width: int, height: int) -> Scene:
    """A random scene: 3-7 stuff regions and 3-14 things, 5% of them crowd."""
    stuff, things = _palette_split(palette)
    n_seeds = int(rng.integers(3, 8))
    seeds = np.stack(
        [rng.uniform(0, width, n_seeds), rng.uniform(0, height, n_seeds), rng.choice(stuff, n_seeds)], axis=1
    )
    blobs = []
    scale = min(width, height)
    for _ in range(int(rng.integers(3, 15))):
        axes = (
            int(rng.integers(scale // 40 + 2, scale // 6 + 3)),
            int(rng.integers(scale // 40 + 2, scale // 6 + 3)),
        )
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        blobs.append(
            Blob(int(rng.choice(things)), center, axes, int(rng.integers(0, 180)), bool(rng.random() < 0.05))
        )
    return Scene(seeds, float(rng.uniform(0.0, 6.0)), tuple(blobs))


def disturb(scene: Scene, rng: np.random.Generator, palette: Palette, width: int, height: int) -> Scene:
    """A prediction of ``scene``: most things found a little off, some missed, relabelled or invented."""
    _, things = _palette_split(palette)
    seeds = scene.seeds.copy()
    seeds[:, :2] += rng.normal(0, 12, (len(seeds), 2))
    blobs = []
    for blob in scene.blobs:
        roll = rng.random()
        if roll < 0.1:
            continue  # missed
        category = int(rng.choice(things)) if roll < 0.18 else blob.category
        dx, dy = (int(v) for v in rng.integers(-6, 7, 2))
        axes = tuple(max(2, int(a * rng.uniform(0.85, 1.15))) for a in blob.axes)
        blobs.append(Blob(category, (blob.center[0] + dx, blob.center[1] + dy), axes, blob.angle, False))
    extra = make_scene(rng, palette, width, height).blobs[: int(rng.integers(0, 3))]
    blobs += [Blob(b.category, b.center, b.axes, b.angle, False) for b in extra]
    return Scene(seeds, float(rng.uniform(0.0, 4.0)), tuple(blobs))


def render(
    scene: Scene, palette: Palette, width: int, height: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(uint32 segment-id map, segments_info) of a scene, COCO style."""
    step = 8
    gy, gx = np.mgrid[0:height:step, 0:width:step].astype(np.float32)
    distance = (gx[None] - scene.seeds[:, 0, None, None]) ** 2 + (
        gy[None] - scene.seeds[:, 1, None, None]
    ) ** 2
    distance = np.sqrt(distance) + 25 * np.sin(gx / 37.0 + scene.seeds[:, 0, None, None]) * np.cos(gy / 29.0)
    order = np.argsort(distance, axis=0)
    nearest = order[0].astype(np.uint8)
    gap = np.take_along_axis(distance, order[1:2], 0)[0] - np.take_along_axis(distance, order[:1], 0)[0]
    coarse = np.where(gap < scene.void_band * 4, 255, nearest).astype(np.uint8)
    index = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_NEAREST)
    # Segment index map: 0 void, 1..n_seeds stuff (by seed; one stuff class may own several seeds).
    index = np.where(index == 255, 0, index + 1).astype(np.uint16)
    n_seeds = len(scene.seeds)
    for n, blob in enumerate(scene.blobs):
        cv2.ellipse(index, blob.center, blob.axes, blob.angle, 0, 360, n_seeds + 1 + n, thickness=-1)

    colors = {c.id: c.color for c in palette}
    segment_ids = np.zeros(n_seeds + len(scene.blobs) + 1, np.uint32)
    categories = np.zeros_like(segment_ids)
    crowd = np.zeros(len(segment_ids), bool)
    for n, category in enumerate(scene.seeds[:, 2].astype(int)):
        r, g, b = colors[int(category)]
        segment_ids[1 + n] = r + 256 * g + 65536 * b
        categories[1 + n] = category
    taken = set(segment_ids.tolist())
    for n, blob in enumerate(scene.blobs):
        r, g, b = colors[blob.category]
        while True:
            jitter = np.clip(np.array([r, g, b]) + rng.integers(-30, 31, 3), 0, 255)
            value = int(jitter[0] + 256 * jitter[1] + 65536 * jitter[2])
            if value not in taken:
                break
        taken.add(value)
        segment_ids[n_seeds + 1 + n] = value
        categories[n_seeds + 1 + n] = blob.category
        crowd[n_seeds + 1 + n] = blob.crowd
    id_map = segment_ids[index]

    # One segment per id; seeds of the same stuff class share an id, so count by id.
    n_segments = len(segment_ids)
    areas = np.bincount(index.ravel(), minlength=n_segments)
    wide = index.astype(np.int64)
    rows = np.bincount((wide * height + np.arange(height)[:, None]).ravel(), minlength=n_segments * height)
    cols = np.bincount((wide * width + np.arange(width)[None, :]).ravel(), minlength=n_segments * width)
    rows, cols = rows.reshape(n_segments, height) > 0, cols.reshape(n_segments, width) > 0
    by_id: dict[int, dict[str, Any]] = {}
    for n in range(1, len(segment_ids)):
        if areas[n] == 0:
            continue
        ys, xs = np.flatnonzero(rows[n]), np.flatnonzero(cols[n])
        box = [int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1]
        value = int(segment_ids[n])
        if value in by_id:  # another seed of the same stuff class
            info = by_id[value]
            x0, y0, x1, y1 = info["box"]
            info["box"] = [min(x0, box[0]), min(y0, box[1]), max(x1, box[2]), max(y1, box[3])]
            info["area"] += int(areas[n])
            continue
        by_id[value] = {
            "id": value,
            "category_id": int(categories[n]),
            "iscrowd": int(crowd[n]),
            "box": box,
            "area": int(areas[n]),
        }
    segments = []
    for info in by_id.values():
        x0, y0, x1, y1 = info.pop("box")
        segments.append({**info, "bbox": [x0, y0, x1 - x0, y1 - y0]})
    return id_map, segments


def _png_bytes(id_map: np.ndarray) -> bytes:
    """The PNG as COCO's are written (PIL: zlib's default level 6, filters chosen per row)."""
    bgr = np.stack([(id_map >> 16) & 255, (id_map >> 8) & 255, id_map & 255], axis=-1).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise OSError("PNG encoding failed")
    return encoded.tobytes()


def _photo_bytes(width: int, height: int) -> bytes:
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    photo = np.stack([np.tile(ramp, (height, 1))] * 3, axis=-1).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", photo)
    if not ok:  # pragma: no cover
        raise OSError("JPEG encoding failed")
    return encoded.tobytes()


@dataclass(frozen=True)
class GeneratedDataset:
    """Where a generated dataset lies: photos, ground truth and (when asked) predictions."""

    images: Path
    gt_json: Path
    pred_json: Path | None
    count: int


def _document(
    images: list[dict[str, Any]], annotations: list[dict[str, Any]], palette: Palette
) -> dict[str, Any]:
    categories = [
        {
            "id": c.id,
            "name": c.name,
            "supercategory": c.supercategory,
            "isthing": int(c.isthing),
            "color": list(c.color),
        }
        for c in palette
    ]
    return {
        "info": {"description": "segstudio generated panoptic data"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


@dataclass(frozen=True)
class _Plan:
    """What every generated image shares: where it goes, its size, the seed, which get predictions."""

    root: Path
    width: int
    height: int
    seed: int
    predictions: int
    photo: bytes


def _generate_image(plan: _Plan, n: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Write image ``n`` (photo, ground-truth PNG, prediction PNG if asked); its JSON entries."""
    palette = builtin_palette(PALETTE_NAME)
    rng = np.random.default_rng([plan.seed, n])
    scene = make_scene(rng, palette, plan.width, plan.height)
    name = f"{n + 1:012d}"
    (plan.root / "images" / f"{name}.jpg").write_bytes(plan.photo)
    image = {"id": n + 1, "file_name": f"{name}.jpg", "width": plan.width, "height": plan.height}
    id_map, segments = render(scene, palette, plan.width, plan.height, rng)
    (plan.root / "panoptic" / f"{name}.png").write_bytes(_png_bytes(id_map))
    gt = {"image_id": n + 1, "file_name": f"{name}.png", "segments_info": segments}
    if n >= plan.predictions:
        return image, gt, None
    guess = disturb(scene, rng, palette, plan.width, plan.height)
    pred_map, pred_segments = render(guess, palette, plan.width, plan.height, rng)
    (plan.root / "pred" / f"{name}.png").write_bytes(_png_bytes(pred_map))
    for segment in pred_segments:
        segment.pop("iscrowd")
    return image, gt, {"image_id": n + 1, "file_name": f"{name}.png", "segments_info": pred_segments}


def write_generated_dataset(
    root: str | os.PathLike[str],
    count: int,
    *,
    seed: int = 0,
    width: int = WIDTH,
    height: int = HEIGHT,
    predictions: int = 0,
    jobs: int = 1,
) -> GeneratedDataset:
    """Write ``count`` generated images under ``root``: ``images/``, ``panoptic.json`` +
    ``panoptic/`` and, for the first ``predictions`` images, ``pred.json`` + ``pred/`` (same file
    names). Image ``n`` is the same whatever ``count`` and ``jobs``."""
    root = Path(root)
    palette = builtin_palette(PALETTE_NAME)
    for folder in ("images", "panoptic", "pred"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    plan = partial(_Plan, root, width, height, seed, predictions, _photo_bytes(width, height))
    images, gt_annotations, pred_annotations = [], [], []
    with OrderedPool(jobs, plan) as pool:
        for image, gt, pred in pool.map(_generate_image, range(count)):
            images.append(image)
            gt_annotations.append(gt)
            if pred is not None:
                pred_annotations.append(pred)
    gt_json = root / "panoptic.json"
    gt_json.write_text(json.dumps(_document(images, gt_annotations, palette)))
    pred_json = None
    if predictions:
        pred_json = root / "pred.json"
        pred_json.write_text(json.dumps(_document(images[:predictions], pred_annotations, palette)))
    return GeneratedDataset(root / "images", gt_json, pred_json, count)


def first_images(json_path: Path, count: int, out: Path) -> Path:
    """A copy of a generated COCO panoptic JSON keeping its first ``count`` images (same PNG folder
    when ``out`` sits beside it with the PNG folder given explicitly)."""
    data = json.loads(json_path.read_text())
    data["images"], data["annotations"] = data["images"][:count], data["annotations"][:count]
    out.write_text(json.dumps(data))
    return out
