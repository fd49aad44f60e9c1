"""U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015).

The idea: a contracting path (two 3x3 convs then a 2x2 max-pool, channels doubling each level)
captures context; a symmetric expanding path (a 2x2 transposed convolution halving the channels,
concatenation with the encoder features of the same resolution, then two 3x3 convs) recovers
localisation. Concatenated skips hand the decoder the encoder's fine detail directly, which is
why U-Net trains well from few labelled images -- the situation of a labelling studio.

Differences from the paper, for a CPU-trainable default: padded 3x3 convolutions (the output
is the input's size, no overlap-tile cropping) with batch norm, and a small ``width`` (16
instead of 64). ``depth`` is the number of poolings (the paper's is 4).
"""

from __future__ import annotations

import torch
from torch import nn

from segstudio.models.backbones import conv_norm_relu, pad_to_multiple


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """The U-Net unit: two 3x3 conv + norm + ReLU."""
    return nn.Sequential(
        conv_norm_relu(in_channels, out_channels), conv_norm_relu(out_channels, out_channels)
    )


class UNet(nn.Module):
    """U-Net with ``depth`` poolings and ``width`` channels at full resolution (doubling per level).

    ``forward(x)`` returns logits ``(N, num_classes, H, W)`` at the input size; inputs of any
    size are padded to a multiple of ``2 ** depth`` and the output cropped back.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"U-Net needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
        self.depth = depth
        widths = [width * 2**level for level in range(depth + 1)]
        self.encoder = nn.ModuleList(
            double_conv(in_channels if level == 0 else widths[level - 1], widths[level])
            for level in range(depth + 1)
        )
        self.pool = nn.MaxPool2d(2)
        # Decoder, coarse to fine: up-convolution to the skip's width, concatenate, two convs.
        self.upconvs = nn.ModuleList(
            nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2)
            for level in reversed(range(depth))
        )
        self.decoder = nn.ModuleList(
            double_conv(2 * widths[level], widths[level]) for level in reversed(range(depth))
        )
        self.head = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (height, width) = pad_to_multiple(x, 2**self.depth)
        skips: list[torch.Tensor] = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()  # the bottleneck
        for upconv, block in zip(self.upconvs, self.decoder, strict=True):
            x = block(torch.cat([skips.pop(), upconv(x)], dim=1))
        return self.head(x)[..., :height, :width]
