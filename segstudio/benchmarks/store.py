"""``segstudio bench store``: the project index at 100k images.

The project is generated the way an import leaves it, but fast: its index rows (COCO-like dataset
entries included) are written in one transaction with the store's own insert, and every image,
label and prediction file is a hard link to one small placeholder file (a 64x48 PNG, a saved label
map, a saved prediction), so the folders hold 100k real, readable files and nothing measured here
skips a file it would touch, while generating takes seconds. 60% of the images are unlabelled,
10% pre-labelled, 25% edited and 5% reviewed. Medians, the file cache warm:

- ``open_s``: ``Project.open`` (stale-temporary sweep of the project folders included) + ``close``;
- ``state_update_ms``: ``Project.set_state`` of a random image (one committed transaction);
- ``save_labels_ms``: ``Project.save_labels`` of a 64x48 map with a state change (crash note,
  labels file written and fsynced, autosave dropped, state recorded);
- ``add_image_batch_per_s``: ``add_image`` (header read) of 2,000 more images in one batch;
- ``window_open_s``: a new offscreen ``MainWindow`` opening the project folder, until its canvas
  has painted the first image (image list filled);
- ``image_list_filter_ms``: a state-filter change or a search keystroke in the images dock, until
  the list has repainted;
- ``migrate_s``: one migration of the same project written as a schema-1 ``project.json``.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from segstudio.core.labels import LabelMap
from segstudio.core.palette import builtin_palette
from segstudio.io.image_entry import ImageEntry, ImageState
from segstudio.io.images import write_png
from segstudio.io.label_file import write_label_file
from segstudio.io.project import Project
from segstudio.io.project_migration import MANIFEST_NAME
from segstudio.io.project_store import INSERT_IMAGE, insert_values

IMAGES = 100_000
SHAPE = (48, 64)
GOALS = {"open_s": 0.5, "state_update_ms": 5.0, "window_open_s": 2.5, "image_list_filter_ms": 100.0}
PALETTE = builtin_palette("voc")
_STATE_OF_TWENTIETH = [ImageState.UNLABELLED] * 12 + [ImageState.PRELABELLED] * 2 + [ImageState.EDITED] * 5
_STATE_OF_TWENTIETH += [ImageState.REVIEWED]


def bench_entries(count: int) -> list[ImageEntry]:
    """The generated images: ids, files, states and COCO-like dataset entries."""
    return [
        ImageEntry(
            f"{n:06d}",
            f"images/{n:06d}.png",
            SHAPE[1],
            SHAPE[0],
            _STATE_OF_TWENTIETH[n % 20],
            None,
            {"id": n, "file_name": f"{n:06d}.png", "width": SHAPE[1], "height": SHAPE[0], "license": 1},
        )
        for n in range(count)
    ]


def _link_all(source: Path, folder: Path, names: list[str]) -> None:
    """Hard-link ``source`` under every name, starting on a fresh copy when it has too many links."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        try:
            os.link(source, folder / name)
        except OSError as error:
            if error.errno != errno.EMLINK:
                raise
            copy = folder / name
            shutil.copyfile(source, copy)
            source = copy


def make_store_project(root: Path, count: int = IMAGES) -> list[ImageEntry]:
    """A ``count``-image project at ``root`` as described in the module notes; returns its entries."""
    entries = bench_entries(count)
    with Project.create(root, PALETTE, name="store benchmark") as project:
        index = project.index_path
    placeholder = root / "placeholder.png"
    write_png(placeholder, np.random.default_rng(0).integers(0, 256, (*SHAPE, 3), np.uint8))
    labels = LabelMap.from_arrays(np.random.default_rng(1).integers(0, 3, SHAPE).astype(np.uint16), None)
    write_label_file(root / "labels.placeholder", labels)
    _link_all(placeholder, root / "images", [Path(e.file).name for e in entries])
    labelled = [e.id + ".npz" for e in entries if e.state in (ImageState.EDITED, ImageState.REVIEWED)]
    _link_all(root / "labels.placeholder", root / "labels", labelled)
    predicted = [e.id + ".npz" for e in entries if e.state is not ImageState.UNLABELLED]
    _link_all(root / "labels.placeholder", root / "predictions", predicted)
    with sqlite3.connect(index) as db:
        db.executemany(INSERT_IMAGE, (insert_values(e.row()) for e in entries))
    return entries


def write_schema1_manifest(root: Path, entries: list[ImageEntry]) -> None:
    """The same project as schema-1 segstudio wrote it (one JSON manifest), for the migration."""
    images = []
    for entry in entries:
        item = {"id": entry.id, "file": entry.file, "width": entry.width, "height": entry.height}
        images.append({**item, "state": entry.state.value, "source": entry.source})
    manifest = {"schema_version": 1, "name": "store benchmark", "palette": PALETTE.to_dict()}
    manifest["images"] = images
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _median(samples: list[float], digits: int = 3) -> float:
    return round(statistics.median(samples), digits)


def measure_open(root: Path, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        Project.open(root).close()
        samples.append(time.perf_counter() - start)
    return samples[1:]


def measure_index_writes(root: Path, entries: list[ImageEntry], repeats: int) -> dict[str, float]:
    rng = random.Random(0)
    labels = LabelMap.from_arrays(np.zeros(SHAPE, np.uint16), None)
    with Project.open(root) as project:
        updates, saves = [], []
        for n in range(max(repeats * 10, 50)):
            image_id = rng.choice(entries).id
            start = time.perf_counter()
            project.set_state(image_id, (ImageState.EDITED, ImageState.REVIEWED)[n % 2])
            updates.append((time.perf_counter() - start) * 1000.0)
        for _ in range(max(repeats * 2, 20)):
            image_id = rng.choice(entries).id
            was = project.entry(image_id).state
            state = ImageState.REVIEWED if was is not ImageState.REVIEWED else ImageState.EDITED
            start = time.perf_counter()
            project.save_labels(image_id, labels, state)
            saves.append((time.perf_counter() - start) * 1000.0)
        photos = root / "more"
        _link_all(root / "placeholder.png", photos, [f"{n:05d}.png" for n in range(2000)])
        start = time.perf_counter()
        with project.batch():
            for n in range(2000):
                project.add_image(photos / f"{n:05d}.png")
        added = 2000 / (time.perf_counter() - start)
    return {
        "state_update_ms": _median(updates),
        "save_labels_ms": _median(saves),
        "add_image_batch_per_s": round(added, 1),
    }


def measure_window(root: Path, data_dir: Path, repeats: int) -> dict[str, float]:
    """Window open and image-list filtering, offscreen (see the module notes)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from segstudio.app import qt_application
    from segstudio.benchmarks.gui import PaintWatch, bench_window, settle

    qt_application()
    opened, filtered = [], []
    for attempt in range(max(3, repeats // 5)):
        start = time.perf_counter()
        window = bench_window(data_dir)
        watch = PaintWatch(window.canvas.viewport())
        if not window.open_path(root):
            raise RuntimeError(f"{root}: the benchmark project did not open")
        watch.until_painted()
        opened.append(time.perf_counter() - start)
        if attempt == 0:
            filtered = measure_filter(window, repeats)
        window.close()
        window.deleteLater()
        settle()
        QApplication.instance().processEvents()
    return {"window_open_s": _median(opened), "image_list_filter_ms": _median(filtered)}


def measure_filter(window, repeats: int) -> list[float]:
    from segstudio.benchmarks.gui import PaintWatch, settle

    images = window.image_list
    watch = PaintWatch(images.view.viewport())
    changes = [lambda i=i: images.state_filter.setCurrentIndex(i) for i in (3, 4, 1, 2, 0)]
    changes += [lambda t=t: images.search.setText(t) for t in ("0", "01", "012", "01", "")]
    samples = []
    for n in range(max(repeats, len(changes))):
        settle()
        watch.regions.clear()
        start = time.perf_counter()
        changes[n % len(changes)]()
        watch.until_painted()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def run_store_bench(repeats: int = 15, count: int = IMAGES) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="segstudio-bench-store-") as temp:
        root = Path(temp) / "project"
        started = time.perf_counter()
        entries = make_store_project(root, count)
        generated = time.perf_counter() - started
        opened = measure_open(root, repeats)
        result: dict[str, object] = {"images": count, "cpu_count": os.cpu_count() or 0}
        result["generate_s"] = round(generated, 2)
        result["open_s"] = _median(opened, 4)
        window = measure_window(root, Path(temp) / "data", repeats)
        result.update(measure_index_writes(root, entries, repeats))
        result.update(window)
        old = Path(temp) / "schema1"
        old.mkdir()
        write_schema1_manifest(old, entries)
        start = time.perf_counter()
        Project.open(old).close()
        result["migrate_s"] = round(time.perf_counter() - start, 3)
    result["goals"] = GOALS
    return result
