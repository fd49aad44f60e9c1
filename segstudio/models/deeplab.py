"""DeepLab v3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017)
and DeepLab v3+ (Chen et al., "Encoder-Decoder with Atrous Separable Convolution", ECCV 2018).

DeepLab v3's idea: keep the feature map dense instead of decoding it back. A ResNet is dilated
to output stride 16 (or 8): the last stride(s) are removed and later convolutions dilated, so
the receptive field is unchanged but the map is 2x (4x) finer (``backbones.dilate_resnet``).
On top, Atrous Spatial Pyramid Pooling (ASPP) looks at several scales at once: a 1x1 conv,
three 3x3 convs at dilation rates 6/12/18 (doubled to 12/24/36 at output stride 8, because the
grid is twice as fine) and an image-level branch (global average pool -> 1x1 conv -> broadcast)
that gives every pixel the whole image's context. The five branches are concatenated, projected
by a 1x1 conv to 256 channels, classified by a 1x1 conv and bilinearly upsampled to the input.

DeepLab v3+ adds a light decoder: the ASPP output is upsampled 4x to the stride-4 ("low-level")
backbone features, which are first reduced to 48 channels so they do not drown the semantics;
two 3x3 convs refine the concatenation before the classifier and a final 4x upsampling.

One deliberate change: the image-pooling branch has no batch norm (a 1x1 map with a batch of
one has a single value per channel, which batch norm cannot normalise in training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segstudio.models.backbones import conv_norm_relu, resnet_backbone

ASPP_RATES: dict[int, tuple[int, int, int]] = {16: (6, 12, 18), 8: (12, 24, 36)}
"""Atrous rates of ASPP's three 3x3 branches at each output stride (the paper's)."""


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ImagePooling(nn.Module):
    """ASPP's image-level branch: global context, spread back over the map."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.project(F.adaptive_avg_pool2d(x, 1))
        return pooled.expand(-1, -1, *x.shape[-2:])


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling: 1x1, three dilated 3x3 (``rates``), image pooling; concat, 1x1."""

    def __init__(self, in_channels: int, out_channels: int = 256, rates: tuple[int, int, int] = (6, 12, 18)):
        super().__init__()
        self.rates = rates
        self.branches = nn.ModuleList(
            [
                conv_norm_relu(in_channels, out_channels, kernel_size=1),
                *(conv_norm_relu(in_channels, out_channels, dilation=rate) for rate in rates),
                ImagePooling(in_channels, out_channels),
            ]
        )
        self.project = conv_norm_relu(len(self.branches) * out_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class DeepLabV3(nn.Module):
    """Dilated ResNet + ASPP + 1x1 classifier; ``forward`` returns logits at the input resolution."""

    def __init__(
        self, num_classes: int, backbone: str = "resnet50", output_stride: int = 16, channels: int = 256
    ) -> None:
        super().__init__()
        if output_stride not in ASPP_RATES:
            raise ValueError(f"DeepLab's output_stride must be 16 or 8, got {output_stride}")
        self.output_stride = output_stride
        self.backbone = resnet_backbone(backbone, output_stride)
        self.aspp = ASPP(self.backbone.channels["c5"], channels, ASPP_RATES[output_stride])
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Features at the output stride, ready for the classifier."""
        return self.aspp(features["c5"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.decode(self.backbone(x)))
        return _resize(logits, x.shape[-2:])


class DeepLabV3Plus(DeepLabV3):
    """DeepLab v3 with the v3+ decoder over the stride-4 features (``c2``)."""

    def __init__(
        self,
        num_classes: int,
        backbone: str = "resnet50",
        output_stride: int = 16,
        channels: int = 256,
        low_level_channels: int = 48,
    ) -> None:
        super().__init__(num_classes, backbone, output_stride, channels)
        self.reduce_low_level = conv_norm_relu(
            self.backbone.channels["c2"], low_level_channels, kernel_size=1
        )
        self.refine = nn.Sequential(
            conv_norm_relu(channels + low_level_channels, channels), conv_norm_relu(channels, channels)
        )

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        low_level = self.reduce_low_level(features["c2"])
        context = _resize(self.aspp(features["c5"]), low_level.shape[-2:])
        return self.refine(torch.cat([context, low_level], dim=1))
