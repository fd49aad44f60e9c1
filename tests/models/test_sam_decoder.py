"""The regrouped per-click decoder (``models.sam_decoder``) against sam2's own ``MaskDecoder``,
on small decoders built from sam2's classes with and without high-resolution features (the
published SAM 2.1 models all use them; ``test_sam.py`` checks those end to end)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("sam2")

from sam2.modeling.sam.mask_decoder import MaskDecoder  # noqa: E402
from sam2.modeling.sam.prompt_encoder import PromptEncoder  # noqa: E402
from sam2.modeling.sam.transformer import TwoWayTransformer  # noqa: E402

from segstudio.models.sam_decoder import _predict_masks, image_side, positional_encoding  # noqa: E402

DIM, SIDE = 32, 16


class _Model(nn.Module):
    """The two parts of ``SAM2Base`` the decoder reads."""

    def __init__(self, high_res: bool) -> None:
        super().__init__()
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=DIM,
            image_embedding_size=(SIDE, SIDE),
            input_image_size=(4 * SIDE, 4 * SIDE),
            mask_in_chans=8,
        )
        self.sam_mask_decoder = MaskDecoder(
            transformer_dim=DIM,
            transformer=TwoWayTransformer(depth=2, embedding_dim=DIM, num_heads=4, mlp_dim=64),
            iou_head_hidden_dim=DIM,
            use_high_res_features=high_res,
            pred_obj_scores=True,
        )


@pytest.mark.parametrize("high_res", [False, True])
def test_the_regrouped_decoder_gives_sam2s_logits_and_scores(high_res: bool) -> None:
    torch.manual_seed(3)
    model = _Model(high_res).eval()
    for parameter in model.parameters():  # sam2 starts some at zero: make every term count
        nn.init.normal_(parameter, std=0.3)
    embed = torch.randn(1, DIM, SIDE, SIDE)
    high = [torch.randn(1, DIM // 8, 4 * SIDE, 4 * SIDE), torch.randn(1, DIM // 4, 2 * SIDE, 2 * SIDE)]
    features = {"image_embed": embed, "high_res_feats": high}
    points = (torch.tensor([[[5.0, 9.0], [40.0, 22.5], [60.0, 3.0]]]), torch.tensor([[1, 0, 1]]))
    with torch.inference_mode():
        sparse, dense = model.sam_prompt_encoder(points=points, boxes=None, masks=None)
        expected_masks, expected_scores, _, _ = model.sam_mask_decoder.predict_masks(
            image_embeddings=embed,
            image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            repeat_image=False,
            high_res_features=high if high_res else None,
        )
        side = image_side(model, features, positional_encoding(model))
        masks, scores = _predict_masks(model.sam_mask_decoder, side, sparse)
    assert masks.shape == expected_masks.shape == (1, 4, 4 * SIDE, 4 * SIDE)
    assert float(expected_masks.abs().mean()) > 0.1  # not a decoder that outputs nothing
    torch.testing.assert_close(masks, expected_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scores, expected_scores, rtol=1e-4, atol=1e-5)
