"""``segstudio bench prelabel``: images/s of ``segstudio prelabel`` in-process vs on a local Ray cluster.

Same machine, same cores, same model, same generated project (shape images with a U-Net whose
weights come from a fixed seed; speed does not depend on the weights): once in this process
(``--cluster local``: one model, every core as torch threads), once on a private Ray started here
with as many CPUs as the machine has (one actor per CPU, one torch thread each), and, when CUDA
is here, once more with one actor on one GPU. ``local_1_thread`` is the in-process run on one
torch thread: ``ray_per_actor_vs_1_thread`` (Ray's images/s per actor over it) is what Ray's
machinery costs, apart from how threads and processes share the cores. Rates are steady-state:
from the first finished batch to the last, so loading the model (and starting Ray's actors) is
left out; the wall time from the call to the end is reported beside it. Both runs must write
byte-identical predictions.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from segstudio.cluster.prelabel import cluster_executor
from segstudio.cluster.session import connected
from segstudio.io.project import Project
from segstudio.models import registry
from segstudio.models.prelabel import make_plan
from segstudio.models.prelabel_run import Executor, local_batches, run_prelabel
from segstudio.models.shapes_dataset import SHAPES_PALETTE, make_shapes_project

MODEL = "unet"
IMAGES = 64
SIZE = 256
BATCH = 4


class _Clock:
    """Progress callback noting when each batch was recorded."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: list[tuple[float, int]] = []

    def __call__(self, done: int, total: int) -> None:
        if done:
            self.marks.append((time.perf_counter(), done))

    def result(self) -> dict[str, float]:
        (first_t, first_done), (last_t, last_done) = self.marks[0], self.marks[-1]
        steady = (last_done - first_done) / (last_t - first_t) if last_t > first_t else 0.0
        wall = last_t - self.start
        return {"images_per_s": round(steady, 2), "wall_s": round(wall, 2), "images": last_done}


def _checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    names = [c.name for c in SHAPES_PALETTE]
    spec = registry.get_spec(MODEL).fine_tuned("bench-shapes-net", names, palette="shapes")
    return registry.save_checkpoint(folder / "bench-shapes-net.pt", spec.build(), spec, class_ids=[0, 1, 2])


def _timed_run(template: Path, root: Path, checkpoint: Path, execute: Executor) -> dict[str, float]:
    shutil.copytree(template, root)
    with Project.open(root) as project:
        plan = make_plan(project.root, str(checkpoint), None, project.palette, BATCH)
        clock = _Clock()
        summary = run_prelabel(project, plan, "all", execute, progress=clock)
    if summary.failed or summary.labelled != summary.candidates:
        raise RuntimeError(f"bench prelabel: {root}: {summary.to_json()}")
    return clock.result()


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def run_prelabel_bench(repeats: int = 1, images: int = IMAGES, size: int = SIZE) -> dict[str, Any]:
    """One run per mode (``repeats`` is not used: each run takes a minute on two cores)."""
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="segstudio-bench-prelabel-") as folder:
        tmp = Path(folder)
        template = tmp / "template"
        make_shapes_project(template, n=images, seed=0, size=size).close()
        checkpoint = _checkpoint(tmp)
        result: dict[str, Any] = {
            "model": MODEL,
            "images": images,
            "image_size": size,
            "batch": BATCH,
            "cores": cores,
        }
        result["local"] = _timed_run(template, tmp / "local", checkpoint, local_batches)
        one_thread = partial(local_batches, num_threads=1)
        result["local_1_thread"] = _timed_run(template, tmp / "local1", checkpoint, one_thread)
        with connected(None, num_cpus=cores) as ray:
            on_ray = _timed_run(template, tmp / "ray", checkpoint, cluster_executor(ray, cores))
            result["ray"] = {"actors": cores, **on_ray}
            rate = result["ray"]["images_per_s"]
            result["ray_vs_local"] = round(rate / result["local"]["images_per_s"], 3)
            per_core = result["local_1_thread"]["images_per_s"]
            result["ray_per_actor_vs_1_thread"] = round(rate / cores / per_core, 3)
            result["same_predictions"] = _same_files(tmp / "local/predictions", tmp / "ray/predictions")
            if torch.cuda.is_available() and ray.cluster_resources().get("GPU", 0) >= 1:
                one_gpu = cluster_executor(ray, 1, gpus_per_actor=1.0)
                gpu = _timed_run(template, tmp / "gpu", checkpoint, one_gpu)
                result["ray_1_gpu_actor"] = {"device": torch.cuda.get_device_name(0), **gpu}
        registry.unregister("bench-shapes-net")
    return result
