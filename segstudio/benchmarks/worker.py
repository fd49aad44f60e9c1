"""``segstudio bench worker``: does the window stay responsive while the worker runs a big model?

The real :class:`~segstudio.gui.threads.worker.Worker` runs the real model backend
(:class:`~segstudio.models.service.ModelService`) on DeepLabV3-ResNet50 (torchvision's
``deeplabv3_resnet50`` builder, random weights: nothing is downloaded) over photo-like images,
one job per image, while the GUI thread spins a Qt event loop with a ``PROBE_MS`` QTimer probe.

- ``max_stall_ms``: the longest gap between two probe ticks beyond the probe interval (goal
  <= 50): how long the event loop was kept from running by the worker (the GIL, signal floods).
- ``overhead_ratio``: wall time per image through the worker (submit to result on the GUI
  thread) over a bare ``Runner.predict_labels`` on the same runner (goal <= 1.10).
- ``device`` (where the worker ran: CPU unless ``device`` is given), and when CUDA is available
  ``images_per_s`` through the worker on the GPU.

``repeats`` is the number of images per measurement, capped at ``MAX_CPU_IMAGES`` on the CPU,
where one forward pass at 512x512 takes seconds.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QCoreApplication

from segstudio.benchmarks.images import photo_like
from segstudio.benchmarks.stall import PROBE_MS, StallProbe, run_on_worker
from segstudio.core.jobs import CancelToken
from segstudio.core.palette import Palette, builtin_palette
from segstudio.gui.threads.worker import Job, JobContext
from segstudio.models import registry
from segstudio.models.service import ModelService, project_class_ids

MODEL = "deeplabv3_resnet50"
SIZE = 512
MAX_CPU_IMAGES = 3
TIMEOUT_S = 600.0
GOALS = {"max_stall_ms": 50.0, "overhead_ratio": 1.10}


def random_weights(name: str) -> str:
    """Register ``name`` without weight sources as ``NAME-random`` (built with random weights)."""
    random_name = f"{name}-random"
    if random_name not in {spec.name for spec in registry.list_specs()}:
        spec = registry.get_spec(name)
        registry.register(
            dataclasses.replace(spec, name=random_name, weights=(), description=f"{name}, random weights")
        )
    return random_name


def _bare_ms(service: ModelService, name: str, images: list[np.ndarray], palette: Palette) -> float:
    """Mean time of a bare ``predict_labels`` per image, after one warm-up pass."""
    runner = service.runner()
    model = runner.load(name)
    class_ids = project_class_ids(registry.get_spec(name), palette)
    runner.predict_labels(model, images[0], class_ids=class_ids)
    start = time.perf_counter()
    for rgb in images:
        runner.predict_labels(model, rgb, class_ids=class_ids)
    return (time.perf_counter() - start) * 1000 / len(images)


def _through_worker(
    service: ModelService, name: str, images: list[np.ndarray], palette: Palette, probe: StallProbe | None
) -> float:
    """Mean wall time per image from submitting one job per image to the last result, in ms."""

    def job(rgb: np.ndarray) -> Any:
        def run(context: JobContext) -> Any:
            token: CancelToken = context.token
            return service.prelabel(name, None, rgb, palette, token, context.progress, context.message)

        return run

    jobs = [Job("bench", str(number), job(rgb), title=f"image {number}") for number, rgb in enumerate(images)]
    _, elapsed = run_on_worker(jobs, TIMEOUT_S, probe)
    return elapsed * 1000 / len(images)


def run_worker_bench(
    repeats: int = 15, size: int = SIZE, model: str = MODEL, device: str = "cpu"
) -> dict[str, object]:
    """Stall, overhead and device of the worker on ``model`` (see the module notes)."""
    QCoreApplication.instance() or QCoreApplication([])  # QtCore only: runs where QtWidgets is absent
    name = random_weights(model)
    try:
        return _measure(name, model, repeats, size, device)
    finally:
        registry.unregister(name)


def _measure(name: str, model: str, repeats: int, size: int, device: str) -> dict[str, object]:
    palette = builtin_palette("voc")
    count = max(1, min(repeats, MAX_CPU_IMAGES)) if device == "cpu" else max(1, repeats)
    images = [photo_like(size, size, seed) for seed in range(count)]
    service = ModelService(device)
    bare_ms = _bare_ms(service, name, images, palette)  # also loads the model: not timed below
    probe = StallProbe()
    worker_ms = _through_worker(service, name, images, palette, probe)
    result: dict[str, object] = {
        "model": model,
        "weights": "random",
        "image": f"{size}x{size}",
        "images": count,
        "device": service.device,
        "cpu_count": os.cpu_count() or 1,
        "torch_threads": torch.get_num_threads(),
        "bare_ms_per_image": round(bare_ms, 1),
        "worker_ms_per_image": round(worker_ms, 1),
        "overhead_ratio": round(worker_ms / bare_ms, 3),
        "max_stall_ms": round(probe.max_stall_ms, 1),
        "probe_interval_ms": PROBE_MS,
        "probe_ticks": probe.ticks,
        "goals": GOALS,
    }
    if torch.cuda.is_available():
        gpu = ModelService("cuda")
        gpu_images = [photo_like(size, size, seed) for seed in range(max(repeats, 4))]
        _bare_ms(gpu, name, gpu_images[:1], palette)  # load and warm up on the GPU
        per_image = _through_worker(gpu, name, gpu_images, palette, None)
        result["images_per_s"] = round(1000 / per_image, 2)
        result["images_per_s_device"] = torch.cuda.get_device_name()
    return result
