"""Training frames rendered only in the window their probes can reach (``body.window_frame``) come
from the distribution of whole frames (``body.render_frame``): the same cast and the same noise
function there, only the random draws differ."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from segstudio.depth.body import mirror_frame, posed_body, random_scene, render_frame, window_frame
from segstudio.depth.features import MAX_OFFSET_PX_M, FeatureBank
from segstudio.depth.frame_pool import rendered_frames
from segstudio.depth.level_images import CroppedImages
from segstudio.depth.noise import DEFAULT_NOISE, _draws, kernel_settings, numpy_reading, shadow_reach
from segstudio.depth.noise_jit import noisy_reading
from segstudio.depth.parts import BACKGROUND, swap_left_right
from segstudio.depth.render import camera_extrinsics, raycast
from segstudio.depth.training import TrainingParams, refit_images, train_body_parts, training_frames

SEEDS = (0, 5, 17, 7_000_003)


def _scene_primitives(seed: int) -> tuple:
    scene = random_scene(np.random.default_rng(seed))
    _, _, body = posed_body(scene)
    rotation, centre = camera_extrinsics(scene.camera_height, scene.pitch, scene.roll)
    return scene.camera, scene.room.primitives(rotation, centre) + body


@pytest.mark.parametrize("seed", SEEDS)
def test_a_windowed_cast_is_the_whole_frames_cast_inside_the_window(seed: int) -> None:
    camera, primitives = _scene_primitives(seed)
    whole = raycast(camera, primitives)
    for top, bottom, left, right in (
        (0, 480, 0, 640),
        (37, 401, 150, 517),
        (200, 201, 0, 640),
        (0, 90, 600, 640),
    ):
        window = raycast(camera, primitives, (top, bottom, left, right))
        assert window.depth.shape == (bottom - top, right - left)
        np.testing.assert_array_equal(window.depth, whole.depth[top:bottom, left:right])
        np.testing.assert_array_equal(window.parts, whole.parts[top:bottom, left:right])
        np.testing.assert_array_equal(window.primitive, whole.primitive[top:bottom, left:right])


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_noise_in_a_window_is_the_whole_frames_noise_there_given_the_same_draws(seed: int) -> None:
    """Shadows need the ``shadow_reach`` columns to a pixel's right, edges its 4-neighbours: with
    those cast, a window's reading equals the whole frame's, compiled and numpy."""
    camera, primitives = _scene_primitives(seed)
    clean = raycast(camera, primitives).depth
    draws = _draws(clean.shape, np.random.default_rng(seed), DEFAULT_NOISE)
    whole = numpy_reading(clean, *draws, DEFAULT_NOISE)
    reach = shadow_reach(DEFAULT_NOISE)
    readings = []
    for top, bottom, left, right in ((60, 420, 200, 460), (0, 480, 0, 300), (100, 300, 500, 640)):
        cast = (max(0, top - 1), min(480, bottom + 1), max(0, left - 1), min(640, right + reach))
        part = np.s_[cast[0] : cast[1], cast[2] : cast[3]]
        inner = np.s_[top - cast[0] : bottom - cast[0], left - cast[2] : right - cast[2]]
        sub_draws = [np.ascontiguousarray(d[part]) for d in draws]
        sub_clean = np.ascontiguousarray(clean[part])
        expected = whole[top:bottom, left:right]
        np.testing.assert_array_equal(
            numpy_reading(sub_clean, *sub_draws, DEFAULT_NOISE, cast[2])[inner], expected
        )
        compiled = noisy_reading(sub_clean, *sub_draws, kernel_settings(DEFAULT_NOISE, cast[2]))
        assert compiled is not None
        np.testing.assert_array_equal(compiled[inner], expected)
        readings.append(expected.ravel())
    every = np.concatenate(readings)
    assert 0.01 < (every == 0).mean() < 0.99  # holes (shadows, edges, range) and readings both


@pytest.mark.parametrize("seed", SEEDS)
def test_a_window_frame_holds_every_body_pixel_and_the_probes_around_it(seed: int) -> None:
    frame = window_frame(seed, MAX_OFFSET_PX_M)
    top, bottom, left, right = frame.window
    full = render_frame(seed)
    clean = render_frame(seed, noise=None)
    body = clean.parts != BACKGROUND
    assert body[top:bottom, left:right].sum() == body.sum() > 1000
    np.testing.assert_array_equal(
        frame.clean_depth[top:bottom, left:right], full.clean_depth[top:bottom, left:right]
    )
    np.testing.assert_array_equal(frame.joints_world, full.joints_world)
    outside = np.ones(frame.depth.shape, bool)
    outside[top:bottom, left:right] = False
    assert not frame.depth[outside].any() and (frame.parts[outside] == BACKGROUND).all()
    # the crop of all body pixels, the largest a sample can ask for, stays inside the window
    pixels = np.argwhere(frame.parts != BACKGROUND)
    images = CroppedImages.for_bank(FeatureBank.random(500, MAX_OFFSET_PX_M, seed=0))
    images.add(frame.depth, pixels, frame.parts[pixels[:, 0], pixels[:, 1]], frame.window)
    mirrored = mirror_frame(frame)
    images.add(mirrored.depth, np.argwhere(mirrored.parts != BACKGROUND), np.zeros(0), mirrored.window)
    np.testing.assert_array_equal(mirrored.parts, swap_left_right(frame.parts[:, ::-1]))
    assert mirrored.window == (top, bottom, 640 - right, 640 - left)


def test_a_crop_that_leaves_the_rendered_window_is_refused() -> None:
    frame = window_frame(3, MAX_OFFSET_PX_M)
    pixels = np.argwhere(frame.parts != BACKGROUND)
    images = CroppedImages.for_bank(
        FeatureBank.random(50, 2 * MAX_OFFSET_PX_M, seed=0)
    )  # probes reach farther
    with pytest.raises(ValueError, match="leave the rendered window"):
        images.add(frame.depth, pixels, frame.parts[pixels[:, 0], pixels[:, 1]], frame.window)


def test_window_frames_have_the_noise_statistics_of_whole_frames() -> None:
    """Same clean bodies, independent draws: the readings' dropouts and errors agree in distribution
    (per-pixel rates over ~20 frames' body pixels, and the shadows and edges' holes)."""
    stats = {"whole": [], "window": []}
    for seed in range(200, 220):
        clean = render_frame(seed, noise=None)
        body = clean.parts != BACKGROUND
        # ``shadow_reach`` assumes no surface nearer than the sensor's 0.5 m (the scenes keep a metre)
        assert clean.clean_depth[clean.clean_depth > 0].min() >= 1000 * DEFAULT_NOISE.min_depth
        for name, frame in (("whole", render_frame(seed)), ("window", window_frame(seed, MAX_OFFSET_PX_M))):
            top, bottom, left, right = window_frame(seed, MAX_OFFSET_PX_M).window
            area = np.zeros(body.shape, bool)
            area[top:bottom, left:right] = True
            read = frame.depth > 0
            error = frame.depth[body & read].astype(float) - clean.clean_depth[body & read]
            stats[name].append(
                (
                    body.sum(),
                    (body & ~read).sum(),
                    (area & ~read & (clean.clean_depth > 0)).sum(),
                    area.sum(),
                    error.sum(),
                    (error**2).sum(),
                    read[body].sum(),
                )
            )
    whole, window = (np.array(stats[k], float).sum(axis=0) for k in ("whole", "window"))
    holes_whole, holes_window = whole[1] / whole[0], window[1] / window[0]
    assert holes_window == pytest.approx(holes_whole, rel=0.1) and holes_whole > 0.005
    assert window[2] / window[3] == pytest.approx(whole[2] / whole[3], rel=0.03)
    rms_whole, rms_window = np.sqrt(whole[5] / whole[6]), np.sqrt(window[5] / window[6])
    assert rms_window == pytest.approx(rms_whole, rel=0.03)
    assert abs(window[4] / window[6] - whole[4] / whole[6]) < 0.1 * rms_whole


def test_window_frame_training_uses_windowed_frames_and_is_deterministic() -> None:
    params = TrainingParams(
        frames=3, pixels_per_frame=150, features=50, candidate_features=None, min_samples_leaf=2, trees=2,
        depth=6, window_frames=True,
    )  # fmt: skip
    frames = list(training_frames(params))
    assert len(frames) == 6 and all(frame.window is not None for frame in frames)
    first, second = train_body_parts(params), train_body_parts(params)
    np.testing.assert_array_equal(first.forest.threshold, second.forest.threshold)
    assert first.info.window_frames


def test_window_frames_render_on_worker_processes_as_in_turn() -> None:
    render = partial(window_frame, reach=MAX_OFFSET_PX_M)
    seeds = [4, 9, 2]
    serial = list(rendered_frames(seeds, processes=1, render=render))
    pooled = list(rendered_frames(seeds, processes=2, ahead=1, render=render))
    for one, other in zip(serial, pooled, strict=True):
        assert one.window == other.window
        np.testing.assert_array_equal(one.depth, other.depth)
        np.testing.assert_array_equal(one.parts, other.parts)


def test_refit_frames_are_windowed_for_the_refit_forests_reach() -> None:
    """A refit counts every body pixel with the refit forest's bank, whatever ``max_offset`` says."""
    params = TrainingParams(frames=1, refit_frames=1, refit_first_frame=40, mirror=False)
    (near,) = refit_images(params, 60.0)
    (far,) = refit_images(params, 300.0)
    assert near.window is not None and far.window is not None
    assert far.window[0] <= near.window[0] and far.window[2] <= near.window[2]
    assert far.window[1] >= near.window[1] and far.window[3] >= near.window[3] and far.window != near.window
    assert FeatureBank.random(100, 300.0, seed=1).reach <= 300.0
