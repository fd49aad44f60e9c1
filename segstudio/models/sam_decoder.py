"""SAM 2's mask decoder per click, with its image half prepared once and its per-pixel work regrouped.

Why: a click is the user waiting. sam2's ``MaskDecoder`` costs 2.75 GFLOP per click at 1024 px
(torch's counter), most of it projections of all 4096 image tokens, and its NCHW transposed
convolutions spend as long again on layout copies. Here, with sam2's own modules and weights:

- the image's tokens (embedding plus the no-mask embedding) and positional encoding are laid out
  contiguous once per image, with the first block's three projections of the image, which do not
  depend on the prompts;
- the attentions between the few tokens and the 4096 pixels are regrouped by associativity so
  that no (4096, 128) projection of the image is made per click: a few rows of weights times
  the image instead (``_tokens_to_image``, ``_image_to_tokens``): 1.82 GFLOP per click;
- the upscaling works on pixels-by-channels tensors: each 2x2 stride-2 transposed convolution is
  one matrix product, and its pixel shuffle, bias and the high-resolution features are one sum.

The sums are the same as sam2's, in another order, so logits agree to float rounding: the masks
equal ``SAM2ImagePredictor``'s pixel for pixel on the test's prompt sets and the scores to 1e-6
(``tests/models/test_sam.py``). sam2's prompt encoder, self attention, norms, MLPs and heads run
as they are.
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
    added: tuple[torch.Tensor, torch.Tensor]
    """What the upscaling adds after its second and first transposed convolutions (``_upscale``)."""
    first: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    """The first block's tokens-to-image keys and values and image-to-tokens queries."""


def image_side(model: nn.Module, features: dict[str, object], key_pe: torch.Tensor) -> ImageSide:
    """The image half of the decoder's input (what sam2 builds per click from ``features``)."""
    embed = features["image_embed"]
    assert isinstance(embed, torch.Tensor)
    dense = model.sam_prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
    src = embed + dense  # sam2: src + dense_prompt_embeddings (the no-mask embedding, expanded)
    keys = src.flatten(2).permute(0, 2, 1).contiguous()
    block = model.sam_mask_decoder.transformer.layers[0]
    with_pe = keys + key_pe
    first = (
        block.cross_attn_token_to_image.k_proj(with_pe),
        block.cross_attn_token_to_image.v_proj(keys),
        block.cross_attn_image_to_token.q_proj(with_pe),
    )
    added = _added_after_convolutions(model.sam_mask_decoder, features)
    return ImageSide(keys, key_pe, tuple(src.shape), added, first)  # type: ignore[arg-type]


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
        queries, keys = _block(layer, queries, keys, tokens, side.key_pe)
    attn_out = _tokens_to_image(
        transformer.final_attn_token_to_image, queries + tokens, keys + side.key_pe, keys
    )
    hs = transformer.norm_final_attn(queries + attn_out)

    upscaled, (height, width) = _upscale(decoder, keys, side)
    mask_tokens_out = hs[:, s + 1 : (s + 1 + decoder.num_mask_tokens), :]
    hyper_in = torch.stack(
        [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=1
    )
    masks = (hyper_in @ upscaled.transpose(1, 2)).view(upscaled.shape[0], -1, height, width)
    scores = decoder.iou_prediction_head(hs[:, s, :])
    return masks, scores


def _upscale(decoder: nn.Module, keys: torch.Tensor, side: ImageSide) -> tuple[torch.Tensor, tuple[int, int]]:
    """sam2's ``output_upscaling`` (with the high-resolution features added, when the model has
    them) on the image tokens, pixels by channels all the way: each 2x2 stride-2 transposed
    convolution is one matrix product per pixel, and its pixel shuffle, bias and feature sum are
    one pass; the layer norm is over the last axis. sam2 runs them as NCHW convolutions, whose
    layout copies were half a click's time. Returns (batch, pixels, channels) at four times the
    embedding's side, and that side."""
    dc1, ln1, act1, dc2, act2 = decoder.output_upscaling
    batch, _, height, width = side.shape
    upscaled = _transposed_conv_2x(dc1, keys, height, width, side.added[1])
    upscaled = act1(F.layer_norm(upscaled, upscaled.shape[-1:], ln1.weight, ln1.bias, ln1.eps))
    upscaled = _transposed_conv_2x(dc2, upscaled, 2 * height, 2 * width, side.added[0])
    return act2(upscaled), (4 * height, 4 * width)


def _transposed_conv_2x(
    conv: nn.ConvTranspose2d, pixels: torch.Tensor, height: int, width: int, added: torch.Tensor
) -> torch.Tensor:
    """``conv`` (kernel 2, stride 2: each input pixel makes its own 2x2 block) on (batch, height x
    width, in) pixels in row order, plus ``added`` (its bias, and the features sam2 adds after
    it): (batch, 2 height x 2 width, out)."""
    batch, _, channels = pixels.shape
    out = conv.out_channels
    weight = conv.weight.permute(0, 2, 3, 1).reshape(channels, 4 * out)  # columns: (row, column, out)
    blocks = (pixels.reshape(-1, channels) @ weight).view(batch, height, width, 2, 2, out).transpose(2, 3)
    shuffled = pixels.new_empty(batch, height, 2, width, 2, out)
    if added.dim() > 1:
        added = added.view(-1, height, 2, width, 2, out)
    torch.add(blocks, added, out=shuffled)
    return shuffled.view(batch, 4 * height * width, out)


def _added_after_convolutions(
    decoder: nn.Module, features: dict[str, object]
) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``_upscale`` adds after each transposed convolution, (second, first): its bias plus,
    when the model uses them, the image's high-resolution features (pixels by channels), summed
    once per image."""
    dc1, _, _, dc2, _ = decoder.output_upscaling
    if not decoder.use_high_res_features:
        return dc2.bias, dc1.bias
    feat_s0, feat_s1 = features["high_res_feats"]  # type: ignore[misc]
    return (
        (feat_s0.flatten(2).transpose(1, 2) + dc2.bias).contiguous(),
        (feat_s1.flatten(2).transpose(1, 2) + dc1.bias).contiguous(),
    )


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
    attn_out = _image_to_tokens(
        block.cross_attn_image_to_token, image_queries, queries + tokens, queries, projected=True
    )
    return queries, block.norm4(side.keys + attn_out)


def _block(
    block: nn.Module, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor, key_pe: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """sam2's ``TwoWayAttentionBlock.forward`` after the first, its two cross attentions regrouped."""
    if block.skip_first_layer_pe:
        queries = block.self_attn(q=queries, k=queries, v=queries)
    else:
        q = queries + query_pe
        queries = queries + block.self_attn(q=q, k=q, v=queries)
    queries = block.norm1(queries)
    with_pe = keys + key_pe
    queries = block.norm2(
        queries + _tokens_to_image(block.cross_attn_token_to_image, queries + query_pe, with_pe, keys)
    )
    queries = block.norm3(queries + block.mlp(queries))
    to_tokens = block.cross_attn_image_to_token
    attn_out = _image_to_tokens(to_tokens, with_pe, queries + query_pe, queries)
    return queries, block.norm4(keys + attn_out)


def _tokens_to_image(attention: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """sam2's ``Attention.forward`` for a few queries (the tokens) over the image's many keys, with no
    projection of the image: each head's scores are ``(q W_q,h) W_k,h`` against the image itself
    (the key bias adds a constant per query, which softmax ignores), and each head's output is its
    weights times the image, then ``W_v,h`` (the weights sum to one, so the value bias just adds).
    The same sums as projecting all 4096 keys and values, grouped so that 2 x 80 rows meet the
    image instead of 2 x 128 projection columns per pixel, and no (4096, 128) tensors are made."""
    heads, dim = attention.num_heads, attention.internal_dim
    per_head = dim // heads
    batch, count, channels = q.shape
    query = attention.q_proj(q).view(batch, count, heads, per_head)
    w_k = attention.k_proj.weight.view(heads, per_head, -1)
    reach = torch.einsum("bthd,hdc->bhtc", query, w_k).reshape(batch, heads * count, -1)
    scores = (reach @ k.transpose(1, 2)) * per_head**-0.5  # (b, heads x tokens, pixels)
    weighted = scores.softmax(dim=-1) @ v  # (b, heads x tokens, channels)
    w_v = attention.v_proj.weight.view(heads, per_head, -1)
    out = torch.einsum("bhtc,hdc->bthd", weighted.view(batch, heads, count, -1), w_v).reshape(
        batch, count, dim
    )
    return attention.out_proj(out + attention.v_proj.bias)


def _image_to_tokens(
    attention: nn.Module, image: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, projected: bool = False
) -> torch.Tensor:
    """sam2's ``Attention.forward`` for the image's many queries over a few keys (the tokens), with
    no (4096, 128) projection of the image: the scores are the image times ``W_q,h k_h^T`` (plus
    the query bias's share), softmax runs over the few tokens, and the output is the weights times
    each head's values already taken through ``out_proj`` (``v_h W_o,h^T``, a few rows). ``image``
    is the queries' input, or their projections when ``projected`` (the first block's, made once
    per image)."""
    heads, dim = attention.num_heads, attention.internal_dim
    per_head = dim // heads
    batch, pixels, _ = image.shape
    count = k.shape[1]
    key = attention.k_proj(k).view(batch, count, heads, per_head)
    if projected:
        scores = torch.einsum("bnhd,bthd->bnht", image.view(batch, pixels, heads, per_head), key)
    else:
        w_q = attention.q_proj.weight.view(heads, per_head, -1)
        reach = torch.einsum("hdc,bthd->bcht", w_q, key).reshape(batch, -1, heads * count)
        offset = torch.einsum("hd,bthd->bht", attention.q_proj.bias.view(heads, per_head), key)
        scores = torch.baddbmm(offset.reshape(batch, 1, heads * count), image, reach)
    weights = (scores.view(batch, pixels, heads, count) * per_head**-0.5).softmax(dim=-1)
    value = attention.v_proj(v).view(batch, count, heads, per_head)
    w_o = attention.out_proj.weight.view(-1, heads, per_head)
    through = torch.einsum("bthd,chd->bhtc", value, w_o).reshape(batch, heads * count, -1)
    return torch.baddbmm(attention.out_proj.bias, weights.view(batch, pixels, heads * count), through)


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
