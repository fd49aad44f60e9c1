"""FCN-32s/16s/8s: output shapes, the skip structure, and the bilinear transposed convolutions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segstudio.models.backbones import vgg16_small
from segstudio.models.fcn import FCN, SKIP_LEVELS, bilinear_kernel, bilinear_upsampler, build_fcn


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
@pytest.mark.parametrize("upsample", ["transposed", "bilinear"])
def test_logits_at_input_size_for_any_size(variant: str, upsample: str) -> None:
    model = build_fcn(4, variant, upsample=upsample).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 4, 64, 64)
        assert model(torch.randn(1, 3, 50, 77)).shape == (1, 4, 50, 77)  # padded to 64x96, cropped


def test_resnet_backbone() -> None:
    model = build_fcn(3, "8s", backbone="resnet18").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 3, 64, 96)


def test_unknown_variant_and_backbone_are_refused() -> None:
    with pytest.raises(ValueError, match="variant"):
        build_fcn(3, "4s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backbone"):
        build_fcn(3, backbone="alexnet")


def _score_inputs(model: FCN, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Shapes of what each score layer sees during one forward pass."""
    seen: dict[str, tuple[int, ...]] = {}
    layers = {"c5": model.score, **model.score_skips}
    hooks = [
        layer.register_forward_hook(lambda _m, args, _o, level=level: seen.__setitem__(level, args[0].shape))
        for level, layer in layers.items()
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


@pytest.mark.parametrize(
    ("variant", "levels"), [("32s", ["c5"]), ("16s", ["c5", "c4"]), ("8s", ["c5", "c4", "c3"])]
)
def test_skips_score_the_stride_16_and_stride_8_features(variant: str, levels: list[str]) -> None:
    model = build_fcn(5, variant).eval()
    seen = _score_inputs(model, torch.randn(1, 3, 128, 128))
    assert sorted(seen) == sorted(levels)
    stride = {"c5": 32, "c4": 16, "c3": 8}
    for level, shape in seen.items():
        assert shape[-2:] == (128 // stride[level], 128 // stride[level])
        assert shape[1] == model.backbone.channels[level]
    assert model.output_stride == {"32s": 32, "16s": 16, "8s": 8}[variant]
    assert tuple(model.skips) == SKIP_LEVELS[variant]


def test_skip_scores_start_at_zero_and_learn() -> None:
    """A fresh FCN-8s starts as its coarser parent (zero skips) but its skips receive gradient."""
    torch.manual_seed(0)
    model = build_fcn(3, "8s")
    for score in model.score_skips.values():
        assert not score.weight.any() and not score.bias.any()
    model(torch.randn(2, 3, 64, 64)).square().mean().backward()
    for score in model.score_skips.values():
        assert score.weight.grad is not None and score.weight.grad.abs().sum() > 0


def test_learnable_skip_upsampling_and_fixed_final_upsampling() -> None:
    model = build_fcn(3, "8s")
    assert all(up.weight.requires_grad for up in model.upsample_skips.values())
    final = model.upsample_final
    assert not final.weight.requires_grad
    assert final.stride == (8, 8) and final.kernel_size == (16, 16)


def test_bilinear_kernel_values() -> None:
    taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert torch.allclose(bilinear_kernel(4), taps[:, None] * taps[None, :])
    assert bilinear_kernel(3)[1, 1] == 1.0


@pytest.mark.parametrize("factor", [2, 8, 32])
@pytest.mark.parametrize("learnable", [True, False])
def test_transposed_upsampler_is_bilinear_interpolation_inside(factor: int, learnable: bool) -> None:
    x = torch.randn(1, 3, 6, 5)
    layer = bilinear_upsampler(3, factor, learnable)
    with torch.no_grad():
        ours = layer(x)
    reference = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == reference.shape == (1, 3, 6 * factor, 5 * factor)
    inner = (..., slice(factor, -factor), slice(factor, -factor))  # borders differ: zero padding
    assert torch.allclose(ours[inner], reference[inner], atol=1e-5)


def test_fcn_refuses_a_dilated_backbone() -> None:
    backbone = vgg16_small()
    backbone.strides["c5"] = 16
    with pytest.raises(ValueError, match="strides"):
        FCN(backbone, 3)
