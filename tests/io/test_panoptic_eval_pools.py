"""``eval panoptic`` on threads (where ``segstudio._native`` is built) and on processes: the same
numbers, warnings and first error, at every ``jobs``."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from segstudio import _native
from segstudio.benchmarks.panoptic_data import write_generated_dataset
from segstudio.io.coco_panoptic import PAIRS_PER_TASK, evaluate_panoptic_files, scoring_pool
from segstudio.io.datasets import DatasetError
from segstudio.io.images import ImageReadError
from segstudio.io.parallel import OrderedPool

IMAGES = 3 * PAIRS_PER_TASK + 3
"""Enough pairs for several batches per worker."""

POOLS = {"threads": partial(OrderedPool, threads=True), "processes": partial(OrderedPool, threads=False)}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    write_generated_dataset(root, IMAGES, width=96, height=72, predictions=IMAGES, seed=5)
    return root


def _evaluate(gt: Path, pred: Path, pool: Any, jobs: int) -> tuple[dict[str, Any], list[str]]:
    warnings: list[str] = []
    return evaluate_panoptic_files(gt, pred, warnings=warnings, jobs=jobs, pool=pool), warnings


def test_the_local_pool_is_threads_where_the_extension_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _native.pixels is not None, "segstudio._native.pixels is not built (pip install -e . with gcc)"
    assert scoring_pool(2).keywords == {"threads": True}  # type: ignore[attr-defined]
    monkeypatch.setattr(_native, "pixels", None)
    assert scoring_pool(1) is OrderedPool  # the pure path: processes


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_threads_and_processes_give_the_same_results(generated: Path, tmp_path: Path, jobs: int) -> None:
    # ground truth areas made wrong in one image, so warnings are compared too
    data = json.loads((generated / "panoptic.json").read_text())
    data["annotations"][PAIRS_PER_TASK + 1]["segments_info"][0]["area"] += 7
    gt = tmp_path / "panoptic.json"
    gt.write_text(json.dumps(data))
    shutil.copytree(generated / "panoptic", tmp_path / "panoptic")
    pred = generated / "pred.json"
    runs = {name: _evaluate(gt, pred, pool, jobs) for name, pool in POOLS.items()}
    runs["default"] = _evaluate(gt, pred, OrderedPool, jobs)
    assert runs["threads"] == runs["processes"] == runs["default"]
    results, warnings = runs["threads"]
    assert 0.05 < results["All"]["pq"] < 1.0 and results["All"]["n"] > 0
    assert len(warnings) == 1 and "area" in warnings[0]


@pytest.mark.parametrize("jobs", [2, 3])
def test_threads_and_processes_report_the_same_first_bad_file(
    generated: Path, tmp_path: Path, jobs: int
) -> None:
    """Two broken predicted PNGs in different batches (the later one in the batch a worker may
    finish first): the first in image order is the one reported, on both paths."""
    shutil.copytree(generated / "pred", tmp_path / "pred")
    shutil.copy(generated / "pred.json", tmp_path / "pred.json")
    names = [entry["file_name"] for entry in json.loads((generated / "pred.json").read_text())["annotations"]]
    first_bad, later_bad = names[PAIRS_PER_TASK + 2], names[2 * PAIRS_PER_TASK + 1]
    (tmp_path / "pred" / first_bad).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "pred" / later_bad).write_bytes(b"not a png at all")
    messages = []
    for pool in POOLS.values():
        with pytest.raises(ImageReadError) as caught:
            _evaluate(generated / "panoptic.json", tmp_path / "pred.json", pool, jobs)
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and first_bad in messages[0] and later_bad not in messages[0]


def test_a_json_problem_comes_before_any_png_problem_on_threads(generated: Path, tmp_path: Path) -> None:
    data = json.loads((generated / "pred.json").read_text())
    data["annotations"][-1]["segments_info"][0]["id"] = "seven"
    (tmp_path / "pred.json").write_text(json.dumps(data))
    shutil.copytree(generated / "pred", tmp_path / "pred")
    (tmp_path / "pred" / data["annotations"][0]["file_name"]).write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"pred\.json: .*segments_info\[0\]\.id"):
        _evaluate(generated / "panoptic.json", tmp_path / "pred.json", POOLS["threads"], 2)


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("pool", POOLS)
def test_a_json_problem_after_the_last_scored_pair_still_comes_first(
    generated: Path, tmp_path: Path, jobs: int, pool: str
) -> None:
    """One pass checks and scores: the first pair's broken PNG fails long before the reader gets
    to the extra prediction at the end of the file; the files are still read to their end and
    their problem is the one reported."""
    data = json.loads((generated / "pred.json").read_text())
    data["annotations"].append(dict(data["annotations"][3]))  # image id annotated twice
    (tmp_path / "pred.json").write_text(json.dumps(data))
    shutil.copytree(generated / "pred", tmp_path / "pred")
    (tmp_path / "pred" / data["annotations"][0]["file_name"]).write_bytes(b"not a png")
    twice = data["annotations"][3]["image_id"]
    with pytest.raises(DatasetError, match=rf"pred\.json: image id {twice} has two annotations$"):
        _evaluate(generated / "panoptic.json", tmp_path / "pred.json", POOLS[pool], jobs)


@pytest.mark.parametrize("jobs", [1, 2])
def test_progress_counts_every_pair_against_the_total(generated: Path, jobs: int) -> None:
    calls: list[tuple[int, int]] = []
    files = (generated / "panoptic.json", generated / "pred.json")
    with_progress = evaluate_panoptic_files(*files, jobs=jobs, progress=lambda *call: calls.append(call))
    assert calls == [(done, IMAGES) for done in range(1, IMAGES + 1)]
    assert with_progress == evaluate_panoptic_files(*files, jobs=jobs)


@pytest.mark.parametrize("progress", [None, lambda done, total: None])
def test_a_broken_png_alone_is_the_error_with_or_without_the_counting_pass(
    generated: Path, tmp_path: Path, progress: Any
) -> None:
    shutil.copytree(generated / "pred", tmp_path / "pred")
    shutil.copy(generated / "pred.json", tmp_path / "pred.json")
    name = json.loads((generated / "pred.json").read_text())["annotations"][1]["file_name"]
    (tmp_path / "pred" / name).write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=rf"{name}: not a PNG file"):
        evaluate_panoptic_files(
            generated / "panoptic.json", tmp_path / "pred.json", jobs=2, progress=progress
        )


@pytest.mark.parametrize("jobs", [1, 2, 3])
@pytest.mark.parametrize("damage", ["annotation", "png", "folder", "none"])
def test_a_categories_problem_comes_first_though_they_are_read_beside_the_pairs(
    generated: Path, tmp_path: Path, jobs: int, damage: str
) -> None:
    """The default pool (threads) reads the ground truth's categories on a thread of their own
    while pairs are read and counted; their problem is still the one raised, as when they were
    read before anything else (the processes' way), whatever else is wrong."""
    data = json.loads((generated / "panoptic.json").read_text())
    data["categories"][-1]["isthing"] = "yes"
    if damage == "annotation":
        del data["annotations"][1]["file_name"]
    gt = tmp_path / "panoptic.json"
    gt.write_text(json.dumps(data))
    if damage != "folder":
        shutil.copytree(generated / "panoptic", tmp_path / "panoptic")
    if damage == "png":
        (tmp_path / "panoptic" / data["annotations"][0]["file_name"]).write_bytes(b"not a png")
    messages = []
    for pool in (OrderedPool, POOLS["processes"]):
        with pytest.raises(DatasetError) as caught:
            _evaluate(gt, generated / "pred.json", pool, jobs)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"{gt}: ") and "categories" in messages[0] and "isthing" in messages[0]
