"""``segstudio bench models``: inference throughput of the runner on the best device, without Qt.

DeepLabV3-ResNet50 with random weights (no download; speed does not depend on the weights) on
512x512 images: images per second in float32 and, on CUDA, under the runner's default bfloat16
autocast, with the share of pixels whose class agrees between the two; on CUDA also a 12-megapixel
photo through the tiler. ``bench worker`` measures the Qt worker's overhead over these passes.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from segstudio.models import registry
from segstudio.models.runner import LoadedModel, Runner

MODEL = "deeplabv3_resnet50"
PHOTO_SHAPE = (3000, 4000)


def random_model(name: str) -> LoadedModel:
    """A registered architecture with random weights, ready for the runner."""
    spec = registry.get_spec(name)
    return LoadedModel(
        spec.build().eval(), spec.name, tuple(range(len(spec.class_names))), spec.mean, spec.std, spec.task
    )


def _images_per_s(runner: Runner, model: LoadedModel, images: list[np.ndarray], repeats: int) -> float:
    def sync() -> None:
        if runner.device.type == "cuda":
            torch.cuda.synchronize(runner.device)

    runner.predict_semantic_batch(model, images)  # warm-up: cuDNN autotuning, allocator, caches
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        runner.predict_semantic_batch(model, images)
    sync()
    return repeats * len(images) / (time.perf_counter() - start)


def run_models_bench(repeats: int = 15, model_name: str = MODEL, size: int = 512) -> dict[str, Any]:
    """Throughput per precision on the runner's best device (``SEGSTUDIO_DEVICE`` overrides)."""
    model = random_model(model_name)
    probe = Runner()
    device = probe.device
    batch = 8 if device.type == "cuda" else 1
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (size, size, 3), np.uint8) for _ in range(batch)]
    result: dict[str, Any] = {
        "model": model_name,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "image_size": size,
        "batch": batch,
    }
    precisions = {"float32": False, "bfloat16": True} if device.type == "cuda" else {"float32": False}
    decisions = {}
    for name, mixed in precisions.items():
        runner = Runner(device, batch_size=batch, tile_size=max(size, 1024), mixed_precision=mixed)
        result[f"images_per_s_{name}"] = round(_images_per_s(runner, model, images, repeats), 2)
        decisions[name] = runner.predict_semantic(model, images[0]).category
    if "bfloat16" in decisions:
        agreement = float((decisions["bfloat16"] == decisions["float32"]).mean())
        result["bfloat16_label_agreement"] = round(agreement, 4)
        runner = Runner(device, batch_size=batch, tile_size=1024)
        photo = rng.integers(0, 256, (*PHOTO_SHAPE, 3), np.uint8)
        runner.predict_semantic(model, photo)
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        runner.predict_semantic(model, photo)
        torch.cuda.synchronize(device)
        result["photo_12mp_tiled_s"] = round(time.perf_counter() - start, 3)
    return result
