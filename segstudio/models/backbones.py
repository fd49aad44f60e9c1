"""Feature extractors and the small building blocks every segmentation head here shares.

A backbone is a chain of stages; each stage ends at a named feature level whose stride
doubles from one level to the next: ``c2`` (stride 4), ``c3`` (8), ``c4`` (16), ``c5`` (32)
-- the ResNet naming of Lin et al. (FPN, 2017). Heads pick the levels they need: FCN scores
``c3``/``c4``/``c5``, DeepLab v3+ reads ``c2`` and ``c5``, U-Net keeps its own encoder.

Dilated ResNet (Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation",
2017; Yu & Koltun 2016): to get dense features at output stride 16 or 8, the stride of the last
one or two stages is removed and every convolution *after* the removed stride has its dilation
doubled, so each kernel keeps seeing the same image context it saw on the coarser grid while
the feature map stays finer. ``dilate_resnet`` does that conversion on torchvision's ResNets
(BasicBlock and Bottleneck alike) by walking the module tree in forward order.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

Norm = Literal["batch", "group"]

RESNETS: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "resnet101")
"""torchvision ResNet builders accepted by ``resnet_backbone`` (random init, no download)."""


def conv_norm_relu(
    in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1, norm: Norm = "batch"
) -> nn.Sequential:
    """Conv (no bias: the norm has one) + BatchNorm or GroupNorm(32) + ReLU, spatial size kept."""
    padding = dilation * (kernel_size - 1) // 2
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False)
    normalise = nn.BatchNorm2d(out_channels) if norm == "batch" else nn.GroupNorm(32, out_channels)
    return nn.Sequential(conv, normalise, nn.ReLU(inplace=True))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad a batch at the bottom/right so H and W divide ``multiple``; returns it and the old size.

    Encoder-decoders that add or concatenate maps of different strides need every stride to
    divide the input exactly; padding then cropping the output (FCN's Caffe "crop" layer did
    the same) keeps the output aligned pixel for pixel with the input.
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x, (height, width)


class StagedBackbone(nn.Module):
    """Stages run in order; ``forward`` returns every stage's output keyed by level name.

    ``channels[level]`` and ``strides[level]`` describe each output (the stride is the actual
    one, e.g. 16 for ``c5`` of a ResNet dilated to output stride 16).
    """

    def __init__(
        self, stages: OrderedDict[str, nn.Module], channels: dict[str, int], strides: dict[str, int]
    ):
        super().__init__()
        self.stages = nn.ModuleDict(stages)
        self.channels = dict(channels)
        self.strides = dict(strides)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features: dict[str, torch.Tensor] = {}
        for level, stage in self.stages.items():
            x = stage(x)
            features[level] = x
        return features


def vgg16_small(in_channels: int = 3, width: int = 16, fc_width: int | None = None) -> StagedBackbone:
    """VGG16's layout (2-2-3-3-3 convs, a max-pool after each block) at ``width`` channels instead of 64.

    FCN's original backbone, shrunk so it trains from scratch on a CPU: widths
    ``w, 2w, 4w, 8w, 8w`` and, on top of ``pool5``, VGG's fully connected ``fc6``/``fc7``
    as convolutions (7x7 then 1x1, ``fc_width`` channels, default ``16w``) -- the "convolutionalised"
    classifier of Long et al. Batch norm is added so training from random init is stable.
    Levels: ``c1`` (stride 2) .. ``c5`` (stride 32, after fc7).
    """
    fc_width = fc_width or 16 * width
    widths, depths = (width, 2 * width, 4 * width, 8 * width, 8 * width), (2, 2, 3, 3, 3)
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    channels = in_channels
    for index, (out_channels, depth) in enumerate(zip(widths, depths, strict=True), start=1):
        layers = [conv_norm_relu(channels if i == 0 else out_channels, out_channels) for i in range(depth)]
        stages[f"c{index}"] = nn.Sequential(*layers, nn.MaxPool2d(2))
        channels = out_channels
    stages["c5"].extend(
        [
            conv_norm_relu(channels, fc_width, kernel_size=7),  # fc6
            nn.Dropout(0.5),
            conv_norm_relu(fc_width, fc_width, kernel_size=1),  # fc7
            nn.Dropout(0.5),
        ]
    )
    level_channels = {f"c{i}": w for i, w in enumerate(widths, start=1)} | {"c5": fc_width}
    return StagedBackbone(stages, level_channels, {f"c{i}": 2**i for i in range(1, 6)})


def _strided_layers(resnet: torchvision.models.ResNet) -> tuple[nn.Module, ...]:
    return (resnet.layer2, resnet.layer3, resnet.layer4)


def _remove_stride(layer: nn.Module, previous: int, dilation: int) -> None:
    """Turn the layer's stride-2 convs into stride 1; every later kxk conv gets ``dilation``.

    Convolutions up to and including the strided one still run on the grid the layer receives,
    so they keep the ``previous`` dilation; everything after it sees a grid that is now twice
    as fine and needs twice the dilation to cover the same context.
    """
    seen_stride = False
    for module in layer.modules():
        if not isinstance(module, nn.Conv2d):
            continue
        strided = module.stride == (2, 2)
        module.stride = (1, 1)
        if module.kernel_size != (1, 1):  # a 1x1 conv (the shortcut's projection) has no dilation
            rate = dilation if seen_stride and not strided else previous
            module.dilation = (rate, rate)
            module.padding = (
                rate * (module.kernel_size[0] - 1) // 2,
                rate * (module.kernel_size[1] - 1) // 2,
            )
        seen_stride = seen_stride or strided


def dilate_resnet(resnet: torchvision.models.ResNet, output_stride: int) -> torchvision.models.ResNet:
    """Convert a torchvision ResNet in place to ``output_stride`` 8, 16 or 32 (32 = unchanged).

    layer2..layer4 each halve the resolution; walking them in order, once the running stride
    would exceed ``output_stride`` the layer's stride is removed and the dilation doubles.
    OS16 -> layer4 at dilation 2; OS8 -> layer3 at 2, layer4 at 4 (its first 3x3 conv at 2).
    The result matches torchvision's ``replace_stride_with_dilation`` and also works for
    BasicBlock ResNets (18/34), which torchvision refuses to dilate.
    """
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    stride, dilation = 4, 1
    for layer in _strided_layers(resnet):
        if stride < output_stride:
            stride *= 2
        else:
            _remove_stride(layer, previous=dilation, dilation=2 * dilation)
            dilation *= 2
    return resnet


def resnet_backbone(name: str = "resnet50", output_stride: int = 32) -> StagedBackbone:
    """A torchvision ResNet (random init, nothing downloaded) as levels ``c2``..``c5``.

    ``c2`` is the stem plus layer1 (stride 4); ``c3``..``c5`` are layer2..layer4, dilated so
    that no stride exceeds ``output_stride``. Sub-module names follow torchvision's, so an
    ImageNet state dict maps onto ``stages.*`` key for key.
    """
    if name not in RESNETS:
        raise ValueError(f"unknown ResNet {name!r}; choose one of {', '.join(RESNETS)}")
    resnet = dilate_resnet(getattr(torchvision.models, name)(weights=None), output_stride)
    stem = ("conv1", "bn1", "relu", "maxpool", "layer1")
    stages: OrderedDict[str, nn.Module] = OrderedDict(
        c2=nn.Sequential(OrderedDict((part, getattr(resnet, part)) for part in stem)),
        c3=resnet.layer2,
        c4=resnet.layer3,
        c5=resnet.layer4,
    )
    top = resnet.fc.in_features  # c5 width; each level below has half the channels
    channels = {f"c{level}": top // 2 ** (5 - level) for level in range(2, 6)}
    strides = {f"c{level}": min(2**level, output_stride) for level in range(2, 6)}
    return StagedBackbone(stages, channels, strides)
