"""DeepLab v3/v3+: output strides, dilation rates on the module tree, ASPP rates, decoder, shapes."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from segstudio.models.backbones import dilate_resnet, resnet_backbone
from segstudio.models.deeplab import ASPP_RATES, DeepLabV3, DeepLabV3Plus


def _convs(module: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize(
    ("name", "output_stride"), [("resnet18", 8), ("resnet18", 16), ("resnet18", 32), ("resnet50", 8)]
)
def test_feature_strides(name: str, output_stride: int) -> None:
    backbone = resnet_backbone(name, output_stride).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 64))
    for level, feature in features.items():
        assert backbone.strides[level] == min(2 ** int(level[1]), output_stride)
        assert feature.shape[-2:] == (64 // backbone.strides[level],) * 2
        assert feature.shape[1] == backbone.channels[level]


@pytest.mark.parametrize(
    ("output_stride", "rates"),
    [(16, {"layer3": (1, 1), "layer4": (1, 2)}), (8, {"layer3": (1, 2), "layer4": (2, 4)})],
)
def test_every_conv_after_a_removed_stride_has_doubled_dilation(
    output_stride: int, rates: dict[str, tuple[int, int]]
) -> None:
    """(dilation of the first block's 3x3 conv, dilation of every later 3x3 conv) per layer."""
    with torch.device("meta"):  # the module tree only
        resnet = dilate_resnet(torchvision.models.resnet50(weights=None), output_stride)
    for layer_name, (first, later) in rates.items():
        layer = getattr(resnet, layer_name)
        for name, conv in _convs(layer):
            assert conv.stride == (1, 1) or (layer_name, output_stride) == ("layer3", 16), name
            if conv.kernel_size == (3, 3):
                expected = first if name == "0.conv2" else later
                assert conv.dilation == (expected, expected), f"{layer_name}.{name}"
                assert conv.padding == (expected, expected), f"{layer_name}.{name}"
    for name, conv in _convs(resnet.layer2) + _convs(resnet.layer1):
        assert conv.dilation == (1, 1), name


@pytest.mark.parametrize(("output_stride", "replace"), [(16, [False, False, True]), (8, [False, True, True])])
def test_conversion_matches_torchvision_replace_stride_with_dilation(
    output_stride: int, replace: list[bool]
) -> None:
    with torch.device("meta"):
        ours = dilate_resnet(torchvision.models.resnet101(weights=None), output_stride)
        theirs = torchvision.models.resnet101(weights=None, replace_stride_with_dilation=replace)
    describe = [(n, c.stride, c.dilation, c.padding) for n, c in _convs(ours)]
    assert describe == [(n, c.stride, c.dilation, c.padding) for n, c in _convs(theirs)]


def test_basic_block_resnets_can_be_dilated_too() -> None:
    with torch.device("meta"):
        resnet = dilate_resnet(torchvision.models.resnet18(weights=None), 8)
    assert resnet.layer4[1].conv2.dilation == (4, 4) and resnet.layer4[0].conv1.dilation == (2, 2)
    assert resnet.layer3[0].conv1.stride == (1, 1) and resnet.layer3[0].downsample[0].stride == (1, 1)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_aspp_rates(output_stride: int) -> None:
    with torch.device("meta"):
        model = DeepLabV3(3, "resnet18", output_stride)
    dilated = [conv.dilation[0] for _, conv in _convs(model.aspp) if conv.kernel_size == (3, 3)]
    assert tuple(dilated) == ASPP_RATES[output_stride] == model.aspp.rates
    assert ASPP_RATES == {16: (6, 12, 18), 8: (12, 24, 36)}
    assert len(model.aspp.branches) == 5  # 1x1, three atrous, image pooling


@pytest.mark.parametrize("cls", [DeepLabV3, DeepLabV3Plus])
@pytest.mark.parametrize("output_stride", [8, 16])
def test_logits_at_input_size_and_aspp_at_output_stride(cls: type[DeepLabV3], output_stride: int) -> None:
    model = cls(4, "resnet18", output_stride).eval()
    seen: list[tuple[int, ...]] = []
    model.aspp.register_forward_hook(lambda _m, args, _o: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 80)).shape == (2, 4, 64, 80)
    assert seen == [(2, 512, 64 // output_stride, 80 // output_stride)]


def test_v3plus_decoder_reads_the_stride_4_features() -> None:
    model = DeepLabV3Plus(3, "resnet50").eval()
    seen: list[tuple[int, ...]] = []
    model.refine.register_forward_hook(lambda _m, args, _o: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert seen == [(1, 256 + 48, 16, 16)]


def test_trains_with_a_batch_of_one() -> None:
    """A batch of one in train mode (the image-pooling branch sees one value per channel): logits at
    input size, finite, and a finite, non-zero gradient reaches every trainable parameter."""
    torch.manual_seed(0)
    model = DeepLabV3Plus(2, "resnet18").train()
    logits = model(torch.randn(1, 3, 32, 32))
    assert logits.shape == (1, 2, 32, 32)
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.randint(0, 2, (1, 32, 32))).backward()
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    assert trainable
    missing = [name for name, p in trainable if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    zero = [name for name, p in trainable if not p.grad.abs().sum() > 0]
    assert zero == []


def test_bad_output_stride_is_refused() -> None:
    with pytest.raises(ValueError, match="output_stride"):
        DeepLabV3(3, "resnet18", output_stride=32)
    with pytest.raises(ValueError, match="ResNet"):
        resnet_backbone("resnet7")
