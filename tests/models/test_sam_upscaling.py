"""The compiled loops of SAM 2's mask upscaling (``_native.pixels.sam_norm_gelu`` and
``sam_gelu_logits``, used by ``models.sam_upscaling``) against torch in float64: their GELU
against torch's exact one, the LayerNorm, what is added, the hypernetwork dot products and where
each logit lands; both builds (AVX2 and the portable one), on one thread and several. The decoder
tests (``test_sam_decoder.py``) hold the whole path to sam2's."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from segstudio import _native

pixels = _native.pixels


@pytest.fixture(autouse=True)
def _built() -> None:
    """make test requires the extension: its absence fails these tests, never skips them."""
    assert pixels is not None and hasattr(pixels, "sam_gelu_logits"), "segstudio._native.pixels is not built"


BUILDS = [pytest.param(False, id="avx2-where-there"), pytest.param(True, id="portable")]


def _nested_maps(logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Rows (pixel, i, j, k, l) x masks as (masks, 4 height, 4 width) maps, as sam2 lays them out."""
    masks = logits.shape[1]
    nested = logits.t().reshape(masks, height, width, 2, 2, 2, 2)
    return nested.permute(0, 1, 3, 5, 2, 4, 6).reshape(masks, 4 * height, 4 * width)


@pytest.mark.parametrize("portable", BUILDS)
def test_the_gelu_is_torchs_exact_one_to_a_few_ulps(portable: bool) -> None:
    """One-hot hypernetwork rows read each GELU back: over [-12, 12] (and the odd values) it is
    torch's exact (erf) GELU to 4e-7 x max(1, |x|), far below the 1e-4 logit tolerance."""
    channels = 8
    odd = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e3, -1e3, 3.0, -3.0])
    x = torch.cat([torch.linspace(-12.0, 12.0, 64 * 4096 - 8), odd])
    z = x.view(-1, 4 * channels)
    height, width = 16, z.shape[0] // 4 // 16
    maps = torch.empty(channels, 4 * height, 4 * width)
    no_bias = torch.zeros(4 * channels).numpy()
    eye = torch.eye(channels).numpy()
    pixels.sam_gelu_logits(z.numpy(), no_bias, eye, maps.numpy(), 0, height, width, 2, portable)
    expected = F.gelu(x.double()).view(-1, channels)  # rows (pixel, i, j, k, l), one column per channel
    bound = 4e-7 * x.double().abs().clamp(min=1.0).view(-1, channels)
    error = (maps.double() - _nested_maps(expected, height, width)).abs()
    assert bool((error <= _nested_maps(bound, height, width)).all())
    assert float(error.max()) > 0.0  # an approximation of its own, not torch's kernel


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("portable", BUILDS)
def test_logits_are_the_gelu_dotted_with_each_mask_and_land_in_place(portable: bool, threads: int) -> None:
    torch.manual_seed(0)
    height, width, channels, masks = 6, 10, 12, 2  # a channel count that is no multiple of 8
    z = torch.randn(4 * height * width, 4 * channels) * 3
    hyper = torch.randn(masks, channels)
    for added in (torch.randn(z.shape), torch.randn(1, 4 * channels)):  # one row per row, or a bias
        activated = F.gelu(z.double() + added.double()).view(-1, channels)
        expected = _nested_maps(activated @ hyper.double().t(), height, width)
        maps = torch.full((masks, 4 * height, 4 * width), float("nan"))
        first = 13  # in two calls, as the upscaling's slices: pixels 0-12, then 13-59
        for start, stop in ((0, first), (first, height * width)):
            rows = (added[4 * start : 4 * stop] if added.shape[0] > 1 else added).numpy()
            part = z[4 * start : 4 * stop].numpy()
            pixels.sam_gelu_logits(
                part, rows, hyper.numpy(), maps.numpy(), start, height, width, threads, portable
            )
        torch.testing.assert_close(maps.double(), expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize("threads", [1, 2, 7])
@pytest.mark.parametrize("portable", BUILDS)
def test_norm_gelu_is_the_scaled_sum_layer_normed_then_gelu(portable: bool, threads: int) -> None:
    torch.manual_seed(1)
    count, groups, channels = 300, 4, 20
    x = torch.randn(count, groups * channels) * 4 + 1
    image = torch.randn(count, groups * channels)
    scale = torch.rand(count, 1) * 2
    weight, bias = torch.randn(channels), torch.randn(channels)
    for added in (torch.randn(x.shape), torch.randn(1, groups * channels)):
        summed = x.double() + image.double() * scale.double() + added.double()
        normed = F.layer_norm(summed.view(-1, channels), (channels,), weight.double(), bias.double(), 1e-6)
        got = x.clone()
        pixels.sam_norm_gelu(
            got.numpy(), image.numpy(), scale.numpy(), added.numpy(), weight.numpy(), bias.numpy(), 1e-6,
            threads, portable,
        )  # fmt: skip
        torch.testing.assert_close(got.double(), F.gelu(normed).view(count, -1), rtol=0, atol=5e-6)


def test_sizes_that_do_not_fit_are_refused() -> None:
    maps, bias = torch.empty(1, 8, 8).numpy(), torch.zeros(16).numpy()
    with pytest.raises(ValueError, match="outside the 2 x 2 grid"):
        pixels.sam_gelu_logits(torch.zeros(4 * 3, 16).numpy(), bias, torch.zeros(1, 4).numpy(), maps, 2, 2, 2)
    with pytest.raises(ValueError, match="not maps"):
        pixels.sam_gelu_logits(torch.zeros(4, 16).numpy(), bias, torch.zeros(1, 4).numpy(), maps, 0, 3, 2)
    with pytest.raises(ValueError, match="added"):
        pixels.sam_gelu_logits(torch.zeros(4, 16).numpy(), bias[:5], torch.zeros(1, 4).numpy(), maps, 0, 2, 2)
    x, ones, row = torch.zeros(4, 8).numpy(), torch.ones(4).numpy(), torch.zeros(8).numpy()
    with pytest.raises(ValueError, match="bias: 4 floats expected"):
        pixels.sam_norm_gelu(x, x, ones, row, ones, torch.zeros(3).numpy(), 1e-6)
    with pytest.raises(ValueError, match="not rows of 3 pixels"):
        pixels.sam_norm_gelu(x, x, torch.ones(3).numpy(), row, ones, ones, 1e-6)
    with pytest.raises(ValueError, match="added"):
        pixels.sam_norm_gelu(x, x, ones, row[:3], ones, ones, 1e-6)
