"""U-Net: output shapes, width/depth, concatenated skips and transposed-convolution upsampling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segstudio.models.unet import UNet


@pytest.mark.parametrize(("width", "depth"), [(16, 4), (8, 2), (4, 1)])
def test_logits_at_input_size(width: int, depth: int) -> None:
    model = UNet(5, width=width, depth=depth).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 128, 128)).shape == (2, 5, 128, 128)
        assert model(torch.randn(1, 3, 45, 70)).shape == (1, 5, 45, 70)  # padded, then cropped


def test_width_and_depth_set_the_encoder() -> None:
    model = UNet(2, width=8, depth=3)
    widths = [block[1][0].out_channels for block in model.encoder]
    assert widths == [8, 16, 32, 64]
    assert len(model.upconvs) == len(model.decoder) == 3


def test_decoder_concatenates_encoder_features_after_transposed_convolutions() -> None:
    model = UNet(2, width=8, depth=3).eval()
    assert all(isinstance(up, nn.ConvTranspose2d) and up.stride == (2, 2) for up in model.upconvs)
    seen: list[tuple[int, ...]] = []
    hooks = [
        block.register_forward_hook(lambda _m, args, _o: seen.append(tuple(args[0].shape)))
        for block in model.decoder
    ]
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    # Coarse to fine: each decoder block sees skip + upsampled maps, 2 x the level's width.
    assert seen == [(1, 64, 16, 16), (1, 32, 32, 32), (1, 16, 64, 64)]


def test_gradients_reach_the_first_encoder_block() -> None:
    model = UNet(3, width=4, depth=2)
    model(torch.randn(2, 3, 32, 32)).mean().backward()
    assert model.encoder[0][0][0].weight.grad.abs().sum() > 0


def test_bad_shape_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        UNet(2, depth=0)
