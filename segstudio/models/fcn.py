"""Fully Convolutional Networks: FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer & Darrell, CVPR 2015).

The idea: a classification network's fully connected layers are convolutions over a whole
feature map, so the network can score every location at once. A 1x1 "score" convolution turns
the stride-32 features into coarse class logits and an upsampling brings them back to pixels
(FCN-32s). Coarse logits blur boundaries, so FCN-16s adds a skip: the stride-32 scores are
upsampled 2x and summed with a 1x1 score of the stride-16 features (``pool4``); FCN-8s repeats
that with the stride-8 features (``pool3``) -- "combining what and where".

Paper details kept here: the upsampling layers are transposed convolutions initialised to
bilinear interpolation; the 2x ones stay learnable and the final one is fixed; the skip score
layers start at zero so a fresh FCN-16s/8s begins as its coarser parent. The paper's 100-pixel
input padding and crop layers are replaced by padding the input to a multiple of 32 and
cropping the output. ``upsample="bilinear"`` swaps every transposed convolution for fixed
bilinear interpolation.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from segstudio.models.backbones import RESNETS, StagedBackbone, pad_to_multiple, resnet_backbone, vgg16_small

Variant = Literal["32s", "16s", "8s"]
Upsample = Literal["transposed", "bilinear"]

SKIP_LEVELS: dict[str, tuple[str, ...]] = {"32s": (), "16s": ("c4",), "8s": ("c4", "c3")}
"""Backbone levels each variant fuses, coarse to fine: ``c4`` is pool4 (stride 16), ``c3`` pool3 (8)."""


def bilinear_kernel(size: int) -> torch.Tensor:
    """A ``size`` x ``size`` 2-D bilinear interpolation filter (the FCN/Caffe ``upsample_filt``)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(size, dtype=torch.float32) - center).abs() / factor
    return taps[:, None] * taps[None, :]


class Resize(nn.Module):
    """Fixed bilinear resizing by an integer factor (``upsample="bilinear"``)."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)


def bilinear_upsampler(channels: int, factor: int, learnable: bool) -> nn.ConvTranspose2d:
    """A transposed convolution that upsamples by ``factor`` and starts out as bilinear interpolation.

    Kernel ``2 * factor``, stride ``factor``, padding ``factor / 2`` gives exactly ``factor``
    times the input size. Each class channel is interpolated on its own: a learnable layer is a
    full C x C kernel initialised diagonal (it may learn to mix classes); a fixed one is grouped.
    """
    groups = 1 if learnable else channels
    layer = nn.ConvTranspose2d(
        channels, channels, 2 * factor, stride=factor, padding=factor // 2, groups=groups, bias=False
    )
    with torch.no_grad():
        layer.weight.zero_()
        kernel = bilinear_kernel(2 * factor)
        for c in range(channels):
            layer.weight[c, 0 if groups > 1 else c] = kernel
    layer.weight.requires_grad_(learnable)
    return layer


def _upsampler(channels: int, factor: int, learnable: bool, mode: Upsample) -> nn.Module:
    return bilinear_upsampler(channels, factor, learnable) if mode == "transposed" else Resize(factor)


class FCN(nn.Module):
    """FCN-32s/16s/8s on any stride-32 ``StagedBackbone`` with levels ``c3``, ``c4``, ``c5``.

    ``forward(x)`` returns logits ``(N, num_classes, H, W)`` at the input resolution.
    """

    def __init__(
        self,
        backbone: StagedBackbone,
        num_classes: int,
        variant: Variant = "8s",
        upsample: Upsample = "transposed",
    ) -> None:
        super().__init__()
        if variant not in SKIP_LEVELS:
            raise ValueError(f"unknown FCN variant {variant!r}; choose one of {', '.join(SKIP_LEVELS)}")
        if [backbone.strides.get(level) for level in ("c3", "c4", "c5")] != [8, 16, 32]:
            raise ValueError(f"FCN needs c3/c4/c5 at strides 8/16/32, got {backbone.strides}")
        self.backbone = backbone
        self.variant = variant
        self.skips = SKIP_LEVELS[variant]
        self.score = nn.Conv2d(backbone.channels["c5"], num_classes, 1)
        self.score_skips = nn.ModuleDict()
        self.upsample_skips = nn.ModuleDict()
        for level in self.skips:
            score = nn.Conv2d(backbone.channels[level], num_classes, 1)
            nn.init.zeros_(score.weight)
            nn.init.zeros_(score.bias)
            self.score_skips[level] = score
            self.upsample_skips[level] = _upsampler(num_classes, 2, learnable=True, mode=upsample)
        self.output_stride = 32 // 2 ** len(self.skips)
        self.upsample_final = _upsampler(num_classes, self.output_stride, learnable=False, mode=upsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (height, width) = pad_to_multiple(x, 32)
        features = self.backbone(x)
        logits = self.score(features["c5"])
        for level in self.skips:
            logits = self.upsample_skips[level](logits) + self.score_skips[level](features[level])
        return self.upsample_final(logits)[..., :height, :width]


def build_fcn(
    num_classes: int,
    variant: Variant = "8s",
    backbone: str = "vgg16_small",
    upsample: Upsample = "transposed",
) -> FCN:
    """An FCN with random weights on ``vgg16_small`` (default, CPU-friendly) or a torchvision ResNet."""
    if backbone == "vgg16_small":
        features = vgg16_small()
    elif backbone in RESNETS:
        features = resnet_backbone(backbone, output_stride=32)
    else:
        raise ValueError(
            f"unknown FCN backbone {backbone!r}; choose vgg16_small or one of {', '.join(RESNETS)}"
        )
    return FCN(features, num_classes, variant, upsample)
