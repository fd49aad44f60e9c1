"""``segstudio bench io``: datasets in and out at dataset size, and PQ against hotcoco.

On generated 640x480 COCO-like panoptic data (``benchmarks.panoptic_data``), each step runs in a
child process, timed around the library call inside it (interpreter start-up left out, the
worker pool's start-up kept in), with its peak memory (the largest resident set of the process
and its workers, see ``_peak_rss_mb``):

* ``import_images_per_s``: ``import coco-panoptic`` of ``images`` images into a new project;
* ``export_images_per_s``: ``export coco-panoptic`` of that project;
* ``eval_seconds``: ``eval panoptic`` of ``images`` predictions against their ground truth, and
  ``hotcoco_seconds`` for hotcoco's ``PanopticEval`` on the same files (hotcoco is a dev-only
  baseline: without it, ``hotcoco`` says so), with both PQs and their difference;
* ``peak_rss_mb`` of the import at ``images`` and at ``memory_images`` images, and their ratio
  (streaming means it stays near 1); the same for eval (``eval_memory_peak_rss_mb``,
  ``eval_peak_rss_ratio``: the ground truth scored against itself at both sizes);
* ``cpu_seconds`` of each step (the process and its workers, start-up included) and the
  ``load_average`` at the end: on a shared machine wall times follow the load, CPU time much less.

Sizes and ``jobs`` are options, so a test can run it small.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from segstudio.benchmarks.panoptic_data import first_images, write_generated_dataset
from segstudio.io import deflate
from segstudio.io.parallel import default_jobs

PQ_TOLERANCE = 1e-9


# -- the steps, each run by a child process ---------------------------------------------------------


def _step_import(json_path: str, masks: str, images: str, project: str, jobs: int) -> dict[str, Any]:
    from segstudio.io.dataset_import import DatasetSource, ImportFormat, import_dataset

    source = DatasetSource(ImportFormat.COCO_PANOPTIC, Path(json_path), Path(images), masks=Path(masks))
    start = time.perf_counter()
    project_opened, _ = import_dataset(source, Path(project), jobs=jobs)
    seconds = time.perf_counter() - start
    with project_opened:
        return {"seconds": seconds, "images": len(project_opened)}


def _step_export(project: str, out: str, jobs: int) -> dict[str, Any]:
    from segstudio.io.export import ExportFormat, export_project

    start = time.perf_counter()
    count = export_project(Path(project), ExportFormat.COCO_PANOPTIC, Path(out), jobs=jobs)
    return {"seconds": time.perf_counter() - start, "images": count}


def _step_eval(gt_json: str, pred_json: str, gt_dir: str, pred_dir: str, jobs: int) -> dict[str, Any]:
    from segstudio.io.coco_panoptic import evaluate_panoptic_files

    start = time.perf_counter()
    results = evaluate_panoptic_files(gt_json, pred_json, gt_dir, pred_dir, jobs=jobs)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pq": {k: results[k] for k in ("All", "Things", "Stuff")}}


def _step_hotcoco(gt_json: str, pred_json: str, gt_dir: str, pred_dir: str) -> dict[str, Any]:
    try:
        from hotcoco import panoptic
    except ImportError:
        return {"missing": True}
    start = time.perf_counter()
    evaluation = panoptic.PanopticEval(gt_json, pred_json, gt_folder=gt_dir, pred_folder=pred_dir)
    evaluation.run()
    results = evaluation.results()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pq": {k: dict(results[k]) for k in ("All", "Things", "Stuff")}}


_STEPS = {"import": _step_import, "export": _step_export, "eval": _step_eval, "hotcoco": _step_hotcoco}
_RESULT_MARK = "SEGSTUDIO-BENCH-RESULT "


def child_main(argv: list[str]) -> None:
    """Entry of a child process: run one step, print its result (with its peak memory) last."""
    step, arguments = argv[0], json.loads(argv[1])
    before = _cpu_seconds(resource.RUSAGE_SELF)
    result = _STEPS[step](**arguments)
    result["peak_rss_mb"] = _peak_rss_mb()  # reaps the workers, so their CPU time counts below
    own = _cpu_seconds(resource.RUSAGE_SELF) - before
    result["cpu_seconds"] = own + _cpu_seconds(resource.RUSAGE_CHILDREN)
    sys.stdout.flush()
    print(_RESULT_MARK + json.dumps(result), flush=True)


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """The largest resident set of this process, its worker processes and their fork server.

    Read here, not by the parent's ``wait4``: Linux charges a child with the resident set its
    parent had when it forked (the benchmark holds the generated dataset's JSON), so the
    parent's view would show the parent. This process's own peak is ``VmHWM`` (its memory map
    since ``exec``); the workers are the fork server's children, which it reaps, so once the
    fork server is stopped and reaped here their peaks are in ``RUSAGE_CHILDREN``.
    """
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)  # private: no public way to reap it
    if stop is not None:
        stop()
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        status = Path("/proc/self/status").read_text()
        own_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    except (OSError, StopIteration):  # not Linux: the rusage figure, which may include the parent's
        own_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own_kib, children_kib) / 1024


def run_step(step: str, **arguments: Any) -> dict[str, Any]:
    """Run ``step`` (import, export, eval, hotcoco: the ``_step_*`` functions' arguments) in a child
    Python; its result plus ``peak_rss_mb``, the largest resident set of the child and its workers."""
    code = "import sys; from segstudio.benchmarks.io import child_main; child_main(sys.argv[1:])"
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", code, step, json.dumps(arguments)], stdout=stdout, stderr=stderr
        )
        process.wait()
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if process.returncode != 0:
        last = err.strip().splitlines()[-1:] or [f"exit status {process.returncode}"]
        raise RuntimeError(f"bench io step {step!r} failed: {last[0]}")
    lines = [line for line in out.splitlines() if line.startswith(_RESULT_MARK)]
    return json.loads(lines[-1][len(_RESULT_MARK) :])


# -- the benchmark ----------------------------------------------------------------------------------


def run_io_bench(
    repeats: int = 1,
    images: int = 500,
    memory_images: int = 5000,
    jobs: int | None = None,
    seed: int = 0,
    workdir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Generate the data, run every step (the timed ones ``repeats`` times, best kept: the
    machines are shared) and return the JSON-ready numbers."""
    jobs = default_jobs() if jobs is None else jobs
    with tempfile.TemporaryDirectory(prefix="segstudio-bench-io-", dir=workdir) as folder:
        root = Path(folder)
        largest = max(images, memory_images)
        start = time.perf_counter()
        data = write_generated_dataset(root / "data", largest, seed=seed, predictions=images, jobs=jobs)
        generate_seconds = time.perf_counter() - start
        masks = str(root / "data" / "panoptic")
        small_json = first_images(data.gt_json, images, root / "data" / f"first-{images}.json")
        assert data.pred_json is not None

        def import_run(json_path: Path, tag: str) -> dict[str, Any]:
            project = root / f"project-{tag}"
            return run_step(
                "import", json_path=str(json_path), masks=masks, images=str(data.images),
                project=str(project), jobs=jobs,
            )  # fmt: skip

        imports = [import_run(small_json, f"small-{n}") for n in range(repeats)]
        exports = [
            run_step(
                "export", project=str(root / "project-small-0"), out=str(root / f"export-{n}"), jobs=jobs
            )
            for n in range(repeats)
        ]
        pair = {
            "gt_json": str(small_json),
            "pred_json": str(data.pred_json),
            "gt_dir": masks,
            "pred_dir": str(root / "data" / "pred"),
        }
        evals = [run_step("eval", **pair, jobs=jobs) for _ in range(repeats)]
        hotcocos = [run_step("hotcoco", **pair) for _ in range(repeats)]
        large = import_run(data.gt_json, "large") if memory_images != images else imports[0]
        # eval's memory at both sizes: the ground truth scored against itself (predictions are
        # generated for ``images`` only), so the two runs differ in nothing but the image count
        eval_memory = {}
        for count, json_path in ((images, small_json), (memory_images, data.gt_json)):
            files = {"gt_json": str(json_path), "gt_dir": masks, "pred_dir": masks}
            eval_memory[count] = run_step("eval", **files, pred_json=str(json_path), jobs=jobs)["peak_rss_mb"]

    best_import = min(imports, key=lambda r: r["seconds"])
    best_export = min(exports, key=lambda r: r["seconds"])
    best_eval = min(evals, key=lambda r: r["seconds"])
    result: dict[str, Any] = {
        "images": images,
        "jobs": jobs,
        "cores": default_jobs(),
        "import_images_per_s": round(images / best_import["seconds"], 1),
        "export_images_per_s": round(images / best_export["seconds"], 1),
        "eval_seconds": round(best_eval["seconds"], 3),
        "pq": best_eval["pq"]["All"]["pq"],
        "memory_images": memory_images,
        "peak_rss_mb": {
            str(images): round(max(r["peak_rss_mb"] for r in imports), 1),
            str(memory_images): round(large["peak_rss_mb"], 1),
        },
        "export_peak_rss_mb": round(max(r["peak_rss_mb"] for r in exports), 1),
        "eval_peak_rss_mb": round(max(r["peak_rss_mb"] for r in evals), 1),
        "eval_memory_peak_rss_mb": {str(count): round(mb, 1) for count, mb in eval_memory.items()},
        "generate_seconds": round(generate_seconds, 1),
        "cpu_seconds": {
            "import": round(best_import["cpu_seconds"], 2),
            "export": round(best_export["cpu_seconds"], 2),
            "eval": round(best_eval["cpu_seconds"], 2),
        },
        "load_average": round(os.getloadavg()[0], 1),
        "isal": deflate.accelerated(),
    }
    result["peak_rss_ratio"] = round(
        result["peak_rss_mb"][str(memory_images)] / result["peak_rss_mb"][str(images)], 3
    )
    result["eval_peak_rss_ratio"] = round(eval_memory[memory_images] / eval_memory[images], 3)
    if hotcocos[0].get("missing"):
        result["hotcoco"] = "not installed (pip install hotcoco, or the dev extra)"
        result["hotcoco_seconds"] = None
        return result
    best_hotcoco = min(hotcocos, key=lambda r: r["seconds"])
    difference = max(
        abs(best_eval["pq"][group][key] - best_hotcoco["pq"][group][key])
        for group in ("All", "Things", "Stuff")
        for key in ("pq", "sq", "rq")
    )
    result["cpu_seconds"]["hotcoco"] = round(best_hotcoco["cpu_seconds"], 2)
    result.update(
        hotcoco_seconds=round(best_hotcoco["seconds"], 3),
        hotcoco_pq=best_hotcoco["pq"]["All"]["pq"],
        pq_max_difference=difference,
        pq_equal=difference <= PQ_TOLERANCE,
        eval_vs_hotcoco=round(best_eval["seconds"] / best_hotcoco["seconds"], 2),
    )
    return result
