"""The runner: palette mapping, tiling, batching, cancellation, OOM fallback, devices, registered models."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from segstudio.core.jobs import Cancelled, CancelToken
from segstudio.core.labels import VOID, Provenance
from segstudio.models import registry
from segstudio.models.panoptic_fpn import MergeSettings
from segstudio.models.runner import (
    MIN_TILE,
    LoadedModel,
    Runner,
    blend_window,
    choose_device,
    tile_starts,
)

IDENTITY = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


@pytest.fixture(autouse=True)
def keep_threads() -> Iterator[None]:
    """Runners change torch's process-wide thread count; later tests get it back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


class ColourNet(nn.Module):
    """Pointwise: the logits are the RGB channels, so the class is the dominant colour.

    ``smooth`` adds a 5x5 box blur (not pointwise: tiles then differ near their borders).
    ``oom_above`` raises CUDA's out-of-memory error for inputs with more pixels than that, and
    ``oom_on`` for inputs on that device type; ``calls`` counts forward passes.
    """

    def __init__(self, smooth: bool = False, oom_above: int | None = None, oom_on: str | None = None) -> None:
        super().__init__()
        self.smooth, self.oom_above, self.oom_on = smooth, oom_above, oom_on
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        if self.oom_on == x.device.type or (self.oom_above and x.shape[-1] * x.shape[-2] > self.oom_above):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.smooth:
            x = nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)
        return x * 10


def colour_model(net: nn.Module | None = None, class_ids: tuple[int, ...] = (10, 20, 30)) -> LoadedModel:
    return LoadedModel(net or ColourNet(), "colour", class_ids, *IDENTITY)


def blocks(height: int = 150, width: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An image of random red/green/blue blocks and the index (0, 1, 2) of each pixel's colour."""
    rng = np.random.default_rng(seed)
    index = np.kron(rng.integers(0, 3, (height // 10 + 1, width // 10 + 1)), np.ones((10, 10), int))
    index = index[:height, :width]
    rgb = (np.eye(3)[index] * 200 + 20).astype(np.uint8)
    return rgb, index


def test_classes_become_palette_ids_with_confidence() -> None:
    rgb, index = blocks()
    prediction = Runner("cpu").predict_semantic(colour_model(), rgb, probabilities=True)
    assert prediction.category.dtype == np.uint16
    np.testing.assert_array_equal(prediction.category, np.array([10, 20, 30])[index])
    assert prediction.confidence.shape == index.shape and prediction.confidence.min() > 0.99
    np.testing.assert_allclose(prediction.probabilities.sum(axis=0), 1, atol=1e-5)
    labels = prediction.to_labels()
    assert labels.provenance.max() == Provenance.MODEL


def test_a_void_class_id_leaves_pixels_unlabelled_and_counts_must_match() -> None:
    rgb, index = blocks()
    runner = Runner("cpu")
    category = runner.predict_semantic(colour_model(), rgb, class_ids=(5, VOID, 7)).category
    np.testing.assert_array_equal(category, np.array([5, VOID, 7])[index])
    with pytest.raises(ValueError, match="3 classes but 2 class ids"):
        runner.predict_semantic(colour_model(), rgb, class_ids=(1, 2))


def test_semantic_blobs_of_thing_classes_become_separate_instances() -> None:
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 1] = 200  # green: class 20, stuff
    rgb[5:15, 5:15] = rgb[25:35, 40:55] = (200, 0, 0)  # two red objects: class 10, a thing
    runner = Runner("cpu")
    labels, _ = runner.predict_labels(colour_model(), rgb, thing_ids={10, 30})
    first, second = int(labels.instance[10, 10]), int(labels.instance[30, 45])
    assert first and second and first != second
    assert (labels.instance[5:15, 5:15] == first).all() and (labels.instance[25:35, 40:55] == second).all()
    assert (labels.instance[labels.category == 20] == 0).all()
    untold, _ = runner.predict_labels(colour_model(), rgb)  # no thing classes given: no instances
    assert (untold.category == labels.category).all() and not untold.instance.any()


class ConvColourNet(nn.Module):
    """ColourNet through a real 3x3 convolution, so autocast has a matrix product to lower."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :, 1, 1] = torch.eye(3) * 10

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_mixed_precision_gives_the_float32_decisions() -> None:
    """bfloat16 autocast (the default on CUDA) is also allowed on the CPU, where CI can check it."""
    rgb, index = blocks()
    net = ConvColourNet()
    dtypes: list[torch.dtype] = []
    net.conv.register_forward_hook(lambda module, args, output: dtypes.append(output.dtype))
    model = colour_model(net)
    half = Runner("cpu", mixed_precision=True, tile_size=64, tile_overlap=16).predict_semantic(model, rgb)
    full = Runner("cpu", mixed_precision=False, tile_size=64, tile_overlap=16).predict_semantic(model, rgb)
    np.testing.assert_array_equal(half.category, np.array([10, 20, 30])[index])
    np.testing.assert_array_equal(half.category, full.category)
    assert set(dtypes) == {torch.bfloat16, torch.float32}  # the half run really ran in bfloat16
    np.testing.assert_allclose(half.confidence, full.confidence, atol=0.02)


def test_tile_layout_covers_with_overlap() -> None:
    assert tile_starts(100, 128, 16) == [0]
    starts = tile_starts(300, 128, 32)
    assert starts[0] == 0 and starts[-1] == 300 - 128
    assert all(b - a <= 128 - 32 for a, b in zip(starts, starts[1:], strict=False))
    window = blend_window(64, 64, 16)
    assert window.min() > 0 and window[32, 32] == 1 and window[0, 0] < window[8, 8]


def test_tiles_blend_to_the_whole_image_result() -> None:
    rgb, index = blocks(150, 200)
    ticks: list[tuple[int, int]] = []
    tiled = Runner("cpu", tile_size=64, tile_overlap=16, batch_size=3)
    net = ColourNet()
    prediction = tiled.predict_semantic(colour_model(net), rgb, progress=lambda d, t: ticks.append((d, t)))
    n_tiles = len(tile_starts(150, 64, 16)) * len(tile_starts(200, 64, 16))
    assert all(shape[-2:] == (64, 64) for shape in net.calls)
    assert ticks[-1] == (n_tiles, n_tiles) and len(net.calls) == -(-n_tiles // 3)
    np.testing.assert_array_equal(prediction.category, np.array([10, 20, 30])[index])
    whole = Runner("cpu").predict_semantic(colour_model(), rgb)
    np.testing.assert_allclose(prediction.confidence, whole.confidence, rtol=1e-5)  # weights normalised
    # A model with context: tiles disagree with the whole image only near seams, if at all.
    smooth_tiled = tiled.predict_semantic(colour_model(ColourNet(smooth=True)), rgb).category
    smooth_whole = Runner("cpu").predict_semantic(colour_model(ColourNet(smooth=True)), rgb).category
    assert (smooth_tiled == smooth_whole).mean() > 0.99


def test_equal_sized_images_share_batches() -> None:
    net = ColourNet()
    images = [blocks(40, 60, seed)[0] for seed in range(5)] + [blocks(30, 30, 9)[0]]
    results = Runner("cpu", batch_size=4).predict_semantic_batch(colour_model(net), images)
    assert sorted(shape[0] for shape in net.calls) == [1, 1, 4]
    for rgb, result in zip(images, results, strict=True):
        single = Runner("cpu").predict_semantic(colour_model(), rgb)
        np.testing.assert_array_equal(result.category, single.category)


def test_cancel_stops_between_batches() -> None:
    net = ColourNet()
    token = CancelToken()
    runner = Runner("cpu", tile_size=64, tile_overlap=8, batch_size=1)
    with pytest.raises(Cancelled):
        runner.predict_semantic(
            colour_model(net), blocks()[0], progress=lambda d, t: token.cancel(), cancel=token
        )
    assert len(net.calls) == 1


def test_out_of_memory_falls_back_to_tiles_then_reports() -> None:
    rgb, index = blocks(300, 300)
    messages: list[str] = []
    runner = Runner("cpu", batch_size=2, message=messages.append)
    net = ColourNet(oom_above=160 * 160)
    prediction = runner.predict_semantic(colour_model(net), rgb)
    np.testing.assert_array_equal(prediction.category, np.array([10, 20, 30])[index])
    last_pass = net.calls[-1]
    assert last_pass[0] == 1 and MIN_TILE <= last_pass[-1] <= 160
    assert any("one tile at a time" in m for m in messages) and any("tiles of" in m for m in messages)


def test_after_an_out_of_memory_fallback_the_next_run_starts_from_the_normal_settings() -> None:
    """One large image ran out of memory; the images after it run in full batches and tiles again."""
    messages: list[str] = []
    runner = Runner("cpu", tile_size=256, tile_overlap=32, batch_size=2, message=messages.append)
    net = ColourNet(oom_above=160 * 160)
    runner.predict_semantic(colour_model(net), blocks(300, 300)[0])
    assert messages and (runner.batch_size, runner.tile_size, runner.tile_overlap) == (2, 256, 32)
    net.calls.clear()
    small = [blocks(100, 100, seed)[0] for seed in range(2)]
    runner.predict_semantic_batch(colour_model(net), small)
    assert net.calls == [(2, 3, 100, 100)]  # one pass of both images: no fallback left over


def test_out_of_memory_at_the_smallest_tile_moves_to_the_cpu() -> None:
    messages: list[str] = []
    runner = Runner("cpu", message=messages.append)
    runner.device = torch.device("meta")  # stands in for a GPU: the net "runs out of memory" there
    rgb, index = blocks(MIN_TILE, MIN_TILE)
    net = ColourNet(oom_on="meta")
    prediction = runner.predict_semantic(colour_model(net), rgb)
    np.testing.assert_array_equal(prediction.category, np.array([10, 20, 30])[index])
    assert net.calls[-1] == (1, 3, MIN_TILE, MIN_TILE) and "running on the CPU" in messages[-1]
    assert runner.device.type == "meta"  # the next image tries the "GPU" again
    with pytest.raises(torch.OutOfMemoryError):  # on the CPU there is nowhere left to go
        Runner("cpu").predict_semantic(colour_model(ColourNet(oom_on="cpu")), rgb)


def test_device_choice_and_cpu_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    messages: list[str] = []
    assert choose_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert choose_device("cuda:99", messages.append).type == expected
    assert choose_device("banana", messages.append).type == expected
    assert len(messages) == 2 and "'cuda:99' is not available" in messages[0]
    monkeypatch.setenv("SEGSTUDIO_DEVICE", "cpu")
    assert choose_device().type == "cpu"
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    torch.set_num_threads(1)
    Runner("cpu")
    assert torch.get_num_threads() == 3  # one core left to the GUI
    Runner("cpu", num_threads=2)
    assert torch.get_num_threads() == 2


def test_a_registered_model_runs_by_name_in_palette_ids_with_thing_instances() -> None:
    spec = registry.ModelSpec(
        "test-colour",
        "semantic",
        ("red", "green", "blue"),
        lambda n: ColourNet(),
        mean=IDENTITY[0],
        std=IDENTITY[1],
    )
    registry.register(spec, replace=True)
    try:
        rgb, index = blocks()
        runner = Runner("cpu")
        labels, confidence = runner.predict_labels(
            runner.load("test-colour"), rgb, class_ids=(4, 5, 6), thing_ids=frozenset({4})
        )
        assert runner.load("test-colour") is runner.load("test-colour")  # cached by name
        np.testing.assert_array_equal(labels.category, np.array([4, 5, 6])[index])
        things = labels.category == 4
        assert labels.instance[things].all() and not labels.instance[~things].any()
        assert confidence.shape == rgb.shape[:2]
    finally:
        registry.unregister("test-colour")


class FakeDetector(nn.Module):
    """A Mask R-CNN-shaped output: two squares (scores 0.9 and 0.3), optionally a stuff map."""

    def __init__(self, panoptic: bool) -> None:
        super().__init__()
        self.panoptic = panoptic

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        height, width = images[0].shape[-2:]
        masks = torch.zeros(2, 1, height, width)
        masks[0, 0, 10:30, 10:30] = 0.9
        masks[1, 0, 40:60, 40:60] = 0.8
        out = {
            "boxes": torch.tensor([[10.0, 10, 30, 30], [40, 40, 60, 60]]),
            "labels": torch.tensor([1, 2]),
            "scores": torch.tensor([0.9, 0.3]),
            "masks": masks,
        }
        if self.panoptic:
            sem = torch.zeros(2, height, width)
            sem[1, :, width // 2 :] = 5  # channel 1 = the first stuff class, right half
            out["sem_seg"] = sem
        return [out]


@pytest.mark.parametrize("panoptic", [False, True])
def test_instance_and_panoptic_outputs_become_label_maps(panoptic: bool) -> None:
    model = LoadedModel(
        FakeDetector(panoptic),
        "fake",
        (0, 101, 102, 200),  # background, two things, one stuff
        *IDENTITY,
        task="panoptic" if panoptic else "instance",
        output="panoptic" if panoptic else "detections",
        num_things=2,
    )
    rgb = np.zeros((64, 80, 3), np.uint8)
    merge = MergeSettings(stuff_area_limit=1)  # thing_ids are for semantic models: 200 stays stuff here
    labels, confidence = Runner("cpu").predict_labels(model, rgb, thing_ids={101, 102, 200}, merge=merge)
    assert labels.category[20, 20] == 101 and labels.instance[20, 20] == 1  # the model's own instances
    assert labels.category[50, 50] != 102  # below the score threshold: dropped
    assert confidence[20, 20] == pytest.approx(0.81) and confidence.dtype == np.float32
    if panoptic:
        assert labels.category[5, 70] == 200 and labels.instance[5, 70] == 0
        assert labels.category[5, 5] == VOID
    else:
        assert (labels.category[labels.instance == 0] == VOID).all()


def test_registry_models_load_and_predict_in_palette_ids() -> None:
    runner = Runner("cpu")
    model = runner.load("unet")
    assert runner.load("unet") is model  # cached
    rgb = blocks(70, 90)[0]
    labels, confidence = runner.predict_labels(model, rgb)
    assert labels.shape == (70, 90) and set(np.unique(labels.category)) <= set(model.class_ids)
    assert confidence.shape == (70, 90)
