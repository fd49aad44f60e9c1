"""Streaming, parallel dataset import/export/eval: exact on the real sample at every ``--jobs``,
the same bytes whatever ``--jobs``, nothing left by a cancel, memory flat in the dataset's size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from segstudio.benchmarks.io import run_step
from segstudio.benchmarks.panoptic_data import first_images, write_generated_dataset
from segstudio.cli import main
from segstudio.core.jobs import Cancelled
from segstudio.io.coco_panoptic import evaluate_panoptic_files, read_coco_panoptic, read_panoptic_png
from segstudio.io.dataset_import import DatasetSource, ImportFormat, import_dataset
from segstudio.io.datasets import DatasetError
from segstudio.io.export import ExportFormat, export_project
from segstudio.io.project import Project
from segstudio.io.project_eval import evaluate_project
from segstudio.io.semantic_eval import evaluate_semantic_dirs


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sample_round_trip_is_exact_and_the_same_bytes_at_every_jobs(
    coco_panoptic_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample_json = coco_panoptic_sample / "panoptic_examples.json"
    original = json.loads(sample_json.read_text())
    exports = {}
    for jobs in ("1", "2"):
        project, out = tmp_path / f"project-{jobs}", tmp_path / f"export-{jobs}"
        argv = ["import", "coco-panoptic", "--json", str(sample_json), "--images", str(coco_panoptic_sample)]
        assert main([*argv, str(project), "--jobs", jobs]) == 0
        assert main(["export", "coco-panoptic", str(project), str(out), "--jobs", jobs]) == 0
        exports[jobs] = _tree(out)

        exported = json.loads((out / "annotations" / "panoptic.json").read_text())
        assert exported["images"] == original["images"]
        for before, after in zip(original["annotations"], exported["annotations"], strict=True):
            by_id = lambda segments: sorted(segments, key=lambda s: s["id"])  # noqa: E731
            assert by_id(before["segments_info"]) == by_id(after["segments_info"])
            new_ids = read_panoptic_png(out / "annotations" / "panoptic" / after["file_name"])
            old_ids = read_panoptic_png(sample_json.with_suffix("") / before["file_name"])
            assert np.array_equal(new_ids, old_ids)

        capsys.readouterr()
        eval_argv = ["eval", "panoptic", "--gt-json", str(sample_json), "--json", "--jobs", jobs]
        assert main([*eval_argv, "--pred-json", str(out / "annotations" / "panoptic.json")]) == 0
        scores = json.loads(capsys.readouterr().out)
        assert all(
            scores[group]["pq"] == 1.0 and scores[group]["n"] > 0 for group in ("All", "Things", "Stuff")
        )
    assert exports["1"] == exports["2"]  # same files, same bytes


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten small generated images with predictions for all of them."""
    root = tmp_path_factory.mktemp("generated")
    write_generated_dataset(root, 10, width=96, height=72, predictions=10, seed=3)
    return root


def _import(root: Path, project: Path, jobs: int, progress=None) -> Project:
    source = DatasetSource(ImportFormat.COCO_PANOPTIC, root / "panoptic.json", root / "images")
    return import_dataset(source, project, progress, jobs)[0]


def test_eval_is_the_same_at_every_jobs(generated: Path, tmp_path: Path) -> None:
    panoptic = [
        evaluate_panoptic_files(generated / "panoptic.json", generated / "pred.json", jobs=j) for j in (1, 2)
    ]
    assert panoptic[0] == panoptic[1] and 0.05 < panoptic[0]["All"]["pq"] < 1.0

    # The same scenes as projects: ground truth imported, predictions saved beside it.
    gt = _import(generated, tmp_path / "gt", 2)
    predicted = read_coco_panoptic(generated / "pred.json", generated / "pred")
    for entry, record in zip(gt.entries(), predicted.records, strict=True):
        gt.save_prediction(entry.id, record.labels)
    scores = [evaluate_project(gt.root, jobs=j).to_json({}) for j in (1, 2)]
    assert scores[0] == scores[1] and scores[0]["images_scored"] == 10

    pred_project = tmp_path / "pred-project"
    source = DatasetSource(ImportFormat.COCO_PANOPTIC, generated / "pred.json", generated / "images")
    import_dataset(source, pred_project, jobs=2)
    for name, project in (("gt", gt.root), ("pred", pred_project)):
        export_project(project, ExportFormat.SEMANTIC_PNG, tmp_path / f"semantic-{name}", jobs=2)
    palette = gt.palette
    semantic = [
        evaluate_semantic_dirs(tmp_path / "semantic-gt", tmp_path / "semantic-pred", palette, jobs=j)
        for j in (1, 2)
    ]
    assert semantic[0] == semantic[1] and semantic[0]["images"] == 10


@pytest.mark.parametrize("jobs", [1, 2])
def test_eval_reports_a_problem_in_the_json_before_scoring_any_image(
    generated: Path, tmp_path: Path, jobs: int
) -> None:
    """The last image has no prediction and the first image's PNG is broken: the JSON's problem
    is the one reported, whatever ``jobs`` (the last image is in a later batch than the first)."""
    data = json.loads((generated / "pred.json").read_text())
    missing = data["annotations"].pop()["image_id"]
    (tmp_path / "pred.json").write_text(json.dumps(data))
    shutil.copytree(generated / "pred", tmp_path / "pred")
    (tmp_path / "pred" / data["annotations"][0]["file_name"]).write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=rf"pred\.json: no prediction for image id {missing}$"):
        evaluate_panoptic_files(generated / "panoptic.json", tmp_path / "pred.json", jobs=jobs)


def test_a_cancelled_parallel_export_leaves_no_output(generated: Path, tmp_path: Path) -> None:
    project = _import(generated, tmp_path / "project", 2)
    out = tmp_path / "exports" / "out"

    def cancel_at_three(done: int, total: int) -> None:
        if done >= 3:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        export_project(project.root, ExportFormat.COCO_PANOPTIC, out, progress=cancel_at_three, jobs=2)
    assert not out.exists()
    assert list((tmp_path / "exports").iterdir()) == []  # no staging folder left either

    with pytest.raises(Cancelled):
        _import(generated, tmp_path / "imports" / "again", 2, cancel_at_three)
    assert list((tmp_path / "imports").iterdir()) == []


def test_jobs_must_be_at_least_one(
    generated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "coco-panoptic", str(tmp_path / "p"), str(tmp_path / "o"), "--jobs", "0"])
    assert exit_info.value.code == 2 and "--jobs" in capsys.readouterr().err


@pytest.mark.slow
def test_streaming_import_memory_does_not_grow_with_the_images(tmp_path: Path) -> None:
    """2,000 small images against 200: peak memory of the import (process and workers, measured
    by the OS) grows far less than holding the extra label maps would take."""
    width, height, few, many = 128, 96, 200, 2000
    data = write_generated_dataset(tmp_path / "data", many, width=width, height=height, jobs=2)
    masks = str(tmp_path / "data" / "panoptic")
    runs = {}
    for count in (few, many):
        json_path = first_images(data.gt_json, count, tmp_path / f"first-{count}.json")
        runs[count] = run_step(
            "import", json_path=str(json_path), masks=masks, images=str(data.images),
            project=str(tmp_path / f"project-{count}"), jobs=2,
        )  # fmt: skip
        assert runs[count]["images"] == count
    label_map_mb = width * height * (2 + 4 + 1) / 2**20  # category, instance, provenance
    holding_them_all = (many - few) * label_map_mb  # ~155 MB
    growth = runs[many]["peak_rss_mb"] - runs[few]["peak_rss_mb"]
    assert growth < holding_them_all / 3, (runs, holding_them_all)


@pytest.mark.slow
def test_streaming_eval_memory_does_not_grow_with_the_images(tmp_path: Path) -> None:
    """2,000 small image pairs against 200: peak memory of ``eval panoptic`` (process and workers)
    grows far less than holding the extra annotations parsed (as reading the JSON whole did)."""
    few, many = 200, 2000
    data = write_generated_dataset(tmp_path / "data", many, width=64, height=48, jobs=2)
    masks = str(tmp_path / "data" / "panoptic")
    peaks = {}
    for count in (few, many):
        json_path = first_images(data.gt_json, count, tmp_path / f"first-{count}.json")
        files = {"gt_json": str(json_path), "pred_json": str(json_path), "gt_dir": masks, "pred_dir": masks}
        run = run_step("eval", **files, jobs=2)
        assert run["pq"]["All"]["pq"] > 0.999  # the ground truth against itself (crowd aside)
        peaks[count] = run["peak_rss_mb"]
    json_mb = data.gt_json.stat().st_size / 2**20
    parsed_mb = 2 * 8 * json_mb * (many - few) / many  # both files, ~8x their text once parsed
    assert peaks[many] - peaks[few] < parsed_mb / 3, (peaks, parsed_mb)


def test_bench_io_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "io", "--json", "--images", "3", "--memory-images", "5", "--jobs", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "import_images_per_s", "export_images_per_s", "eval_seconds", "hotcoco_seconds", "pq",
        "peak_rss_mb", "peak_rss_ratio", "eval_memory_peak_rss_mb", "eval_peak_rss_ratio",
    ):  # fmt: skip
        assert key in result
    assert set(result["peak_rss_mb"]) == {"3", "5"} and result["import_images_per_s"] > 0
    assert set(result["eval_memory_peak_rss_mb"]) == {"3", "5"} and result["eval_peak_rss_ratio"] > 0
    steps = {"import", "export", "eval"} | ({"hotcoco"} if result["hotcoco_seconds"] is not None else set())
    assert set(result["cpu_seconds"]) == steps
    assert all(seconds > 0 for seconds in result["cpu_seconds"].values())  # workers' time included
    assert result["isal"] is True
    if result["hotcoco_seconds"] is not None:
        assert result["pq_equal"] and result["pq_max_difference"] <= 1e-9
    else:
        assert "not installed" in result["hotcoco"]
