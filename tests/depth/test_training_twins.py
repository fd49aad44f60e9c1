"""Training's faster renderer and featuriser give the frames and feature matrices the bundled
forest was trained and measured on, bit for bit."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from segstudio.depth import features_jit
from segstudio.depth.body import Frame, animate, random_scene, render_frame, render_scene
from segstudio.depth.features import FeatureBank, depth_in_metres
from segstudio.depth.frame_pool import rendered_frames
from segstudio.depth.noise import DEFAULT_NOISE, KinectNoise, _draws, kernel_settings, numpy_reading
from segstudio.depth.noise_jit import _kernel, noisy_reading
from segstudio.depth.training import sample_pixels

# sha256 (first 16 hex digits) of depth, parts, clean depth and joints, from the renderer before
# the speed work (commit 01c7b55): box-limited intersection and labelling and the compiled noise
# must not change a bit.
FRAME_DIGESTS = {
    0: "d1d575f4b35f2516",
    1: "8bb2ce4f7b054f6c",
    2: "05d00c8343745b2d",
    3: "9f9a872e9788e1e1",
    7_000_000: "a67a6484d4ca87e4",
}


def _digest(frame: Frame) -> str:
    digest = hashlib.sha256()
    for array in (frame.depth, frame.parts, frame.clean_depth, frame.joints_world):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize("seed", sorted(FRAME_DIGESTS))
def test_frames_are_those_of_the_renderer_before_the_speed_work(seed: int) -> None:
    assert _digest(render_frame(seed)) == FRAME_DIGESTS[seed]


def test_clean_and_animated_frames_are_unchanged_too() -> None:
    assert _digest(render_frame(3, noise=None)) == "6ddea9cbe35166d3"
    assert _digest(animate(5, 1.3)) == "8fa11e1e5f5d8d01"


def test_the_noise_kernel_loads() -> None:
    assert _kernel() is not None  # Numba is a dependency of the dev environment: the fast path must load


MODELS = {
    "default": DEFAULT_NOISE,
    "no shadows": replace(DEFAULT_NOISE, shadows=False),
    "no axial": replace(DEFAULT_NOISE, axial=False),
    "no quantisation": replace(DEFAULT_NOISE, subpixel=0, axial=False),  # axial noise is sized by the steps
    "no dropouts": replace(DEFAULT_NOISE, dropout=0.0, edge_dropout=0.0),
    "short range": replace(DEFAULT_NOISE, max_depth=3.0, edge_jump=0.02),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compiled_noise_is_bit_identical_to_numpy(name: str) -> None:
    """Every term of the model, switched on and off, over whole frames (room, body, edges, shadows)."""
    model: KinectNoise = MODELS[name]
    for seed in (11, 12):
        clean = render_scene(random_scene(np.random.default_rng(seed)), None).clean_depth / 1000.0
        draws = _draws(clean.shape, np.random.default_rng(seed), model)
        compiled = noisy_reading(clean, *draws, kernel_settings(model))
        expected = numpy_reading(clean, *draws, model)
        assert compiled is not None and compiled.dtype == np.uint16
        np.testing.assert_array_equal(compiled, expected)
        assert 0 < np.count_nonzero(expected) < expected.size


def test_compiled_features_are_bit_identical_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probes on and off the body, off the image (offsets up to 300 pixel-metres), unary features."""
    assert features_jit._kernel() is not None
    bank = FeatureBank.random(300, max_offset=300.0, seed=4)
    frame = render_frame(5)
    depth = depth_in_metres(frame.depth)
    pixels, _ = sample_pixels(frame.parts, 700, np.random.default_rng(0))
    compiled = bank.evaluate(depth, pixels)
    subset = bank.evaluate(depth, pixels, np.array([7, 3, 299]))
    monkeypatch.setattr(features_jit, "_kernel", lambda: None)
    expected = bank.evaluate(depth, pixels)
    assert compiled.dtype == expected.dtype == np.float32
    assert compiled.tobytes() == expected.tobytes()
    assert subset.tobytes() == expected[:, [7, 3, 299]].tobytes()
    assert (expected == 0).mean() < 0.5 and (expected > 5).any()  # body, room and off-image probes


def test_frames_rendered_on_worker_processes_are_those_rendered_in_turn() -> None:
    seeds = [9, 4, 100, 2, 31]
    serial = [_digest(frame) for frame in rendered_frames(seeds, processes=1)]
    assert [_digest(frame) for frame in rendered_frames(seeds, processes=2, ahead=1)] == serial
    assert serial == [_digest(render_frame(seed)) for seed in seeds]


def _blas_threads(seed: int) -> int:
    """A stand-in renderer (module level, so a worker can unpickle it): the most threads any BLAS
    library of the process would use."""
    return max((info["num_threads"] for info in threadpool_info()), default=1)


def test_render_workers_keep_blas_to_one_thread() -> None:
    """Rendering's small matrix products woke OpenBLAS's pool, whose spinning threads took ~30 ms
    of CPU a frame from the other worker and the trainer (segstudio/depth/frame_pool.py)."""
    assert set(rendered_frames(range(4), processes=2, ahead=1, render=_blas_threads)) == {1}


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc (Linux)")
def test_render_workers_leave_when_the_training_process_is_killed(tmp_path: Path) -> None:
    """A killed trainer must not leave forked render workers behind."""
    script = tmp_path / "trainer.py"
    script.write_text(
        "import os, sys\n"
        "from segstudio.depth.frame_pool import rendered_frames\n"
        "frames = rendered_frames(range(10_000), processes=2, ahead=1)\n"
        "next(frames)\n"
        "import multiprocessing\n"
        "print(' '.join(str(c.pid) for c in multiprocessing.active_children()), flush=True)\n"
        "sys.stdin.read()\n"
    )
    trainer = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert trainer.stdout is not None
    workers = [int(pid) for pid in trainer.stdout.readline().split()]
    assert len(workers) == 2
    trainer.kill()
    trainer.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan is reaped by init, eventually)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
