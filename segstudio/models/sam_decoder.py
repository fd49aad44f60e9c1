"""SAM 2's mask decoder per click with its image half prepared once: sam2's own modules, called in
the order sam2's ``MaskDecoder.predict_masks`` and ``TwoWayTransformer.forward`` call them, with the
image side laid out as the transformer reads it.

Why: sam2 flattens the image embedding and its positional encoding to (1, 4096, 256) by permuting
an (1, 256, 64, 64) tensor, so every ``keys + key_pe`` in its attention blocks reads memory
transposed (about 10 ms each on a two-core CPU, seven per click). Here the image's tokens (embedding
plus the no-mask embedding) and the positional encoding are made contiguous once per image and once
per model. And the first attention block reads the image only through three projections that do
not depend on the prompts (the tokens-to-image keys and values, the image-to-tokens queries): they
are computed once per image too, three of the eight (4096 x 256) x (256 x 128) products a click
costs. Every module is sam2's (prompt encoder, attention projections and heads, norms, MLPs,
upscaling); only the order of the calls is written here. The result is checked against sam2's
own ``SAM2ImagePredictor`` in ``tests/models/test_sam.py`` (the same masks, pixel for pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ImageSide:
    """What the decoder needs of one image, computed once: tokens and positions (1, HW, C)
    contiguous, the (1, C, H, W) shape, sam2's high-resolution features, and the first block's
    projections of the image (``first``). About 10 MB beside the 16 MB embedding at 1024 px."""

    keys: torch.Tensor
    key_pe: torch.Tensor
    shape: tuple[int, int, int, int]
    high_res: tuple[torch.Tensor, ...]
    first: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    """The first block's tokens-to-image keys and values and image-to-tokens queries."""


def image_side(model: nn.Module, features: dict[str, object], key_pe: torch.Tensor) -> ImageSide:
    """The image half of the decoder's input (what sam2 builds per click from ``features``)."""
    embed = features["image_embed"]
    assert isinstance(embed, torch.Tensor)
    dense = model.sam_prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
    src = embed + dense  # sam2: src + dense_prompt_embeddings (the no-mask embedding, expanded)
    keys = src.flatten(2).permute(0, 2, 1).contiguous()
    high_res = tuple(features["high_res_feats"])  # type: ignore[arg-type]
    block = model.sam_mask_decoder.transformer.layers[0]
    with_pe = keys + key_pe
    first = (
        block.cross_attn_token_to_image.k_proj(with_pe),
        block.cross_attn_token_to_image.v_proj(keys),
        block.cross_attn_image_to_token.q_proj(with_pe),
    )
    return ImageSide(keys, key_pe, tuple(src.shape), high_res, first)  # type: ignore[arg-type]


def positional_encoding(model: nn.Module) -> torch.Tensor:
    """sam2's dense positional encoding as (1, HW, C), contiguous (the same for every image)."""
    return model.sam_prompt_encoder.get_dense_pe().flatten(2).permute(0, 2, 1).contiguous()


def decode(
    model: nn.Module, side: ImageSide, points: tuple[torch.Tensor, torch.Tensor], multimask: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-res mask logits (1, C, 4h, 4w) and scores (1, C) for ``points`` (sam2's concatenated
    points and box corners, already in the model's input frame), as ``SAM2Base``'s decoder gives."""
    decoder = model.sam_mask_decoder
    sparse, _ = model.sam_prompt_encoder(points=points, boxes=None, masks=None)
    masks, scores = _predict_masks(decoder, side, sparse)
    if multimask:
        return masks[:, 1:], scores[:, 1:]
    if decoder.dynamic_multimask_via_stability and not decoder.training:
        return decoder._dynamic_multimask_via_stability(masks, scores)
    return masks[:, 0:1], scores[:, 0:1]


def _predict_masks(
    decoder: nn.Module, side: ImageSide, sparse: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``MaskDecoder.predict_masks`` for one image and one prompt set, with ``side`` prepared."""
    s = 1 if decoder.pred_obj_scores else 0
    weights = [decoder.iou_token.weight, decoder.mask_tokens.weight]
    if decoder.pred_obj_scores:
        weights.insert(0, decoder.obj_score_token.weight)
    output_tokens = torch.cat(weights, dim=0).unsqueeze(0).expand(sparse.size(0), -1, -1)
    tokens = torch.cat((output_tokens, sparse), dim=1)

    transformer = decoder.transformer  # TwoWayTransformer.forward from the flattened image on
    first, *others = transformer.layers
    queries, keys = _first_block(first, tokens, side)
    for layer in others:
        queries, keys = layer(queries=queries, keys=keys, query_pe=tokens, key_pe=side.key_pe)
    attn_out = transformer.final_attn_token_to_image(q=queries + tokens, k=keys + side.key_pe, v=keys)
    hs = transformer.norm_final_attn(queries + attn_out)

    b, c, h, w = side.shape
    src = keys.transpose(1, 2).view(b, c, h, w)
    if not decoder.use_high_res_features:
        upscaled = decoder.output_upscaling(src)
    else:
        dc1, ln1, act1, dc2, act2 = decoder.output_upscaling
        feat_s0, feat_s1 = side.high_res
        upscaled = act1(ln1(dc1(src) + feat_s1))
        upscaled = act2(dc2(upscaled) + feat_s0)
    mask_tokens_out = hs[:, s + 1 : (s + 1 + decoder.num_mask_tokens), :]
    hyper_in = torch.stack(
        [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=1
    )
    b, c, h, w = upscaled.shape
    masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
    scores = decoder.iou_prediction_head(hs[:, s, :])
    return masks, scores


def _first_block(
    block: nn.Module, tokens: torch.Tensor, side: ImageSide
) -> tuple[torch.Tensor, torch.Tensor]:
    """sam2's ``TwoWayAttentionBlock.forward`` for the first block (queries = their positions =
    the prompt tokens), with the image's projections taken from ``side.first``."""
    keys_to, values_to, image_queries = side.first
    if block.skip_first_layer_pe:
        queries = block.self_attn(q=tokens, k=tokens, v=tokens)
    else:
        queries = tokens + block.self_attn(q=tokens + tokens, k=tokens + tokens, v=tokens)
    queries = block.norm1(queries)
    to_image = block.cross_attn_token_to_image
    queries = block.norm2(queries + _attend(to_image, to_image.q_proj(queries + tokens), keys_to, values_to))
    queries = block.norm3(queries + block.mlp(queries))
    to_tokens = block.cross_attn_image_to_token
    with_pe = queries + tokens
    attn_out = _attend(to_tokens, image_queries, to_tokens.k_proj(with_pe), to_tokens.v_proj(queries))
    return queries, block.norm4(side.keys + attn_out)


def _attend(attention: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """sam2's ``Attention.forward`` after its input projections (``q``, ``k``, ``v`` projected)."""
    heads = attention.num_heads
    out = F.scaled_dot_product_attention(
        attention._separate_heads(q, heads),
        attention._separate_heads(k, heads),
        attention._separate_heads(v, heads),
        dropout_p=attention.dropout_p if attention.training else 0.0,
    )
    return attention.out_proj(attention._recombine_heads(out))
