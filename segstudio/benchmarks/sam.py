"""``segstudio bench sam``: what click to segment costs, the image encoder once and the decoder per click.

SAM 2.1 tiny (published weights when they are in the hub cache, else random ones: the cost does not
depend on the weights) on a 1024x1024 photo-like image, on the best device (``SEGSTUDIO_DEVICE``
overrides), with the app's threads (the runner's: on the CPU, every core but one).

- ``embedding_ms``: median image-encoder pass, each on new pixels (never a cache hit), run as the
  app runs it: a job on the real worker thread; ``--repeats 1`` is a smoke run timing the first
  pass, without a warm-up.
- ``embed_max_stall_ms``: the GUI thread's longest stall while those embedding jobs ran (a
  ``PROBE_MS`` QTimer probe, as ``bench worker``; goal <= 50): the GIL held by the job's Python.
  ``idle_max_stall_ms`` is the same probe for ``IDLE_S`` with no job: what the machine's other
  load costs the GUI thread by itself (on a busy shared VM it is not 0).
- ``prompt_ms``: median decoder call per click, as a person clicks (one point, then adding points
  up to five, then starting again), the mask returned at the image's size (goal <= 50 on CPU),
  as the app runs it: on the CPU each click's threads chosen by ``models.click_threads`` from the
  clicks before it (``click_threads`` counts its choices); ``prompt_threads_ms`` the same clicks
  (interleaved) with each thread count fixed, from the runner's to every core, on the CPU, as the
  app runs that many (``click_threads.setting``: beyond the runner's, side by side).
  ``prompt_cpu_ms``: the same clicks' median CPU time of the calling thread at the runner's threads
  (at one thread, as on a 2-core machine, all of a click's work): on a busy shared machine the
  wall time also counts the waits for a core, this does not (the memory and caches others share
  still count).
- ``click_stall_ms``: the GUI thread's longest stall while clicks run as jobs on the worker (the
  same probe), per thread count as ``prompt_threads_ms``.
- ``sam2_prompt_ms``: the same clicks through sam2's own ``SAM2ImagePredictor.predict`` on the same
  embedding, interleaved with ours; ``prompt_speedup`` is their ratio (one run, one machine).
- ``mask_12mp_ms``: turning one click's logits into the mask of a 4000 x 3000 photo, the only
  part of a click that grows with the image; ``sam2_mask_12mp_ms`` sam2's own way, same run.
- ``decoder_gflop``: the floating-point work of one click (torch's flop counter), so ``prompt_ms``
  can be read against the CPU's speed; ``sam2_decoder_gflop`` the same for sam2's own path.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from torch.utils.flop_counter import FlopCounterMode

from segstudio.benchmarks.stall import PROBE_MS, StallProbe, run_on_worker
from segstudio.core.jobs import CancelToken
from segstudio.core.prompts import PromptPoint, Prompts
from segstudio.gui.threads.worker import Job, JobContext, Priority
from segstudio.models import registry
from segstudio.models.click_threads import ClickThreads, setting
from segstudio.models.runner import Runner
from segstudio.models.sam import SamPredictor, load_predictor, prompt_arrays
from segstudio.models.weights import WeightsMissing

MODEL = "sam2.1-tiny"
SIDE = 1024
CLICKS_PER_OBJECT = 5
PHOTO_HW = (3000, 4000)
"""A 12 MP photo, for the part of a click that grows with the image (the mask at its size)."""
TIMEOUT_S = 1200.0
IDLE_S = 3.0
GOALS = {"prompt_ms": 50.0, "embed_max_stall_ms": 50.0}


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


def _embed_on_worker(predictor: SamPredictor, images: list[np.ndarray], probe: StallProbe) -> list[float]:
    """Embed each image as a job on the app's worker thread (as ``SamJobs.prefetch`` does), the GUI
    thread spinning its event loop with ``probe``; each job's own time, in ms."""

    def job(number: int, rgb: np.ndarray) -> Job:
        def run(context: JobContext) -> float:
            token: CancelToken = context.token
            start = time.perf_counter()
            predictor.embed(rgb, token)
            return (time.perf_counter() - start) * 1000.0

        return Job("sam-embed", str(number), run, Priority.INTERACTIVE, "Embedding the image for SAM")

    jobs = [job(number, rgb) for number, rgb in enumerate(images)]
    times, _ = run_on_worker(jobs, TIMEOUT_S, probe)
    return times


@contextmanager
def _threads(count: int, narrow: int) -> Iterator[None]:
    """The block on ``count`` threads as the app runs that many, ``narrow`` being the runner's
    (``click_threads.setting``: more than it side by side, each op on one torch thread), then
    torch's threads restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(narrow)
    try:
        with setting(count, narrow):
            yield
    finally:
        torch.set_num_threads(before)


def _predict_as_app(predictor: SamPredictor, policy: ClickThreads | None, key: str, prompts: Prompts) -> None:
    """``predictor.predict`` with the app's per-click thread choice."""
    predictor.click_threads = policy
    try:
        predictor.predict(key, prompts)
    finally:
        predictor.click_threads = None


def _clicks_on_worker(
    predictor: SamPredictor, key: str, clicks: list[Prompts], threads: int, narrow: int
) -> float:
    """The GUI thread's longest stall (ms) while ``clicks`` run one by one as jobs on the app's worker
    thread with ``threads`` torch threads, as ``SamJobs`` submits them."""

    def job(number: int, prompts: Prompts) -> Job:
        def run(context: JobContext) -> None:
            with _threads(threads, narrow):
                predictor.predict(key, prompts)

        return Job("sam-prompt", str(number), run, Priority.INTERACTIVE, "SAM click")

    probe = StallProbe()
    run_on_worker([job(number, prompts) for number, prompts in enumerate(clicks)], TIMEOUT_S, probe)
    return probe.max_stall_ms


def _idle_stall_ms() -> float:
    """The probe's longest stall over ``IDLE_S`` with the event loop idle (no job anywhere)."""
    probe, loop = StallProbe(), QEventLoop()
    QTimer.singleShot(int(IDLE_S * 1000), loop.quit)
    probe.start()
    loop.exec()
    probe.stop()
    return probe.max_stall_ms


def _sam2_predict(predictor: SamPredictor, key: str, prompts: Prompts) -> None:
    """sam2's own ``SAM2ImagePredictor.predict`` on ``key``'s embedding, its best mask as a bool
    array: what ``SamPredictor.predict`` did before it prepared the image half and upsampled one mask."""
    predictor._use(predictor._cache[key])
    coords, labels, box = prompt_arrays(prompts)
    with torch.inference_mode():
        masks, scores, _ = predictor._predictor.predict(
            coords, labels, box, multimask_output=len(prompts.points) == 1 and prompts.box is None
        )
    np.asarray(masks[int(np.argmax(scores))], dtype=bool)


def _mask_at_photo_size(predictor: SamPredictor, repeats: int) -> tuple[float, float]:
    """Median ms to turn one click's 256-px logits into the mask of a 4000 x 3000 photo: ours, then
    sam2's own post-processing and threshold (the rest of a click does not depend on the size)."""
    logits = torch.from_numpy(photo_like(256, seed=2)[..., 0].astype(np.float32) - 128.0)
    ours, theirs = [], []
    transforms, threshold = predictor._predictor._transforms, predictor._predictor.mask_threshold
    for _ in range(repeats):
        start = time.perf_counter()
        predictor._mask_at_size(logits, PHOTO_HW)
        middle = time.perf_counter()
        (transforms.postprocess_masks(logits[None, None], PHOTO_HW)[0, 0] > threshold).cpu().numpy()
        ours.append((middle - start) * 1000.0)
        theirs.append((time.perf_counter() - middle) * 1000.0)
    return statistics.median(ours), statistics.median(theirs)


def run_sam_bench(repeats: int = 5) -> dict[str, Any]:
    """Median embedding and per-click times and the GUI's stall (see the module notes)."""
    QCoreApplication.instance() or QCoreApplication([])  # QtCore only, for the worker and the probe
    device = Runner().device  # as in the app: on the CPU, every core but one (torch's threads)
    predictor, weights = _predictor(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    image = photo_like(SIDE)
    key = predictor.embed(image) if repeats > 1 else ""  # warm-up: allocator, kernels
    others = []
    for i in range(min(3, repeats)):
        other = image.copy()
        other[0, 0, 0] ^= i + 1  # new pixels: a cache miss each time
        others.append(other)
    idle_stall_ms = _idle_stall_ms()
    probe = StallProbe()
    embeddings = _embed_on_worker(predictor, others, probe)
    key = predictor.key(others[-1])
    rng = np.random.default_rng(1)
    app_threads = torch.get_num_threads()
    counts = sorted({app_threads, os.cpu_count() or 1}) if device.type == "cpu" else [app_threads]
    policy, predictor.click_threads = predictor.click_threads, None  # fixed counts but in ``as_app``
    prompts, sets, reference, as_app = Prompts(), [], [], []
    clicks: dict[int, list[float]] = {count: [] for count in counts}
    cpu: list[float] = []
    first = Prompts((PromptPoint(SIDE / 2, SIDE / 2),))
    predictor.predict(key, first)  # warm-up
    _sam2_predict(predictor, key, first)
    with FlopCounterMode(display=False) as flops:
        predictor.predict(key, first)
    with FlopCounterMode(display=False) as sam2_flops:
        _sam2_predict(predictor, key, first)
    for n in range(max(CLICKS_PER_OBJECT, 4 * repeats)):
        if n % CLICKS_PER_OBJECT == 0:
            prompts = Prompts()
        x, y = rng.random(2) * (SIDE - 1)
        prompts = prompts.with_point(PromptPoint(float(x), float(y), positive=bool(n % 3 != 2)))
        sets.append(prompts)
        runs = [(predictor.predict, clicks[count], count) for count in counts]
        runs.append((partial(_predict_as_app, predictor, policy), as_app, app_threads))
        for run, times, threads in [*runs, (partial(_sam2_predict, predictor), reference, app_threads)]:
            with _threads(threads, app_threads):
                sync()
                start, start_cpu = time.perf_counter(), time.thread_time()
                run(key, prompts)
                sync()
                times.append((time.perf_counter() - start) * 1000.0)
                if times is clicks[app_threads]:
                    cpu.append((time.thread_time() - start_cpu) * 1000.0)
    prompt_ms, sam2_ms = statistics.median(as_app), statistics.median(reference)
    stalls = {count: _clicks_on_worker(predictor, key, sets, count, app_threads) for count in counts}
    mask_ms, sam2_mask_ms = _mask_at_photo_size(predictor, max(3, repeats))
    return {
        "model": MODEL,
        "weights": weights,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "threads": torch.get_num_threads(),
        "image_size": SIDE,
        "embedding_ms": round(statistics.median(embeddings), 1),
        "embeddings_timed": len(embeddings),
        "embed_max_stall_ms": round(probe.max_stall_ms, 1),
        "idle_max_stall_ms": round(idle_stall_ms, 1),
        "probe_interval_ms": PROBE_MS,
        "prompt_ms": round(prompt_ms, 2),
        "prompt_cpu_ms": round(statistics.median(cpu), 2),
        "prompt_threads_ms": {str(count): round(statistics.median(clicks[count]), 2) for count in counts},
        "click_threads": {str(n): runs for n, runs in sorted(policy.chosen.items())} if policy else {},
        "click_stall_ms": {str(count): round(stall, 1) for count, stall in stalls.items()},
        "sam2_prompt_ms": round(sam2_ms, 2),
        "prompt_speedup": round(sam2_ms / prompt_ms, 2),
        "decoder_gflop": round(flops.get_total_flops() / 1e9, 2),
        "sam2_decoder_gflop": round(sam2_flops.get_total_flops() / 1e9, 2),
        "clicks_timed": len(clicks[app_threads]),
        "mask_12mp_ms": round(mask_ms, 2),
        "sam2_mask_12mp_ms": round(sam2_mask_ms, 2),
        "goals": GOALS,
    }
