"""``segstudio bench sam``: what click to segment costs, the image encoder once and the decoder per click.

SAM 2.1 tiny (published weights when they are in the hub cache, else random ones: the cost does not
depend on the weights) on a 1024x1024 photo-like image, on the best device (``SEGSTUDIO_DEVICE``
overrides), with the app's threads (the runner's: on the CPU, every core but one).

- ``embedding_ms``: median image-encoder pass, each on new pixels (never a cache hit);
  ``--repeats 1`` is a smoke run timing the first pass, without a warm-up.
- ``prompt_ms``: median decoder call per click, as a person clicks (one point, then adding points
  up to five, then starting again), the mask returned at the image's size.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch

from segstudio.core.prompts import PromptPoint, Prompts
from segstudio.models import registry
from segstudio.models.runner import Runner
from segstudio.models.sam import SamPredictor, load_predictor
from segstudio.models.weights import WeightsMissing

MODEL = "sam2.1-tiny"
SIDE = 1024
CLICKS_PER_OBJECT = 5


def photo_like(side: int, seed: int = 0) -> np.ndarray:
    """Smooth colour blobs with a little noise: an image with objects, not white noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    rgb = np.zeros((side, side, 3), np.float32)
    for _ in range(12):
        cx, cy, r = rng.random(), rng.random(), 0.05 + 0.15 * rng.random()
        rgb[((x - cx) ** 2 + (y - cy) ** 2) < r * r] = rng.integers(0, 256, 3)
    rgb += rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _predictor(device: torch.device) -> tuple[SamPredictor, str]:
    spec = registry.get_spec(MODEL)
    try:
        return load_predictor(spec, device=device), "published"
    except WeightsMissing:
        torch.manual_seed(0)
        return SamPredictor(spec.build().to(device), "random"), "random (not in the hub cache)"


def run_sam_bench(repeats: int = 5) -> dict[str, Any]:
    """Median embedding and per-click times (see the module notes)."""
    device = Runner().device  # as in the app: on the CPU, every core but one (torch's threads)
    predictor, weights = _predictor(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    image = photo_like(SIDE)
    key = predictor.embed(image) if repeats > 1 else ""  # warm-up: allocator, kernels
    embeddings = []
    for i in range(min(3, repeats)):
        other = image.copy()
        other[0, 0, 0] ^= i + 1  # new pixels: a cache miss each time
        sync()
        start = time.perf_counter()
        key = predictor.embed(other)
        sync()
        embeddings.append((time.perf_counter() - start) * 1000.0)
    rng = np.random.default_rng(1)
    prompts, clicks = Prompts(), []
    predictor.predict(key, Prompts((PromptPoint(SIDE / 2, SIDE / 2),)))  # warm-up
    for n in range(max(CLICKS_PER_OBJECT, 4 * repeats)):
        if n % CLICKS_PER_OBJECT == 0:
            prompts = Prompts()
        x, y = rng.random(2) * (SIDE - 1)
        prompts = prompts.with_point(PromptPoint(float(x), float(y), positive=bool(n % 3 != 2)))
        sync()
        start = time.perf_counter()
        predictor.predict(key, prompts)
        sync()
        clicks.append((time.perf_counter() - start) * 1000.0)
    return {
        "model": MODEL,
        "weights": weights,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "threads": torch.get_num_threads(),
        "image_size": SIDE,
        "embedding_ms": round(statistics.median(embeddings), 1),
        "embeddings_timed": len(embeddings),
        "prompt_ms": round(statistics.median(clicks), 2),
        "clicks_timed": len(clicks),
    }
