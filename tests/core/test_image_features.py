"""Image filter features: float32 planes in the documented order, known answers on simple images,
tile-wise computation equal to the whole image, and the per-image cache."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segstudio.core.features import PER_SCALE, FeatureCache, FeatureConfig, compute_features

SMALL = FeatureConfig(scales=(1.0, 3.5))


def plane(stack: np.ndarray, config: FeatureConfig, name: str) -> np.ndarray:
    return stack[config.names.index(name)]


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour blobs plus fine noise: every filter has something to respond to."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.uniform(0, 255, (6, 8, 3)).astype(np.float32), (width, height))
    return np.clip(coarse + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)


def test_stack_is_float32_planes_in_name_order() -> None:
    image = photo_like(40, 50)
    stack = compute_features(image)
    config = FeatureConfig()
    assert stack.dtype == np.float32 and stack.shape == (60, 40, 50) == (config.n_features, 40, 50)
    assert stack.flags.c_contiguous and np.isfinite(stack).all()
    assert config.names[:3] == ["L@0.7", "a@0.7", "b@0.7"] and config.names[-1] == "hessian2@10"
    assert len(config.names) == len(set(config.names)) == len(config.scales) * len(PER_SCALE)


def test_uniform_colour_has_its_lab_and_no_structure() -> None:
    image = np.empty((30, 30, 3), np.uint8)
    image[:] = (200, 40, 40)
    lab = cv2.cvtColor(np.float32(image[:1, :1] / 255.0), cv2.COLOR_RGB2Lab)[0, 0]
    stack = compute_features(image, SMALL)
    for i, channel in enumerate("Lab"):
        np.testing.assert_allclose(plane(stack, SMALL, f"{channel}@3.5"), lab[i], atol=1e-3)
    for name in ("gradient", "log", "dog", "st1", "st2", "hessian1", "hessian2"):
        assert np.abs(plane(stack, SMALL, f"{name}@1")).max() < 1e-3, name


def test_filters_respond_where_expected() -> None:
    """A vertical step edge: gradient peaks on it, the Hessian's eigenvalues straddle it with opposite
    signs, the structure tensor has one large eigenvalue there; a bright line is a Hessian valley."""
    image = np.zeros((40, 40), np.uint8)
    image[:, 20:] = 200
    stack = compute_features(image, SMALL)
    gradient = plane(stack, SMALL, "gradient@1")[20]
    assert gradient.argmax() in (19, 20) and gradient[5] < 1e-3
    st1, st2 = plane(stack, SMALL, "st1@1")[20], plane(stack, SMALL, "st2@1")[20]
    assert st1[19] > 100 * max(abs(st2[19]), 1e-3)
    log = plane(stack, SMALL, "log@1")[20]
    assert log[18] > 0 > log[21]  # convex below the step, concave above it

    line = np.zeros((40, 40), np.uint8)
    line[:, 19:21] = 255
    hessian = compute_features(line, SMALL)
    assert plane(hessian, SMALL, "hessian2@1")[20, 19] < -1
    assert abs(plane(hessian, SMALL, "hessian1@1")[20, 19]) < 1


@pytest.mark.parametrize("tile", [64, 100])
def test_tiles_equal_the_whole_image(tile: int) -> None:
    """Tiles with a halo give the whole-image values bit for bit (tiles start on ``ALIGN`` columns, so
    OpenCV's SIMD loops round every pixel alike); one pixel less of halo already differs."""
    image = photo_like(190, 270, seed=1)
    whole = compute_features(image, FeatureConfig(tile=4096), threads=1)
    np.testing.assert_array_equal(compute_features(image, FeatureConfig(tile=tile)), whole)


def test_threads_cut_bands_of_rows_with_the_same_result() -> None:
    image = photo_like(190, 270, seed=2)
    assert 190 // (4 * SMALL.halo) >= 2  # tall enough to be cut for two threads
    whole = compute_features(image, SMALL, threads=1)
    np.testing.assert_array_equal(compute_features(image, SMALL, threads=3), whole)


def test_a_short_halo_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    image = photo_like(190, 270, seed=1)
    whole = compute_features(image, FeatureConfig(tile=4096))
    monkeypatch.setattr(FeatureConfig, "halo", property(lambda self: 60))
    assert not np.array_equal(compute_features(image, FeatureConfig(tile=64)), whole)


def test_halo_covers_the_reach_of_the_filters() -> None:
    assert FeatureConfig().halo == 40 + 1 + 20  # 4 sigma at 10, one difference, 4 sigma at 5 (outer)
    assert FeatureConfig(scales=(1.0,)).halo == 4 + 1 + 2


def test_grey_input_and_bad_input() -> None:
    grey = photo_like(20, 24)[:, :, 0]
    stack = compute_features(grey, SMALL)
    np.testing.assert_allclose(plane(stack, SMALL, "a@1"), 0, atol=0.1)  # grey: no chroma
    with pytest.raises(ValueError, match="uint8"):
        compute_features(grey.astype(np.float32), SMALL)
    with pytest.raises(ValueError, match="scales"):
        FeatureConfig(scales=())


def test_cache_reuses_stacks_per_image_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from segstudio.core import features

    calls = []
    real = features._compute_tile
    monkeypatch.setattr(features, "_compute_tile", lambda *a: calls.append(1) or real(*a))
    cache = FeatureCache(max_entries=2)
    image = photo_like(20, 20)
    first = cache.get("a.jpg", 1, image, SMALL)
    again = cache.get("a.jpg", 1, image, SMALL)
    assert np.shares_memory(again, first) and len(calls) == 1 and cache.has("a.jpg", 1, SMALL)
    assert not first.flags.writeable
    edited = cache.get("a.jpg", 2, image, SMALL)  # a new version replaces the stale one
    assert not np.shares_memory(edited, first) and len(calls) == 2 and cache.nbytes == first.nbytes
    cache.get("b.jpg", 1, image, SMALL)
    cache.get("c.jpg", 1, image, SMALL)  # over max_entries: a.jpg (least recently used) goes
    cache.get("a.jpg", 2, image, SMALL)
    assert len(calls) == 5
    cache.clear()
    assert cache.nbytes == 0


def test_a_stopped_stack_keeps_its_tiles_and_the_next_call_computes_only_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from segstudio.core import features

    image = photo_like(200, 260, seed=2)
    config = FeatureConfig(scales=(1.0, 3.5), tile=64)
    cache = FeatureCache()
    checks = []

    def stop_at_third() -> None:
        checks.append(1)
        if len(checks) == 3:
            raise RuntimeError("a newer stroke")

    computed = []
    real = features._compute_tile
    monkeypatch.setattr(features, "_compute_tile", lambda *a: computed.append(a[3]) or real(*a))
    with pytest.raises(RuntimeError):
        cache.get("img", 1, image, config, check=stop_at_third)
    first = list(computed)
    assert first and not cache.has("img", 1, config)
    stack = cache.get("img", 1, image, config)
    assert set(computed[len(first) :]).isdisjoint(first)  # no finished tile is computed again
    assert len(computed) == len(features.feature_tiles(image.shape[:2], config, features.worker_threads()))
    np.testing.assert_array_equal(stack, compute_features(image, config))


def test_a_half_precision_stack_is_the_float32_one_rounded() -> None:
    image = photo_like(90, 120, seed=4)
    half = compute_features(image, SMALL, dtype=np.float16)
    assert half.dtype == np.float16 and half.nbytes * 2 == compute_features(image, SMALL).nbytes
    np.testing.assert_array_equal(half, compute_features(image, SMALL).astype(np.float16))
