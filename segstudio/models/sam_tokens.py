"""SAM 2's few tokens per click in few torch calls: the prompt encoder, the tokens' self attention,
their projections, norms and MLPs, and the IoU and hypernetwork heads.

Why: once the decoder's per-pixel work was regrouped (``sam_decoder``), the work on the click's
7-12 tokens was ~500 torch calls, serial between the pixel parts that run side by side, each
costing more in dispatch (module ``__call__``, ``F.linear``'s checks, views of (1, T, c)
batches, per-head reshapes, ``torch.where`` per label) than in arithmetic. Here each linear
layer is one ``addmm`` of the tokens as (T, c) against its weight laid out (in, out) once per
model (MKL is faster on it than on the transposed view ``F.linear`` passes, up to 1.5x for the
MLP's second layer at T = 10), the attention scales are folded into the query (or key) weights,
the self attention's three projections are one product and its heads one batched product each
way, the prompt encoder's label embeddings one gather, and the fixed tokens (object score,
IoU, mask) are one tensor. The sums are sam2's up to float rounding (the scale folded into a
weight, a residual added before a bias): the decoder's tests hold the logits to sam2's at 1e-5.

The weights are read once per decoder (``token_weights``: kept while its parameters are the same
tensors at the same versions), so a model's new weights are never missed and images share them.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from segstudio.models.click_threads import shared
from segstudio.models.click_threads import width as click_width


class Dense(NamedTuple):
    """A linear layer (or several side by side) as its weight (in, out), contiguous, and bias."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, rows, self.weight)


def _dense(*linears: nn.Linear, scale: float = 1.0) -> Dense:
    """``linears`` as one ``Dense`` whose outputs are theirs side by side, times ``scale``."""
    weight = torch.cat([linear.weight for linear in linears]).t().contiguous()
    bias = torch.cat([linear.bias for linear in linears])
    if scale != 1.0:
        weight, bias = weight * scale, bias * scale
    return Dense(weight, bias)


class Norm(NamedTuple):
    """A LayerNorm's parameters, called without its module."""

    shape: tuple[int, ...]
    weight: torch.Tensor
    bias: torch.Tensor
    eps: float

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(rows, self.shape, self.weight, self.bias, self.eps)


def _norm(norm: nn.LayerNorm) -> Norm:
    return Norm(tuple(norm.normalized_shape), norm.weight, norm.bias, norm.eps)


@dataclass(frozen=True)
class Block:
    """One ``TwoWayAttentionBlock``'s token side: everything but the attentions' image parts."""

    self_heads: int
    to_image_heads: int
    skip_pe: bool
    self_qkv: Dense
    """The self attention's query (scaled), key and value projections, side by side."""
    self_out: Dense
    norms: tuple[Norm, Norm, Norm]
    to_image_query: Dense
    """The tokens-to-image queries, scaled by 1 / sqrt(head size)."""
    to_image_out: Dense
    mlp: tuple[Dense, Dense]
    relu: bool
    """The MLP's activation is sam2's default ReLU (else its module is called)."""
    activation: nn.Module
    to_tokens_key: Dense
    """The image-to-tokens keys, scaled by 1 / sqrt(head size)."""
    to_tokens_value: Dense
    to_tokens_out: torch.Tensor
    """The image-to-tokens output projection per head, (heads, head size, c)."""
    to_tokens_bias: torch.Tensor
    """Its bias over the heads (each pixel's weights sum to one per head)."""

    def self_attention(self, queries: torch.Tensor, pe: torch.Tensor) -> torch.Tensor:
        """sam2's self attention of the tokens (T, c) and its norm: q = k = tokens + positions
        (or without them in the first block), v = tokens, the residual added unless skipped."""
        qkv = self.self_qkv(queries)
        if not self.skip_pe:  # (queries + pe) W for q and k: the positions' share added
            width = 2 * qkv.shape[1] // 3
            qkv[:, :width].addmm_(pe, self.self_qkv.weight[:, :width])
        count = queries.shape[0]
        q, k, v = qkv.view(count, 3, self.self_heads, -1).permute(1, 2, 0, 3)
        weights = torch.bmm(q, k.transpose(1, 2)).softmax(dim=-1)
        mixed = torch.bmm(weights, v).transpose(0, 1).reshape(count, -1)
        if self.skip_pe:
            return self.norms[0](self.self_out(mixed))
        return self.norms[0](torch.addmm(self.self_out.bias, mixed, self.self_out.weight).add_(queries))

    def after_to_image(self, queries: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
        """The tokens after the tokens-to-image attention's heads (``mixed``, (T, c')): its output
        projection, the residual and norm, the MLP, the residual and norm."""
        out = self.to_image_out
        queries = self.norms[1](torch.addmm(out.bias, mixed, out.weight).add_(queries))
        return self.norms[2](self._mlp(queries).add_(queries))

    def _mlp(self, queries: torch.Tensor) -> torch.Tensor:
        """The MLP of the tokens; on more than one click thread its hidden units in halves, taken
        by the threads (``click_threads.shared``): the largest products of the token side (T x
        256 x 2048 twice), which no pixel work can overlap (a click on 2 free cores 28.3 / 27.9
        ms vs 29.3 / 28.2 with the MLP whole, interleaved in one process)."""
        (first, second), width = self.mlp, click_width()
        if width < 2:
            hidden = first(queries)
            hidden = hidden.relu_() if self.relu else self.activation(hidden)
            return torch.addmm(second.bias, hidden, second.weight)
        size = -(-first.weight.shape[1] // width)
        parts = [slice(start, start + size) for start in range(0, first.weight.shape[1], size)]

        def work(taken: Iterable[slice]) -> list[torch.Tensor]:
            done = []
            for part in taken:
                hidden = torch.addmm(first.bias[part], queries, first.weight[:, part])
                hidden = hidden.relu_() if self.relu else self.activation(hidden)
                done.append(hidden @ second.weight[part])
            return done

        _, sums = shared(parts, work)
        out = sums[0].add_(second.bias)
        for other in sums[1:]:
            out.add_(other)
        return out

    def through(self, queries: torch.Tensor) -> torch.Tensor:
        """The image-to-tokens values taken through the output projection per head, its bias
        shared among the heads: (heads x T, c) rows that ``sam_decoder._updated`` weighs."""
        count = queries.shape[0]
        heads = self.to_tokens_out.shape[0]
        value = self.to_tokens_value(queries).view(count, heads, -1).transpose(0, 1)
        return torch.bmm(value, self.to_tokens_out).view(heads * count, -1).add_(self.to_tokens_bias)


@dataclass(frozen=True)
class Final:
    """The final tokens-to-image attention's token side and the heads read after it."""

    query: Dense
    """Its queries, scaled by 1 / sqrt(head size)."""
    value: torch.Tensor
    """Its value projection per head, (heads, c, head size), and the bias (heads, 1, head size)."""
    value_bias: torch.Tensor
    out: Dense
    norm: Norm
    iou: tuple[Dense, ...]
    iou_sigmoid: bool
    hypernetworks: tuple[tuple[Dense, ...], ...]

    def attended(self, queries: torch.Tensor, weighted: torch.Tensor) -> torch.Tensor:
        """The read tokens (count, c) after the attention whose heads' softmax weights times the
        image are ``weighted`` (heads, count, c): ``W_v,h`` per head (the weights sum to one, so
        the value bias just adds), the output projection, the residual and the norm."""
        count = weighted.shape[1]
        values = torch.baddbmm(self.value_bias, weighted, self.value).transpose(0, 1).reshape(count, -1)
        return self.norm(torch.addmm(self.out.bias, values, self.out.weight).add_(queries))

    def scores(self, iou_token: torch.Tensor) -> torch.Tensor:
        """The IoU head's scores of the masks (masks,) from the IoU token (1, c)."""
        return _mlp(self.iou, iou_token, self.iou_sigmoid)[0]

    def hyper(self, mask_tokens: torch.Tensor, chosen: list[int]) -> torch.Tensor:
        """The chosen masks' hypernetwork rows (len(chosen), c / 8) from the mask tokens (masks, c)."""
        rows = [_mlp(self.hypernetworks[i], mask_tokens[i : i + 1], False) for i in chosen]
        return rows[0] if len(rows) == 1 else torch.cat(rows)


def _mlp(layers: tuple[Dense, ...], rows: torch.Tensor, sigmoid: bool) -> torch.Tensor:
    """sam2's ``MLP`` (ReLU between its layers) of ``rows``."""
    for layer in layers[:-1]:
        rows = layer(rows).relu_()
    rows = layers[-1](rows)
    return rows.sigmoid_() if sigmoid else rows


@dataclass(frozen=True)
class Prompts:
    """The prompt encoder's parts for points (sam2 pads them with a not-a-point when no box is
    given, as ``SamPredictor`` always calls it: box corners come as points labelled 2 and 3)."""

    size: torch.Tensor
    """The model input's (width, height), which point coordinates are divided by."""
    gaussian: torch.Tensor
    labels: torch.Tensor
    """Row l + 1: what label l adds to a point's encoding (row 0: not-a-point, see ``sparse``)."""
    pad: torch.Tensor


@dataclass(frozen=True)
class TokenWeights:
    """What the decoder's token side reads, laid out once per decoder (``token_weights``)."""

    fixed: torch.Tensor
    """The output tokens before the prompts: object score (if any), IoU and mask tokens (n, c)."""
    prompts: Prompts
    blocks: tuple[Block, ...]
    final: Final

    def sparse(self, points: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """sam2's ``PromptEncoder`` of one prompt set's points (1, N, 2) and labels (1, N), padded,
        after the fixed tokens: the decoder's tokens (n + N + 1, c). A label of -1 (not a point)
        gives the not-a-point embedding, as sam2's ``torch.where`` does: its encoding times zero
        plus that row."""
        prompts = self.prompts
        coords = (points[0] + 0.5).div_(prompts.size).mul_(2).sub_(1)
        angles = torch.mm(coords, prompts.gaussian).mul_(2 * math.pi)
        encoded = torch.cat([angles.sin(), angles.cos()], dim=1)
        label = labels[0]
        added = prompts.labels.index_select(0, (label + 1).clamp_(min=0))
        encoded = torch.addcmul(added, encoded, (label >= 0).to(encoded.dtype)[:, None])
        return torch.cat([self.fixed, encoded, prompts.pad])


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[tuple[int, int], ...], TokenWeights]] = (
    weakref.WeakKeyDictionary()
)


def token_weights(model: nn.Module) -> TokenWeights:
    """The token side's weights of ``model`` (a ``SAM2Base``: its prompt encoder and mask
    decoder), made once and reused while every parameter is the same tensor, unchanged."""
    decoder, encoder = model.sam_mask_decoder, model.sam_prompt_encoder
    stamp = tuple((id(parameter), _version(parameter)) for parameter in model.parameters())
    kept = _CACHE.get(model)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    with torch.no_grad():
        weights = _laid_out(decoder, encoder)
    _CACHE[model] = (stamp, weights)
    return weights


def _version(parameter: torch.Tensor) -> int:
    """The tensor's in-place version (inference tensors, made by a module moved in inference
    mode, keep none: only a new tensor is seen for them)."""
    return -1 if parameter.is_inference() else int(parameter._version)


def _laid_out(decoder: nn.Module, encoder: nn.Module) -> TokenWeights:
    fixed = [decoder.iou_token.weight, decoder.mask_tokens.weight]
    if decoder.pred_obj_scores:
        fixed.insert(0, decoder.obj_score_token.weight)
    transformer = decoder.transformer
    final = transformer.final_attn_token_to_image
    heads, per_head = final.num_heads, final.internal_dim // final.num_heads
    iou = decoder.iou_prediction_head
    return TokenWeights(
        torch.cat(fixed).contiguous(),
        _prompts(encoder),
        tuple(_block(layer) for layer in transformer.layers),
        Final(
            _dense(final.q_proj, scale=per_head**-0.5),
            final.v_proj.weight.view(heads, per_head, -1).transpose(1, 2).contiguous(),
            final.v_proj.bias.view(heads, 1, per_head).clone(),
            _dense(final.out_proj),
            _norm(transformer.norm_final_attn),
            tuple(_dense(layer) for layer in iou.layers),
            bool(iou.sigmoid_output),
            tuple(tuple(_dense(layer) for layer in mlp.layers) for mlp in decoder.output_hypernetworks_mlps),
        ),
    )


def _prompts(encoder: nn.Module) -> Prompts:
    height, width = encoder.input_image_size
    gaussian = encoder.pe_layer.positional_encoding_gaussian_matrix
    point_rows = [embedding.weight for embedding in encoder.point_embeddings]
    not_a_point = encoder.not_a_point_embed.weight
    return Prompts(
        torch.tensor([float(width), float(height)], dtype=gaussian.dtype, device=gaussian.device),
        gaussian.clone(),
        torch.cat([not_a_point, *point_rows]),
        not_a_point.clone(),
    )


def _block(layer: nn.Module) -> Block:
    attention = layer.self_attn
    to_image, to_tokens = layer.cross_attn_token_to_image, layer.cross_attn_image_to_token
    self_scale = (attention.internal_dim // attention.num_heads) ** -0.5
    query = _dense(attention.q_proj, scale=self_scale)
    others = _dense(attention.k_proj, attention.v_proj)
    heads = to_tokens.num_heads
    per_head = to_tokens.internal_dim // heads
    out = to_tokens.out_proj.weight  # (c, c')
    mlp = layer.mlp
    if len(mlp.layers) != 2 or getattr(mlp, "sigmoid_output", False):
        raise ValueError("a two-way block's MLP has two layers and no sigmoid in sam2")
    return Block(
        attention.num_heads,
        to_image.num_heads,
        bool(layer.skip_first_layer_pe),
        Dense(torch.cat([query.weight, others.weight], dim=1), torch.cat([query.bias, others.bias])),
        _dense(attention.out_proj),
        (_norm(layer.norm1), _norm(layer.norm2), _norm(layer.norm3)),
        _dense(to_image.q_proj, scale=(to_image.internal_dim // to_image.num_heads) ** -0.5),
        _dense(to_image.out_proj),
        (_dense(mlp.layers[0]), _dense(mlp.layers[1])),
        type(mlp.act) is nn.ReLU,
        mlp.act,
        _dense(to_tokens.k_proj, scale=per_head**-0.5),
        _dense(to_tokens.v_proj),
        out.view(out.shape[0], heads, per_head).permute(1, 2, 0).contiguous(),
        to_tokens.out_proj.bias / heads,
    )
