"""Seeded mutation fuzzing of every importer and ``eval`` through ``cli.main`` (issue 14).

Run as a child process by ``tests/test_fuzz_cli.py`` (``python tests/fuzz_cli.py TARGET SEED
COUNT SAMPLE WORKDIR``) under a memory limit, so that a crash by signal, a hang or a memory bomb
fails that test instead of the test run. Each case mutates one real file of the COCO panoptic
sample (a value swapped for a hostile one, a key dropped, a byte flipped, a PNG header resized)
and runs one command in-process. Every case must end in exit 0, or a non-zero exit with one
error line naming a file; anything else (an exception escaping ``cli.main``, several lines) is
printed and makes the exit status 1. Prints ``ok N`` at the end.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import resource
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOSTILE_VALUES: list[Any] = [
    None, -1, 0, 1, 3937500.7, 1e8, 1e12, -1e12, float("nan"), 2**63, "x", "", "no", "1",
    "../../../etc/passwd", "/etc/passwd", "a\nb\x1b[31m", [], {}, [[]], [1, 2], {"a": 1}, True, False,
    [[0, 0, 1e8, 0, 1e8, 1e8]], {"size": 5, "counts": "x"}, {"size": None, "counts": []},
    {"size": [1, 1], "counts": [1e9]},
]  # fmt: skip
DEEP = object()
"""A mutation's result that stands for JSON nested deeper than any parser's recursion."""
MEMORY_LIMIT = 6 << 30
"""Address space of the fuzzing process: a memory bomb fails with MemoryError, not the machine."""


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every (key or index) path inside a JSON value."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):  # the first items are enough to reach every field
            found += _paths(item, (*prefix, index))
    return found


def mutate_json(data: Any, rng: random.Random) -> Any:
    """A copy of ``data`` with one to three hostile changes."""
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_paths(data))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = rng.random()
        if action < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.2 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))  # a duplicate entry
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        if rng.random() < 0.03:
            return DEEP
    return data


def dumps(value: Any) -> str:
    """JSON text of a (mutated) value; ``DEEP`` is JSON nested 100,000 deep."""
    return "[" * 100_000 + "]" * 100_000 if value is DEEP else json.dumps(value)


def _png_with_size(data: bytes, width: int, height: int) -> bytes:
    body = struct.pack(">II", width, height) + data[24:29]
    return data[:16] + body + struct.pack(">I", zlib.crc32(b"IHDR" + body)) + data[33:]


def mutate_png(data: bytes, rng: random.Random) -> bytes:
    """A PNG's bytes with a byte flipped, cut short, or its header claiming another size."""
    action = rng.random()
    if action < 0.3:
        return _png_with_size(
            data, rng.choice([1, 20000, 100000, 2**31 - 1]), rng.choice([1, 20000, 2**31 - 1])
        )
    if action < 0.5:
        return data[: rng.randrange(len(data))]
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
    return bytes(mutated)


# -- one case per target ---------------------------------------------------------------------------


def _coco_panoptic(sample: Path, case: Path, rng: random.Random) -> list[str]:
    data = json.loads((sample / "panoptic_examples.json").read_text())
    masks = case / "masks"
    shutil.copytree(sample / "panoptic_examples", masks)
    if rng.random() < 0.25:
        png = rng.choice(sorted(masks.iterdir()))
        png.write_bytes(mutate_png(png.read_bytes(), rng))
    else:
        data = mutate_json(data, rng)
    (case / "p.json").write_text(dumps(data))
    return ["import", "coco-panoptic", "--json", str(case / "p.json"), "--masks", str(masks),
            "--images", str(sample), str(case / "project")]  # fmt: skip


def _coco_instances(sample: Path, case: Path, rng: random.Random) -> list[str]:
    data = json.loads((sample / "panoptic_coco_detection_format.json").read_text())
    data["annotations"] = data["annotations"][:12]
    (case / "i.json").write_text(dumps(mutate_json(data, rng)))
    return ["import", "coco-instances", "--json", str(case / "i.json"), "--images", str(sample),
            str(case / "project")]  # fmt: skip


def labelme_document() -> dict[str, Any]:
    """A labelme file for the sample's 640x427 photo with every shape type."""
    shapes = [
        {"label": "cat", "points": [[10.5, 20.2], [200.7, 30.1], [150.3, 300.9]], "shape_type": "polygon"},
        {"label": "dog", "points": [[300, 100], [420.5, 250.5]], "shape_type": "rectangle", "group_id": 1},
        {"label": "ball", "points": [[500, 300], [530, 320]], "shape_type": "circle"},
        {"label": "rope", "points": [[10, 400], [600, 410], [620, 20]], "shape_type": "linestrip"},
        {"label": "__ignore__", "points": [[50, 50], [60, 50], [55, 70]]},
        {"label": "dot", "points": [[320, 200]], "shape_type": "point"},
    ]
    return {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "000000142238.jpg",
            "imageData": None, "imageHeight": 427, "imageWidth": 640}  # fmt: skip


def _labelme(sample: Path, case: Path, rng: random.Random) -> list[str]:
    folder = case / "labelme"
    folder.mkdir()
    document = labelme_document()
    document["imagePath"] = os.path.relpath(sample / "000000142238.jpg", folder)
    (folder / "a.json").write_text(dumps(mutate_json(document, rng)))
    return ["import", "labelme", str(folder), "--images", str(sample), str(case / "project")]


def _semantic_png(sample: Path, case: Path, rng: random.Random) -> list[str]:
    import cv2
    import numpy as np

    masks = case / "masks"
    masks.mkdir()
    values = np.zeros((427, 640), np.uint8)
    values[100:200, 50:300] = 1
    values[300:] = 255
    png = cv2.imencode(".png", values)[1].tobytes()
    classes = [{"id": 0, "name": "bg", "color": [0, 0, 0]}, {"id": 1, "name": "cat", "color": [9, 9, 9]}]
    palette: Any = {"name": "p", "classes": classes}
    if rng.random() < 0.5:
        png = mutate_png(png, rng)
    else:
        palette = mutate_json(palette, rng)
    (masks / "000000142238.png").write_bytes(png)
    (case / "palette.json").write_text(dumps(palette))
    return ["import", "semantic-png", "--masks", str(masks), "--images", str(sample), "--palette",
            str(case / "palette.json"), str(case / "project")]  # fmt: skip


def _cityscapes(sample: Path, case: Path, rng: random.Random) -> list[str]:
    import cv2
    import numpy as np

    gt, images = case / "gtFine" / "city", case / "leftImg8bit" / "city"
    gt.mkdir(parents=True)
    images.mkdir(parents=True)
    shutil.copy(sample / "000000142238.jpg", images / "city_000000_000001_leftImg8bit.png")
    label_ids = np.full((427, 640), 7, np.uint8)
    label_ids[50:150, 60:200] = 26
    instance_ids = label_ids.astype(np.uint16)
    instance_ids[50:150, 60:200] = 26000
    files = {
        "city_000000_000001_gtFine_labelIds.png": cv2.imencode(".png", label_ids)[1].tobytes(),
        "city_000000_000001_gtFine_instanceIds.png": cv2.imencode(".png", instance_ids)[1].tobytes(),
    }
    victim = rng.choice(sorted(files))
    files[victim] = mutate_png(files[victim], rng)
    for name, data in files.items():
        (gt / name).write_bytes(data)
    return ["import", "cityscapes", "--gt", str(case / "gtFine"), "--images", str(case / "leftImg8bit"),
            str(case / "project")]  # fmt: skip


def _eval_panoptic(sample: Path, case: Path, rng: random.Random) -> list[str]:
    data = json.loads((sample / "panoptic_examples.json").read_text())
    gt, pred = (data, mutate_json(data, rng)) if rng.random() < 0.5 else (mutate_json(data, rng), data)
    (case / "gt.json").write_text(dumps(gt))
    (case / "pred.json").write_text(dumps(pred))
    masks = str(sample / "panoptic_examples")
    return ["eval", "panoptic", "--gt-json", str(case / "gt.json"), "--pred-json", str(case / "pred.json"),
            "--gt-dir", masks, "--pred-dir", masks]  # fmt: skip


TARGETS: dict[str, Callable[[Path, Path, random.Random], list[str]]] = {
    "coco-panoptic": _coco_panoptic,
    "coco-instances": _coco_instances,
    "labelme": _labelme,
    "semantic-png": _semantic_png,
    "cityscapes": _cityscapes,
    "eval-panoptic": _eval_panoptic,
}


def problem_of(status: int, stderr: str, named: tuple[Path, ...]) -> str | None:
    """What is wrong with one run's outcome, or None (success, or one error line naming a file)."""
    lines = [line for line in stderr.splitlines() if not line.startswith("warning: ")]
    if status == 0:
        return None if not lines else f"exit 0 with stderr {lines!r}"
    if len(lines) != 1 or ": error: " not in lines[0]:
        return f"exit {status} without one error line: {stderr[-2000:]!r}"
    if not any(str(path) in lines[0] for path in named):
        return f"the error names no file: {lines[0]!r}"
    return None


def main(target: str, seed: int, count: int, sample: Path, workdir: Path, verbose: bool = False) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from segstudio.cli import main as cli_main

    failures = 0
    for n in range(count):
        rng = random.Random(f"{target}-{seed}-{n}")
        case = workdir / f"case{n}"
        case.mkdir(parents=True)
        argv = TARGETS[target](sample, case, rng)
        print(f"case {n}", file=sys.stderr, flush=True)
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = cli_main(argv)
        except SystemExit as exit_:  # argparse
            status = int(exit_.code or 0)
        except BaseException as error:  # noqa: BLE001 - a traceback is the failure being hunted
            status, err = -1, io.StringIO(f"{type(error).__name__}: {error}")
        problem = problem_of(status, err.getvalue(), (case, sample))
        if verbose:
            print(f"{n}: exit {status} {err.getvalue().strip()[-300:]}")
        if problem:
            failures += 1
            print(f"FAIL {target} case {n}: {problem}", flush=True)
        shutil.rmtree(case, ignore_errors=True)
    print(f"ok {count - failures}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    name, seed_text, count_text, sample_dir, work = sys.argv[1:6]
    sys.exit(main(name, int(seed_text), int(count_text), Path(sample_dir), Path(work), "-v" in sys.argv))
