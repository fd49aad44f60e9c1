"""A SAM click's compiled softmaxes (``_native.pixels.sam_softmax_rows`` and ``sam_softmax_columns``,
used by ``models.sam_softmax``) against torch's in float64: along rows and across rows, both builds
(AVX2 and the portable one), lengths that are no multiple of 8 or 16, token counts above what the
columns' loop holds in registers, scores far apart (the exp's clamped range) and the fallbacks.
The decoder tests (``test_sam_decoder.py``) hold the whole click to sam2's."""

from __future__ import annotations

import pytest
import torch

from segstudio import _native
from segstudio.models import sam_softmax
from segstudio.models.sam_softmax import softmax_

pixels = _native.pixels
BUILDS = [pytest.param(False, id="avx2-where-there"), pytest.param(True, id="portable")]


@pytest.fixture(autouse=True)
def _built() -> None:
    """make test requires the extension: its absence fails these tests, never skips them."""
    assert pixels is not None and hasattr(pixels, "sam_softmax_rows"), "segstudio._native.pixels is not built"


def _close(got: torch.Tensor, scores: torch.Tensor, dim: int) -> None:
    """Each weight within 1e-6 of its own size, plus what float32's rounding of the score's distance
    to the largest (the exp's argument) makes of it: torch's float32 softmax misses by as much."""
    expected = scores.double().softmax(dim=dim)
    distance = scores.amax(dim=dim, keepdim=True).double() - scores.double()
    bound = expected * (1e-6 + 1.2e-7 * distance) + 1e-30
    error = (got.double() - expected).abs()
    assert bool((error <= bound).all()), float((error / bound).max())


@pytest.mark.parametrize("portable", BUILDS)
@pytest.mark.parametrize("length", [1, 7, 8, 4096, 4100])
def test_rows_are_torchs_softmax_along_the_last_axis(portable: bool, length: int) -> None:
    torch.manual_seed(length)
    scores = torch.randn(3, 5, length) * 6
    got = scores.clone()
    pixels.sam_softmax_rows(got.numpy(), length, portable)
    _close(got, scores, -1)


@pytest.mark.parametrize("portable", BUILDS)
@pytest.mark.parametrize(("count", "length"), [(1, 16), (7, 4096), (12, 4100), (12, 13), (40, 48)])
def test_columns_are_torchs_softmax_across_the_tokens(portable: bool, count: int, length: int) -> None:
    torch.manual_seed(count * length)
    scores = torch.randn(4, count, length) * 6
    got = scores.clone()
    pixels.sam_softmax_columns(got.numpy(), count, length, portable)
    _close(got, scores, 1)


@pytest.mark.parametrize("portable", BUILDS)
def test_scores_far_apart_give_zeros_and_ones_not_nan(portable: bool) -> None:
    scores = torch.tensor([[0.0, -200.0, 90.0, 89.0, -1e30, 1e30, 0.5, 3.0, 1.0]])
    got = scores.clone()
    pixels.sam_softmax_rows(got.numpy(), scores.shape[1], portable)
    expected = scores.double().softmax(dim=-1)
    assert bool(torch.isfinite(got).all()) and torch.allclose(got.double(), expected, rtol=1e-6, atol=1e-30)
    across = scores.view(1, -1, 1).repeat(2, 1, 16)
    got = across.clone()
    pixels.sam_softmax_columns(got.numpy(), across.shape[1], 16, portable)
    assert torch.allclose(got.double(), across.double().softmax(dim=1), rtol=1e-6, atol=1e-30)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="rows of 3 floats"):
        pixels.sam_softmax_rows(torch.zeros(10).numpy(), 3)
    with pytest.raises(ValueError, match="groups of 3 x 4 floats"):
        pixels.sam_softmax_columns(torch.zeros(10).numpy(), 3, 4)


def test_softmax_is_in_place_where_compiled_else_torchs(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(1)
    scores = torch.randn(2, 9, 100)
    for dim in (1, 2, -1):
        got = scores.clone()
        assert softmax_(got, dim) is got
        _close(got, scores, dim)
    strided = scores.transpose(1, 2)  # not contiguous: torch's, a new tensor
    assert softmax_(strided, 1) is not strided
    assert torch.equal(softmax_(strided, 1), strided.softmax(dim=1))
    tracked = scores.clone().requires_grad_()
    assert softmax_(tracked, -1) is not tracked
    monkeypatch.setattr(sam_softmax._native, "pixels", None)  # the extension not built
    plain = scores.clone()
    assert torch.equal(softmax_(plain, -1), scores.softmax(dim=-1)) and torch.equal(plain, scores)
