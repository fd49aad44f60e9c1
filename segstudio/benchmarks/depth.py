"""``segstudio depth bench``: frames per second of the live body-part pipeline on 640x480 frames.

One frame's work, timed from the depth image to joints: depth features and the forest on the body
pixels (lazy: only the offset pairs the trees visit), depth-gated posterior smoothing, and mean-shift joint
proposals. Frames are held-out synthetic frames with one body; rendering them is not timed. The
CPU path runs stage by stage (numpy and OpenCV, the descent and smoothing's window sums compiled
by Numba where it loads: ``device`` says which); when torch is importable and sees a CUDA device, the
whole frame is timed there too (``TorchBodyPipeline``: upload of depth and mask, features,
forest, smoothing, mean shift, read-back of the modes and the host's pick of the best ones,
replayed as a CUDA graph unless ``torch_cuda_graph`` says capture failed).
"""

from __future__ import annotations

import importlib.util
import os
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from segstudio.benchmarks.timing import median_ms
from segstudio.depth.body import Frame, render_frame
from segstudio.depth.descent_jit import leaves_kernel
from segstudio.depth.evaluation import EVAL_FIRST_SEED
from segstudio.depth.joints import propose_joints
from segstudio.depth.model import BodyPartModel, bundled_model_path, smooth
from segstudio.depth.parts import BACKGROUND

BENCH_FRAMES = 3
"""Distinct frames cycled through while timing (bodies at different distances)."""


def _cycle(run: Callable[[int], object], n: int) -> Callable[[], object]:
    """A no-argument callable running ``run`` on frames 0, 1, ..., n-1, 0, ... in turn."""
    state = {"next": 0}

    def step() -> object:
        index = state["next"]
        state["next"] = (index + 1) % n
        return run(index)

    return step


def run_depth_bench(repeats: int = 30, model: BodyPartModel | None = None) -> dict[str, Any]:
    """Median milliseconds per stage and the fps they add up to; JSON-ready."""
    model = model or BodyPartModel.load(bundled_model_path())
    frames = [render_frame(EVAL_FIRST_SEED + k) for k in range(BENCH_FRAMES)]
    pixels = [np.argwhere(frame.parts != BACKGROUND) for frame in frames]
    raw = [model.predict_pixels(f.depth, p) for f, p in zip(frames, pixels, strict=True)]
    smoothed = [smooth(p, r, f.depth) for f, p, r in zip(frames, pixels, raw, strict=True)]

    def forest(i: int) -> object:
        return model.predict_pixels(frames[i].depth, pixels[i])

    def smoothing(i: int) -> object:
        return smooth(pixels[i], raw[i], frames[i].depth)

    def joints(i: int) -> object:
        return propose_joints(frames[i].depth, pixels[i], smoothed[i], frames[i].camera)

    timed = {"forest_ms": forest, "smoothing_ms": smoothing, "joints_ms": joints}
    stages = {name: median_ms(_cycle(fn, BENCH_FRAMES), repeats) for name, fn in timed.items()}
    total = sum(stages.values())
    result: dict[str, Any] = {
        "device": "cpu (numpy + numba)" if leaves_kernel() else "cpu (numpy)",
        "cpu_count": os.cpu_count() or 0,
        "frame": f"{frames[0].depth.shape[1]}x{frames[0].depth.shape[0]}",
        "body_pixels": int(statistics.mean(len(p) for p in pixels)),
        "trees": model.forest.n_trees,
        "tree_depth": model.forest.depth,
        **{name: round(ms, 2) for name, ms in stages.items()},
        "total_ms": round(total, 2),
        "fps": round(1000.0 / total, 1),
    }
    result.update(_torch_bench(model, frames, repeats))
    return result


def _torch_bench(model: BodyPartModel, frames: list[Frame], repeats: int) -> dict[str, Any]:
    """The whole frame with torch on CUDA; ``{}`` without torch, ``torch_device`` None without CUDA."""
    if importlib.util.find_spec("torch") is None:
        return {}
    import torch

    if not torch.cuda.is_available():
        return {"torch_device": None}
    from segstudio.models.body_torch import TorchBodyPipeline

    pipeline = TorchBodyPipeline(model, "cuda", camera=frames[0].camera)
    masks = [frame.parts != BACKGROUND for frame in frames]

    def frame(i: int) -> object:
        out = pipeline(frames[i].depth, masks[i])  # returns after the modes are read back
        torch.cuda.synchronize()  # and the part map is written
        return out

    # Warm-up captures the CUDA graph; sub-millisecond frames are cheap to sample more often.
    frame_ms = median_ms(_cycle(frame, len(frames)), max(repeats, 100), warmup=len(frames))
    return {
        "torch_device": torch.cuda.get_device_name(0),
        "torch_cuda_graph": pipeline.use_graph,
        **({"torch_graph_error": pipeline.graph_error} if pipeline.graph_error else {}),
        "torch_frame_ms": round(frame_ms, 3),
        "torch_fps": round(1000.0 / frame_ms, 1),
    }
