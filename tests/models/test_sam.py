"""SAM 2.1 through the official sam2 package: prompts in image pixels, the embedding cache, weights.

The network is the package's own tiny config with seeded random weights at a 256-px input
(``sam_network``); no published checkpoint is downloaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sam_fixtures import TEST_INPUT, small_sam
from weights_server import Served, serving

from segstudio.core.jobs import Cancelled, CancelToken
from segstudio.core.prompts import SAM_MODELS, PromptPoint, Prompts
from segstudio.models import registry
from segstudio.models import weights as W
from segstudio.models.sam import SAM_VARIANTS, SamPredictor, load_sam, prompt_arrays, require_sam2
from segstudio.models.sam_tokens import TokenWeights

HEIGHT, WIDTH = 96, 160  # not square, so a swapped or shared axis scale shows


@pytest.fixture(autouse=True)
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private torch hub folder, so tests never see (or fill) the user's cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def predictor(sam_network: torch.nn.Module) -> SamPredictor:
    return SamPredictor(sam_network, "test-weights")


def _ramps() -> np.ndarray:
    """Red grows to the right, green grows downwards, blue is flat."""
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, WIDTH)[None, :]
    rgb[..., 1] = np.linspace(0, 255, HEIGHT)[:, None]
    rgb[..., 2] = 90
    return rgb


def _noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


@pytest.fixture
def seen(sam_network: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What reaches the image encoder (a forward hook) and the decoder's prompt encoding (sam2's
    ``PromptEncoder`` in ``sam_tokens.TokenWeights.sparse``, tested equal to it there)."""
    record: dict[str, Any] = {}

    def image(_module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        record["image"] = args[0].detach().clone()

    encode = TokenWeights.sparse

    def prompts(weights: TokenWeights, points: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        record["points"] = (points.clone(), labels.clone())
        return encode(weights, points, labels)

    monkeypatch.setattr(TokenWeights, "sparse", prompts)
    handle = sam_network.image_encoder.register_forward_pre_hook(image)
    yield record
    handle.remove()


def test_the_encoder_sees_the_image_upright_and_prompts_land_on_the_same_pixels(
    predictor: SamPredictor, seen: dict[str, Any]
) -> None:
    key = predictor.embed(_ramps())
    image = seen["image"][0]
    assert image.shape == (3, TEST_INPUT, TEST_INPUT)
    red, green = image[0].mean(dim=0), image[1].mean(dim=1)  # red along x, green along y
    assert torch.all(red[1:] >= red[:-1]) and red[-1] - red[0] > 3  # not flipped, not transposed
    assert torch.all(green[1:] >= green[:-1]) and green[-1] - green[0] > 3
    assert float(image[0].mean(dim=1).std()) < 1e-3  # red does not vary down the image

    prompts = Prompts((PromptPoint(10, 80), PromptPoint(150.5, 20, positive=False))).with_box(140, 90, 20, 10)
    result = predictor.predict(key, prompts)
    assert result.mask.shape == (HEIGHT, WIDTH) and result.mask.dtype == bool
    coords, labels = seen["points"]
    sx, sy = TEST_INPUT / WIDTH, TEST_INPUT / HEIGHT  # each axis scaled on its own: no letterbox
    expected = [[20 * sx, 10 * sy], [140 * sx, 90 * sy], [10 * sx, 80 * sy], [150.5 * sx, 20 * sy]]
    assert torch.allclose(coords[0], torch.tensor(expected), atol=1e-3)
    assert labels[0].tolist() == [2, 3, 1, 0]  # box corners first (sam2's convention), then + and -


def test_one_click_takes_the_best_of_three_masks_and_more_prompts_one(
    predictor: SamPredictor, seen: dict[str, Any]
) -> None:
    key = predictor.embed(_ramps())
    one = predictor.predict(key, Prompts((PromptPoint(40, 40),)))
    assert 0.0 <= one.score <= 1.5 and one.mask.shape == (HEIGHT, WIDTH)
    two = predictor.predict(key, Prompts((PromptPoint(40, 40), PromptPoint(100, 60, positive=False))))
    assert two.mask.shape == (HEIGHT, WIDTH)
    assert seen["points"][1][0].tolist() == [1, 0]
    with pytest.raises(ValueError, match="outside the 160x96 image"):
        predictor.predict(key, Prompts((PromptPoint(161, 5),)))
    with pytest.raises(ValueError, match="no prompts"):
        predictor.predict(key, Prompts())


def _sam2_answer(reference: Any, prompts: Prompts) -> tuple[np.ndarray, float]:
    """sam2's own ``SAM2ImagePredictor`` (``reference``, its image set): its best mask's logits at
    the image's size (its mask is where they exceed 0) and its score, as its README uses it."""
    coords, labels, box = prompt_arrays(prompts)
    with torch.inference_mode():
        logits, scores, _ = reference.predict(
            coords,
            labels,
            box,
            multimask_output=len(prompts.points) == 1 and prompts.box is None,
            return_logits=True,
        )
    best = int(np.argmax(scores))
    return logits[best], float(scores[best])


LOGIT_TOLERANCE = 1e-4
"""The per-click path sums in another order than sam2's (regrouped attention, the first
convolution through the norms' statistics, OpenCV's resize): a pixel may differ from sam2's only
where sam2's own logit is within this of the threshold."""


@pytest.mark.parametrize(("height", "width", "seed"), [(HEIGHT, WIDTH, 5), (200, 72, 6), (128, 128, 8)])
def test_the_masks_are_sam2s_own_pixel_for_pixel(
    sam_network: torch.nn.Module, height: int, width: int, seed: int
) -> None:
    """Points (one, then more, positive and negative), a box alone, points and a box, on wide,
    tall and square images: the kept mask is sam2's but where its logit is within
    ``LOGIT_TOLERANCE`` of the threshold, the score sam2's to 1e-5."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    predictor = SamPredictor(sam_network, "test-weights")
    key = predictor.embed(rgb)
    reference = SAM2ImagePredictor(sam_network)
    reference._bb_feat_sizes = [(TEST_INPUT // 4,) * 2, (TEST_INPUT // 8,) * 2, (TEST_INPUT // 16,) * 2]
    reference.set_image(rgb)
    rng = np.random.default_rng(seed + 2)
    cases = [Prompts(box=(0.1 * width, 0.1 * height, 0.6 * width, 0.7 * height))]
    for n in range(1, 6):
        points = rng.random((n, 2)) * [width, height]
        prompts = Prompts(tuple(PromptPoint(x, y, i % 3 != 2) for i, (x, y) in enumerate(points)))
        cases += [prompts, prompts.with_box(0.2 * width, 0.2 * height, 0.9 * width, 0.95 * height)]
    sizes = set()
    for prompts in cases:
        logits, score = _sam2_answer(reference, prompts)
        expected = logits > 0
        result = predictor.predict(key, prompts)
        differing = result.mask != expected
        assert not differing[np.abs(logits) > LOGIT_TOLERANCE].any(), prompts
        assert differing.sum() <= 2, prompts
        assert result.score == pytest.approx(score, rel=1e-5, abs=1e-6)
        sizes.add(int(expected.sum()))
    assert len(sizes) > len(cases) // 2  # the prompts give different masks, not one answer


def test_an_image_is_embedded_once_per_pixels_and_weights(sam_network: torch.nn.Module) -> None:
    first, second = _noise(1), _noise(2)
    predictor = SamPredictor(sam_network, "weights-a")
    key = predictor.embed(first)
    prompts = Prompts((PromptPoint(30, 30), PromptPoint(120, 70)))
    before = predictor.predict(key, prompts).mask
    assert predictor.embed(first.copy()) == key and predictor.embeddings_computed == 1  # same pixels
    other = predictor.embed(second)
    assert other != key and predictor.embeddings_computed == 2
    assert not np.array_equal(predictor.predict(other, prompts).mask, before)
    assert np.array_equal(predictor.predict(key, prompts).mask, before)  # back from the cache, same answer
    assert predictor.embeddings_computed == 2

    assert SamPredictor(sam_network, "weights-b").key(first) != key  # other weights, other entry
    small = SamPredictor(sam_network, "weights-a", cache_size=1)
    small.embed(first), small.embed(second), small.embed(first)
    assert small.embeddings_computed == 3  # the least recently used one was dropped


def test_cancelling_stops_the_encoder_between_blocks_and_caches_nothing(predictor: SamPredictor) -> None:
    token, checks = CancelToken(), []

    def count() -> None:
        checks.append(1)
        if len(checks) == 3:
            token.cancel()

    token.set_yield_point(count)
    with pytest.raises(Cancelled):
        predictor.embed(_noise(3), token)
    blocks = len(predictor.module.image_encoder.trunk.blocks)
    assert len(checks) == 3 < blocks  # it stopped inside the encoder, not after it
    assert not predictor.cached(predictor.key(_noise(3))) and predictor.embeddings_computed == 0
    predictor.embed(_noise(3))  # the hooks are gone: an uncancelled run goes through
    assert predictor.embeddings_computed == 1


def test_a_saved_checkpoint_loads_with_its_digest_and_a_bad_one_is_named(
    sam_checkpoint: Path, sam_network: torch.nn.Module, tmp_path: Path
) -> None:
    other = small_sam(seed=1)
    digest = load_sam(other, sam_checkpoint)
    assert digest == hashlib.sha256(sam_checkpoint.read_bytes()).hexdigest()
    assert all(torch.equal(v, sam_network.state_dict()[k]) for k, v in other.state_dict().items())
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(W.WeightsError, match="junk.pt"):
        load_sam(other, junk)
    wrong = tmp_path / "wrong.pt"
    torch.save({"model": {"x": torch.zeros(1)}}, wrong)
    with pytest.raises(W.WeightsError, match="wrong.pt: does not fit"):
        load_sam(other, wrong)


def test_every_sam_model_is_registered_with_its_official_checkpoint() -> None:
    from hydra import compose

    require_sam2()  # initialises hydra with the package's configs
    for variant in SAM_VARIANTS:
        spec = registry.get_spec(variant.name)
        assert spec.task == "promptable" and variant.name in registry.BUILTIN_MODELS
        (source,) = spec.weights
        assert source.url.startswith("https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_")
        assert source.file_name == source.url.rsplit("/", 1)[-1] and len(source.sha256 or "") == 64
        W.check_download(source.url, source.sha256, source.file_name)
        assert compose(config_name=variant.config).model.image_size == 1024  # the package has the config
    assert [name for name, _ in SAM_MODELS] == [variant.name for variant in SAM_VARIANTS]  # the app's menu
    with pytest.raises(ValueError, match="does not label images by itself"):
        registry.loaded_model(registry.get_spec("sam2.1-tiny"))


def test_offline_the_message_says_which_file_to_place_where(hub_dir: Path) -> None:
    with pytest.raises(W.WeightsMissing) as caught:
        W.resolve_weights(registry.get_spec("sam2.1-large"))
    message = str(caught.value)
    assert "sam2.1_hiera_large.pt" in message and str(hub_dir) in message and "\n" not in message
    assert "dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt" in message


@pytest.fixture
def server() -> Iterator[Served]:
    with serving() as served:
        yield served


def test_download_from_a_local_server_is_checked_resumed_and_loads(
    server: Served, sam_checkpoint: Path, sam_network: torch.nn.Module, hub_dir: Path
) -> None:
    data = sam_checkpoint.read_bytes()
    name = "sam2.1_hiera_tiny.pt"
    server.files[name] = data
    sha = hashlib.sha256(data).hexdigest()
    spec = dataclasses.replace(
        registry.get_spec("sam2.1-tiny"), weights=(registry.WeightSource(server.url(name), sha, name),)
    )
    server.cut_after = len(data) // 3
    with pytest.raises(W.WeightsError, match="run it again to resume"):
        W.resolve_weights(spec, download=True)
    assert (
        not (hub_dir / name).exists() and (hub_dir / (name + W.PART_SUFFIX)).stat().st_size == len(data) // 3
    )
    path = W.resolve_weights(spec, download=True)
    assert server.ranges[-1] == f"bytes={len(data) // 3}-" and path == hub_dir / name
    assert path.read_bytes() == data
    loaded = small_sam(seed=2)
    assert load_sam(loaded, path) == sha
    assert all(torch.equal(v, sam_network.state_dict()[k]) for k, v in loaded.state_dict().items())

    path.unlink()
    wrong = dataclasses.replace(spec, weights=(registry.WeightSource(server.url(name), "0" * 64, name),))
    with pytest.raises(W.ChecksumError, match="discarded"):
        W.resolve_weights(wrong, download=True)
    assert not list(hub_dir.glob(name + "*"))
