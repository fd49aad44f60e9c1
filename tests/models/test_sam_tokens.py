"""The decoder's token side in few torch calls (``models.sam_tokens``): its prompt encoding is
sam2's ``PromptEncoder``'s, and its weights are laid out once per model but remade when the
model's weights change (the whole decoder is held to sam2's in ``test_sam_decoder.py``)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("sam2")

from sam2.modeling.sam.prompt_encoder import PromptEncoder  # noqa: E402

from segstudio.models.sam_tokens import token_weights  # noqa: E402


class _Model(torch.nn.Module):
    """What ``token_weights`` reads of a ``SAM2Base``: sam2's prompt encoder and mask decoder."""

    def __init__(self) -> None:
        super().__init__()
        from sam2.modeling.sam.mask_decoder import MaskDecoder
        from sam2.modeling.sam.transformer import TwoWayTransformer

        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=32, image_embedding_size=(12, 20), input_image_size=(48, 80), mask_in_chans=8
        )
        self.sam_mask_decoder = MaskDecoder(
            transformer_dim=32,
            transformer=TwoWayTransformer(depth=2, embedding_dim=32, num_heads=4, mlp_dim=64),
            iou_head_hidden_dim=32,
            pred_obj_scores=True,
        )


def _model() -> _Model:
    torch.manual_seed(5)
    model = _Model().eval()
    for parameter in model.parameters():  # sam2 starts some at zero: make every term count
        torch.nn.init.normal_(parameter, std=0.5)
    return model


def test_the_prompt_tokens_are_sam2s_prompt_encoding_after_the_output_tokens() -> None:
    model = _model()
    decoder = model.sam_mask_decoder
    points = torch.tensor([[[3.0, 40.5], [79.0, 0.0], [10.25, 20.0], [60.0, 33.0], [0.0, 47.0], [5.0, 5.0]]])
    labels = torch.tensor([[2, 3, 1, 0, -1, 1]], dtype=torch.int)  # box corners, +, -, not a point
    with torch.inference_mode():
        sparse, _ = model.sam_prompt_encoder(points=(points, labels), boxes=None, masks=None)
        output_tokens = [decoder.obj_score_token, decoder.iou_token, decoder.mask_tokens]
        fixed = torch.cat([embedding.weight for embedding in output_tokens])
        tokens = token_weights(model).sparse(points, labels)
    assert tokens.shape == (fixed.shape[0] + points.shape[1] + 1, 32)  # sam2 pads with a not-a-point
    assert torch.equal(tokens[: fixed.shape[0]], fixed)
    assert torch.equal(tokens[fixed.shape[0] :], sparse[0])  # the same operations, bit for bit
    assert torch.equal(tokens[-3], tokens[-1]) and not torch.equal(tokens[-2], tokens[-1])  # -1: padding


def test_the_weights_are_laid_out_once_and_again_when_the_model_changes() -> None:
    model = _model()
    with torch.inference_mode():
        first = token_weights(model)
        assert token_weights(model) is first
    query = model.sam_mask_decoder.transformer.layers[0].cross_attn_token_to_image.q_proj
    with torch.no_grad():
        query.weight.mul_(2.0)  # in place: the same tensor, a new version
    with torch.inference_mode():
        changed = token_weights(model)
    assert changed is not first
    before, after = first.blocks[0].to_image_query.weight, changed.blocks[0].to_image_query.weight
    assert torch.allclose(after, 2.0 * before)
    model.sam_mask_decoder.iou_token.weight = torch.nn.Parameter(torch.zeros(1, 32))  # a new tensor
    with torch.inference_mode():
        assert token_weights(model).fixed[1].abs().sum() == 0
