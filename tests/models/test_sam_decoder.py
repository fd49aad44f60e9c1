"""The regrouped per-click decoder (``models.sam_decoder``) against sam2's own ``MaskDecoder``,
on small decoders built from sam2's classes with and without high-resolution features (the
published SAM 2.1 models all use them; ``test_sam.py`` checks those end to end): the mask sam2
keeps (its multimask and dynamic-stability rules) and its score, for several prompt sets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("sam2")

from sam2.modeling.sam.mask_decoder import MaskDecoder  # noqa: E402
from sam2.modeling.sam.prompt_encoder import PromptEncoder  # noqa: E402
from sam2.modeling.sam.transformer import TwoWayTransformer  # noqa: E402

from segstudio import _native  # noqa: E402
from segstudio.models.click_threads import setting  # noqa: E402
from segstudio.models.sam_decoder import decode, image_side, positional_encoding  # noqa: E402

DIM, SIDE = 32, 16


class _Model(nn.Module):
    """The two parts of ``SAM2Base`` the decoder reads."""

    def __init__(
        self, high_res: bool, stable_at: float | None, side: tuple[int, int], depth: int = 2
    ) -> None:
        super().__init__()
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=DIM,
            image_embedding_size=side,
            input_image_size=(4 * side[0], 4 * side[1]),
            mask_in_chans=8,
        )
        self.sam_mask_decoder = MaskDecoder(
            transformer_dim=DIM,
            transformer=TwoWayTransformer(depth=depth, embedding_dim=DIM, num_heads=4, mlp_dim=64),
            iou_head_hidden_dim=DIM,
            use_high_res_features=high_res,
            pred_obj_scores=True,
            dynamic_multimask_via_stability=stable_at is not None,
            dynamic_multimask_stability_delta=0.05,
            dynamic_multimask_stability_thresh=stable_at or 0.0,
        )


def _sam2s_choice(
    model: _Model, features: dict, points: tuple, multimask: bool
) -> tuple[torch.Tensor, float]:
    """sam2's ``MaskDecoder.forward`` as ``SAM2ImagePredictor._predict`` calls it, then the best
    scored of the masks it returns (what ``SamPredictor`` keeps)."""
    sparse, dense = model.sam_prompt_encoder(points=points, boxes=None, masks=None)
    masks, scores, _, _ = model.sam_mask_decoder(
        image_embeddings=features["image_embed"],
        image_pe=model.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=multimask,
        repeat_image=False,
        high_res_features=features["high_res_feats"]
        if model.sam_mask_decoder.use_high_res_features
        else None,
    )
    best = int(torch.argmax(scores[0]))
    return masks[0, best], float(scores[0, best])


@pytest.mark.parametrize(
    ("high_res", "stable_at", "side", "depth", "compiled", "cores"),
    [
        (False, None, (SIDE, SIDE), 2, True, 1),
        (True, 0.98, (SIDE, SIDE), 2, True, 1),  # SAM 2.1's setting: masks 0 (stability ~0.88) not kept
        (True, 0.5, (12, 20), 2, True, 1),  # they are
        (True, None, (20, 12), 2, True, 1),
        (True, 0.98, (SIDE, SIDE), 3, True, 1),  # SAM 2 has two blocks; a third takes the general path
        (False, None, (SIDE, SIDE), 1, True, 1),
        (True, 0.5, (12, 20), 2, False, 1),  # the upscaling in torch's ops (no C extension)
        (False, None, (SIDE, SIDE), 2, False, 1),
        (True, 0.98, (SIDE, SIDE), 2, True, 2),  # the click's parts side by side on 2 threads
        (True, 0.5, (12, 20), 3, False, 3),  # on 3, uneven parts
    ],
)
def test_the_regrouped_decoder_keeps_sam2s_mask_and_score(
    high_res: bool,
    stable_at: float | None,
    side: tuple[int, int],
    depth: int,
    compiled: bool,
    cores: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if compiled:  # make test requires the extension: its absence fails here, never skips
        assert _native.pixels is not None, "segstudio._native.pixels is not built"
    else:
        monkeypatch.setattr(_native, "pixels", None)
    torch.manual_seed(3)
    model = _Model(high_res, stable_at, side, depth).eval()
    for parameter in model.parameters():  # sam2 starts some at zero: make every term count
        nn.init.normal_(parameter, std=0.3)
    height, width = side
    features = {
        "image_embed": torch.randn(1, DIM, height, width),
        "high_res_feats": [
            torch.randn(1, DIM // 8, 4 * height, 4 * width),
            torch.randn(1, DIM // 4, 2 * height, 2 * width),
        ],
    }
    generator = torch.Generator().manual_seed(11)
    with torch.inference_mode():
        prepared = image_side(model, features, positional_encoding(model))
        chosen = set()
        for count in (1, 1, 2, 3, 5):
            coords = torch.rand(1, count, 2, generator=generator) * torch.tensor([4.0 * width, 4.0 * height])
            labels = torch.randint(0, 2, (1, count), generator=generator, dtype=torch.int)
            for boxed in (False, True):
                points = (coords, labels)
                if boxed:  # a box's corners go first, labelled 2 and 3 (sam2's _predict)
                    corners = torch.tensor([[[2.0, 3.0], [3.0 * width, 3.5 * height]]])
                    points = (torch.cat([corners, coords], 1), torch.cat([torch.tensor([[2, 3]]), labels], 1))
                multimask = count == 1 and not boxed
                expected, expected_score = _sam2s_choice(model, features, points, multimask)
                with setting(cores, 1):
                    logits, score = decode(model, prepared, points, multimask)
                assert logits.shape == expected.shape == (4 * height, 4 * width)
                assert float(expected.abs().mean()) > 0.1  # not a decoder that outputs nothing
                torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
                assert float(score) == pytest.approx(expected_score, rel=1e-5, abs=1e-6)
                chosen.add(round(float(score), 6))
    assert len(chosen) > 5  # the prompt sets give different answers


def test_more_than_one_prompt_set_at_once_is_refused() -> None:
    model = _Model(False, None, (SIDE, SIDE)).eval()
    features = {"image_embed": torch.randn(1, DIM, SIDE, SIDE)}
    with torch.inference_mode():
        prepared = image_side(model, features, positional_encoding(model))
        with pytest.raises(ValueError, match="one prompt set at a time"):
            decode(model, prepared, (torch.rand(2, 1, 2), torch.ones(2, 1, dtype=torch.int)), False)
