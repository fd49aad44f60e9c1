"""SAM 2's mask decoder per click, with its image half prepared once and its per-pixel work regrouped.

Why: a click is the user waiting. sam2's ``MaskDecoder`` costs 2.75 GFLOP per click at 1024 px
(torch's counter), most of it projections of all 4096 image tokens, and its NCHW transposed
convolutions spend as long again on layout copies. Here, with sam2's own modules and weights:

- the image's tokens (embedding plus the no-mask embedding) and positional encoding are laid out
  contiguous once per image, with the first block's three projections of the image, which do not
  depend on the prompts;
- the attentions between the few tokens and the 4096 pixels are regrouped by associativity so
  that no (4096, 128) projection of the image is made per click: a few rows of weights times
  the image instead (``_tokens_to_image``, ``_image_to_tokens``); the image-to-tokens scores are
  made tokens by pixels, so their softmax over a head's few tokens runs along whole rows;
- each block changes the image tokens by a low-rank update (softmax weights over 8 heads x T
  tokens times as many rows) and then a LayerNorm, which is affine per pixel (its mean and 1 / std
  are kept, ``Update``). So what is linear in the tokens next is the image's part, made once,
  plus a few columns per click: the second block's three projections (``Second``), which are
  never made: each head's scores against them are its queries times the image part and the
  constant, laid out per head once, plus a few rows times the update's weights, and its values'
  weighted sum likewise (``_second_block``); and the upscaling's first transposed convolution
  (``_first_convolution``, 4096 x (16T + 3) x 256 multiply-adds instead of 4096 x 256 x 256);
- each block's update of the image tokens (sum, norm, and for the last block the final
  attention's scores) runs chunk by chunk of pixels while the chunk is in cache (``_updated``),
  so no (4096, 256) tensor is copied, normed or added to in a pass of its own; the positions'
  share of the final attention's keys is made with the image's half (``ImageSide.final_pe``);
- the final attention runs for the tokens whose output is read (the IoU token and the mask
  tokens): every query attends to the image on its own, so the others change nothing;
- the attentions' softmaxes run in place, compiled where the project's C extension is built
  (``sam_softmax``: ~3 ms of a click at one thread in torch's kernel, ~1 ms there);
- the mask is chosen from the IoU head's scores before the upscaling, by sam2's rules (the best of
  masks 1-3 for a lone click; else mask 0, or with its dynamic stability check the best of 1-3 when
  mask 0 is unstable), so only the kept mask's hypernetwork product is made (two with the check);
- the upscaling keeps each pixel's 2x2 (then 4x4) block together (``_nested``): each transposed
  convolution is one matrix product plus its bias and high-resolution features (laid out that
  way once per image), with no pixel shuffle; it runs in slices of pixels, into buffers made once
  per click (``sam_upscaling``), the passes between its products compiled where the project's C
  extension is built: scale, norm and GELU in one loop, then the GELU, the kept masks' dot
  products and each logit written at its place in the mask in another.

The sums are the same as sam2's, in another order (and the compiled GELU is exact to ~1.4e-6),
so logits agree to float rounding (1e-5 on the tests' decoders): the masks equal
``SAM2ImagePredictor``'s but where its logit is that close to the threshold, and the scores to
1e-5 (``tests/models/test_sam.py``, ``test_sam_decoder.py``).
The few tokens' own work (sam2's prompt encoder, self attention, projections, norms, MLPs and
heads) runs in few torch calls with weights laid out once per model (``sam_tokens``): it was ~500
serial calls per click, 7.9-8.4 ms of CPU at one thread, now 6.1-7.2 (``TokenWeights``).

On more threads than the runner's (``click_threads.setting``) the large parts are taken item by
item by the click's threads, each op on one torch thread (``click_threads.shared``): the attentions
between tokens and pixels per group of heads (``_per_heads``), each block's update per chunk, the
upscaling per slice, the tokens' MLP per half. While the helpers take the first items the calling
thread runs the tokens' serial work that does not need them (the ``lead``): the second block's
self attention, queries and rows (``_second_start``) beside the first block's update; the update
rows through the first convolution (``_through_products``) beside the last; the final attention's
token side, the IoU head, the choice of masks and their hypernetwork rows (``decode``'s
``heads``) beside the upscaling, whose slices wait for those rows only at their dot products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, TypeVar

import torch
from torch import nn

from segstudio.models.click_threads import shared, width
from segstudio.models.sam_softmax import softmax_
from segstudio.models.sam_tokens import Block, TokenWeights, token_weights
from segstudio.models.sam_upscaling import upscaled_logits


@dataclass(frozen=True)
class Factored:
    """The first transposed convolution's matrix taken back through the blocks' norms, for
    ``_first_convolution``: per block (first to last) the matrix met by that block's pre-norm
    tokens and its column sums, the later norms' shifts through it, and the image's own part."""

    matrices: tuple[torch.Tensor, ...]
    sums: torch.Tensor
    shifts: torch.Tensor
    """Row l: block l's norm bias times the matrix after it (for the blocks before the last)."""
    image: torch.Tensor
    """The image tokens times the first block's matrix (pixels, 2 x 2 x out)."""
    added: torch.Tensor
    """What the convolution adds (``ImageSide.added``) plus the last norm's bias through it."""


@dataclass(frozen=True)
class Second:
    """The second block's three projections of the image tokens, for ``_second_block``: the first
    block's output is its norm of the image tokens plus a low-rank update, so each projection is
    ``rstd * (image part + update rows) + constant`` per pixel. The image parts and constants are
    made once, laid out per head as its attentions read them, so no (pixels, 3 x c') matrix is
    made per click."""

    keys: torch.Tensor
    """Tokens-to-image keys, the image part (heads, c / heads, pixels)."""
    key_constant: torch.Tensor
    """What the positions, the norm's shift and the bias add to those keys (heads, c / heads, pixels)."""
    values: torch.Tensor
    """Tokens-to-image values, the image part (heads, pixels, c / heads); their constant is one row."""
    value_row: torch.Tensor
    """The values' constant, the same for every pixel (heads, 1, c / heads)."""
    queries: torch.Tensor
    """Image-to-tokens queries, the image part (heads', c' / heads', pixels)."""
    query_constant: torch.Tensor
    matrix: torch.Tensor
    """The three projections after the first block's norm scale, (c, 3 x c'), and its column sums."""
    sums: torch.Tensor


class Update(NamedTuple):
    """One block's change to the image tokens, as ``_first_convolution`` reads it: the softmax
    weights (heads x tokens, pixels), their rows through ``out_proj`` (heads x tokens, c), and the
    block's norm's mean and 1 / std per pixel (pixels, 1)."""

    weights: torch.Tensor
    through: torch.Tensor
    mean: torch.Tensor
    rstd: torch.Tensor


@dataclass(frozen=True)
class ImageSide:
    """What the decoder needs of one image, computed once (about 38 MB beside sam2's 16 MB of
    features at 1024 px): the tokens and positions as (pixels, channels), the embedding's (h, w),
    the first block's projections of the image, the upscaling's matrices and accumulators
    (``_nested``), and the image's parts of what is linear in the blocks' outputs."""

    keys: torch.Tensor
    key_pe: torch.Tensor
    grid: tuple[int, int]
    first: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    """The first block's tokens-to-image keys (heads, c / heads, pixels) and values (heads,
    pixels, c / heads), and its image-to-tokens queries (heads, c / heads, pixels)."""
    weights: tuple[torch.Tensor, torch.Tensor]
    """The two transposed convolutions as (in, 2 x 2 x out) matrices."""
    added: tuple[torch.Tensor, torch.Tensor]
    """What each convolution adds (its bias, plus sam2's high-resolution features), in its
    output's nested order; a bias alone is one row."""
    factored: Factored
    second: Second | None
    """For the second block (``_second_block``; None for a one-block transformer)."""
    final_pe: torch.Tensor
    """The final attention's keys' share of the positions (heads, c / heads, pixels): the positional
    encoding through its key projection, per head."""
    tokens: TokenWeights
    """The token side's weights (``sam_tokens``, shared by the model's images)."""


L = TypeVar("L")


CHUNK_PIXELS = 512
"""Pixels per chunk of each block's update of the image tokens (``_updated``): the sum, its norm
and the final attention's scores of a chunk (512 KB each) are made while it is in cache, instead
of whole (pixels, c) passes through memory (unchunked: a click ~15% slower, measured)."""


WORK_OFFSET = 8
"""What a click costs beside its tokens, in tokens (``click_work``): at 1024 px, one thread, a
click's CPU time grows about as T + 8 with its T decoder tokens (bench sam's model and clicks,
medians: 41.2 ms at one point, T = 8, to 51.9 ms at five, T = 12)."""


def click_work(decoder: nn.Module, prompts: int) -> float:
    """A click's size, for ``click_threads`` to compare clicks of different sizes: its decoder
    tokens (the fixed ones, ``prompts`` points and box corners, sam2's pad) plus ``WORK_OFFSET``."""
    fixed = 1 + decoder.num_mask_tokens + (1 if decoder.pred_obj_scores else 0)
    return float(fixed + prompts + 1 + WORK_OFFSET)


def image_side(model: nn.Module, features: dict[str, object], key_pe: torch.Tensor) -> ImageSide:
    """The image half of the decoder's input (what sam2 builds per click from ``features``)."""
    embed = features["image_embed"]
    assert isinstance(embed, torch.Tensor)
    dense = model.sam_prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
    src = embed + dense  # sam2: src + dense_prompt_embeddings (the no-mask embedding, expanded)
    height, width = src.shape[-2:]
    keys = src[0].flatten(1).t().contiguous()
    block = model.sam_mask_decoder.transformer.layers[0]
    with_pe = keys + key_pe
    to_tokens = block.cross_attn_image_to_token
    queries = to_tokens.q_proj(with_pe).t().reshape(to_tokens.num_heads, -1, keys.shape[0])
    to_image = block.cross_attn_token_to_image
    pixels, heads = keys.shape[0], to_image.num_heads
    first = (
        to_image.k_proj(with_pe).t().reshape(heads, -1, pixels).contiguous(),
        to_image.v_proj(keys).view(pixels, heads, -1).transpose(0, 1).contiguous(),
        queries.contiguous(),
    )
    weights, added = _nested(model.sam_mask_decoder, features, (height, width))
    transformer = model.sam_mask_decoder.transformer
    factored = _factored(transformer, keys, weights[0], added[0])
    second = _second(transformer, keys, key_pe) if len(transformer.layers) > 1 else None
    final = transformer.final_attn_token_to_image
    final_pe = (key_pe @ final.k_proj.weight.t()).t().reshape(final.num_heads, -1, keys.shape[0]).contiguous()
    tokens = token_weights(model)
    return ImageSide(keys, key_pe, (height, width), first, weights, added, factored, second, final_pe, tokens)


def _second(transformer: nn.Module, keys: torch.Tensor, key_pe: torch.Tensor) -> Second:
    """``ImageSide.second``: the second block's tokens-to-image keys and values and image-to-tokens
    queries are projections of the first block's output, which is its norm of the image tokens
    plus a low-rank update, so the image's part is made here once."""
    norm = transformer.layers[0].norm4
    to_image = transformer.layers[1].cross_attn_token_to_image
    to_tokens = transformer.layers[1].cross_attn_image_to_token
    projections = (to_image.k_proj, to_image.v_proj, to_tokens.q_proj)
    weight = torch.cat([projection.weight for projection in projections]).t()
    shift = norm.bias @ weight + torch.cat([projection.bias for projection in projections])
    matrix = norm.weight[:, None] * weight
    sizes = [to_image.internal_dim, to_image.internal_dim, to_tokens.internal_dim]
    key_part, value_part, query_part = (keys @ matrix).split(sizes, dim=1)
    key_shift, value_shift, query_shift = shift.split(sizes)
    pixels = keys.shape[0]

    def per_head(columns: torch.Tensor, heads: int) -> torch.Tensor:
        return columns.t().reshape(heads, -1, pixels).contiguous()

    heads = to_image.num_heads
    return Second(
        per_head(key_part, heads),
        per_head(key_pe @ to_image.k_proj.weight.t() + key_shift, heads),
        value_part.reshape(pixels, heads, -1).transpose(0, 1).contiguous(),
        value_shift.view(heads, 1, -1),
        per_head(query_part, to_tokens.num_heads),
        per_head(key_pe @ to_tokens.q_proj.weight.t() + query_shift, to_tokens.num_heads),
        matrix,
        matrix.sum(dim=0),
    )


def _factored(
    transformer: nn.Module, keys: torch.Tensor, matrix: torch.Tensor, added: torch.Tensor
) -> Factored:
    """``Factored`` for one image: ``matrix`` taken back through each block's last norm (its scale
    folded in, its shift kept apart), the last block first."""
    matrices, sums, shifts = [], [], []
    for number, layer in reversed(list(enumerate(transformer.layers))):
        norm = layer.norm4
        shift = norm.bias @ matrix
        if number == len(transformer.layers) - 1:
            added = added + shift
        else:
            shifts.insert(0, shift)
        matrix = norm.weight[:, None] * matrix
        matrices.insert(0, matrix)
        sums.insert(0, matrix.sum(dim=0))
    stacked_shifts = torch.stack(shifts) if shifts else matrix.new_zeros(0, matrix.shape[1])
    return Factored(tuple(matrices), torch.stack(sums), stacked_shifts, keys @ matrix, added)


def positional_encoding(model: nn.Module) -> torch.Tensor:
    """sam2's dense positional encoding as (pixels, channels), contiguous (the same for every image)."""
    return model.sam_prompt_encoder.get_dense_pe()[0].flatten(1).t().contiguous()


def decode(
    model: nn.Module, side: ImageSide, points: tuple[torch.Tensor, torch.Tensor], multimask: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The kept mask's low-res logits (4h, 4w) and its score (a 0-d tensor) for one prompt set
    (``points``: sam2's concatenated points and box corners, batch 1, in the model's input frame):
    the mask ``SAM2ImagePredictor`` keeps when its caller takes the best scored of those returned."""
    if points[0].shape[0] != 1:
        raise ValueError(f"one prompt set at a time, not {points[0].shape[0]}")
    decoder = model.sam_mask_decoder
    final = side.tokens.final
    queries, weighted, first = _transformer(decoder, side, side.tokens.sparse(*points))
    checked = not multimask and decoder.dynamic_multimask_via_stability and not decoder.training
    chosen: list[int] = []
    found: list[torch.Tensor] = []

    def heads() -> torch.Tensor:
        """The final attention's token side, the IoU head's scores, the choice of masks and their
        hypernetwork rows: run while the upscaling starts (``upscaled_logits``)."""
        hs = final.attended(queries, weighted)  # the IoU token, then the mask tokens
        found.append(final.scores(hs[:1]))
        best = 1 + int(torch.argmax(found[0][1:]))  # of masks 1-3 (torch's argmax: the first of ties)
        chosen.extend([best] if multimask else [0, best] if checked else [0])
        return final.hyper(hs[1:], chosen)

    logits = upscaled_logits(decoder, first, side, 2 if checked else 1, heads)
    scores = found[0]
    kept = 0
    if len(chosen) == 2:
        stability = decoder._get_stability_scores(logits[None, :1])
        kept = 0 if bool(stability[0, 0] >= decoder.dynamic_multimask_stability_thresh) else 1
    return logits[kept], scores[chosen[kept]]


def _transformer(
    decoder: nn.Module, side: ImageSide, tokens: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """``TwoWayTransformer.forward`` for one prompt set's tokens (T, c) (``TokenWeights.sparse``),
    from the flattened image on, but for the final attention's token side (``Final.attended``):
    the IoU and mask tokens before it (1 + masks, c), its heads' weighted sums of the image, and
    the first transposed convolution's factors (``_first_convolution``, made beside the final
    attention)."""
    s = 1 if decoder.pred_obj_scores else 0
    transformer = decoder.transformer
    read = slice(s, s + 1 + decoder.num_mask_tokens)  # the object score token is not read here
    final = transformer.final_attn_token_to_image
    chunks = side.keys.split(CHUNK_PIXELS)
    updates: list[Update] = []
    blocks = side.tokens.blocks
    started = products = None
    for number, (layer, block) in enumerate(zip(transformer.layers, blocks, strict=True)):
        if number == 0:
            queries, pending = _first_block(block, tokens, side)
        elif started is not None:
            queries, pending = _second_block(block, started, updates[0], tokens, side.second)
        else:
            queries, pending = _block(layer, block, queries, torch.cat(chunks), tokens, side.key_pe)
        last = number == len(transformer.layers) - 1
        query = _heads(side.tokens.final.query((queries + tokens)[read]), final.num_heads) if last else None
        reading = None if query is None else (final, query)
        owned = number > 0  # the chunks are the last block's outputs, no longer read: summed in place
        if last:
            throughs = [*(update.through for update in updates), pending[1]]
            lead = partial(_through_products, side.factored, throughs)
        elif number == 0 and side.second is not None:
            lead = partial(_second_start, blocks[1], queries, tokens, pending[1], side.second)
        else:
            lead = None
        chunks, update, scores, led = _updated(layer.norm4, chunks, *pending, reading, owned, lead)
        started, products = (None, led) if last else (led, None)
        updates.append(update)
    assert query is not None and scores is not None and products is not None
    convolution = partial(_first_convolution, side.factored, updates, products)
    weighted, first = _final_attention(query, scores, chunks, side.final_pe, convolution)
    return queries[read], weighted, first


def _updated(
    norm: nn.LayerNorm,
    chunks: tuple[torch.Tensor, ...],
    weights: torch.Tensor,
    through: torch.Tensor,
    final: tuple[nn.Module, torch.Tensor] | None = None,
    owned: bool = False,
    lead: Callable[[], L] | None = None,
) -> tuple[tuple[torch.Tensor, ...], Update, torch.Tensor | None, L | None]:
    """A block's update of the image tokens, chunk by chunk of ``CHUNK_PIXELS`` (each in L2 while
    it is summed, normed and read): ``norm(chunk + weights^T through)`` (the sum made in the
    chunks themselves when ``owned``, else in a buffer: the image's own) and the norm's mean and
    1 / std per pixel (``Update``). With the final attention and its queries (heads, tokens, d)
    (the last block), also its scores against the new tokens' key projection (heads x tokens,
    pixels), without the positions' share (``_final_attention``) or the key bias (a constant per
    query, which softmax ignores). The chunks are taken one by one by the click's threads
    (``click_threads.shared``), the calling thread running ``lead`` first: work of the tokens
    that does not need this update, whose result comes back last."""
    scores = reach = None
    if final is not None:
        attention, query = final
        heads, count, per_head = query.shape
        w_k = attention.k_proj.weight.view(heads, per_head, -1)
        reach = torch.bmm(query, w_k).view(heads * count, -1)  # (heads x tokens, c)
        scores = reach.new_empty(heads * count, weights.shape[1])
    starts = [0]
    for chunk in chunks:
        starts.append(starts[-1] + chunk.shape[0])

    def run(numbers: Iterable[int]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        buffer = None if owned else chunks[0].new_empty(chunks[0].shape)
        done = []
        for number in numbers:
            chunk, start, stop = chunks[number], starts[number], starts[number + 1]
            if buffer is None:
                # in place through out= (torch's flop counter, bench sam's, counts addmm, not addmm_)
                summed = torch.addmm(chunk, weights[:, start:stop].t(), through, out=chunk)
            else:
                summed = torch.addmm(chunk, weights[:, start:stop].t(), through, out=buffer[: stop - start])
            out, mean, rstd = torch.native_layer_norm(
                summed, norm.normalized_shape, norm.weight, norm.bias, norm.eps
            )
            if reach is not None:
                torch.mm(reach, out.t(), out=scores[:, start:stop])  # type: ignore[index]
            done.append((out, mean, rstd))
        return done

    led, done = shared(range(len(chunks)), run, lead)
    outs, means, rstds = zip(*done, strict=True)
    return tuple(outs), Update(weights, through, torch.cat(means), torch.cat(rstds)), scores, led


def _final_attention(
    query: torch.Tensor,
    scores: torch.Tensor,
    chunks: tuple[torch.Tensor, ...],
    positions: torch.Tensor,
    lead: Callable[[], L],
) -> tuple[torch.Tensor, L]:
    """sam2's final attention of the read tokens over the image tokens (``chunks``), from the
    scores against the tokens (``_updated``) plus the positions' share (``ImageSide.final_pe``):
    each head's softmax weights times the image tokens (heads, tokens, c), which
    ``sam_tokens.Final.attended`` takes through ``W_v,h`` and ``out_proj``; and ``lead()``, run
    by the calling thread while the helpers take the first heads."""
    heads, count, _ = query.shape
    scores = scores.view(heads, count, -1)
    weighted = scores.new_empty(heads, count, chunks[0].shape[1])

    def attend(first: int, last: int) -> None:
        weights = softmax_(scores[first:last].baddbmm_(query[first:last], positions[first:last]), -1)
        rows, start = weighted[first:last].view(-1, weighted.shape[2]).zero_(), 0
        for chunk in chunks:
            stop = start + chunk.shape[0]
            rows.addmm_(weights.view(rows.shape[0], -1)[:, start:stop], chunk)
            start = stop

    led = _per_heads(heads, attend, lead)
    assert led is not None
    return weighted, led


def _nested(
    decoder: nn.Module, features: dict[str, object], grid: tuple[int, int]
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The upscaling's two 2x2 stride-2 transposed convolutions as matrices, and what sam2 adds
    after each (bias, high-resolution features when the model uses them), in nested order: the
    first's output rows are (pixel, i, j) of its 2x2 block, the second's (pixel, i, j, k, l), so
    no pixel shuffle is needed until the mask (``sam_upscaling``)."""
    dc1, _, _, dc2, _ = decoder.output_upscaling
    matrices = tuple(conv.weight.permute(0, 2, 3, 1).reshape(conv.in_channels, -1) for conv in (dc1, dc2))
    biases = (dc1.bias.repeat(4)[None], dc2.bias.repeat(4)[None])
    if not decoder.use_high_res_features:
        return matrices, biases  # type: ignore[return-value]
    height, width = grid
    feat_s0, feat_s1 = features["high_res_feats"]  # type: ignore[misc]
    s1 = feat_s1[0].permute(1, 2, 0).reshape(height, 2, width, 2, -1).permute(0, 2, 1, 3, 4)
    s0 = feat_s0[0].permute(1, 2, 0).reshape(height, 2, 2, width, 2, 2, -1).permute(0, 3, 1, 4, 2, 5, 6)
    added = (
        s1.reshape(height * width, -1) + biases[0],
        s0.reshape(height * width * 4, -1) + biases[1],
    )
    return matrices, added  # type: ignore[return-value]


def _through_products(factored: Factored, throughs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each block's update rows (``Update.through``) times its matrix of ``Factored``, for
    ``_first_convolution``: made while the last block's update is applied (``_updated``'s lead)."""
    return [through @ matrix for through, matrix in zip(throughs, factored.matrices, strict=True)]


def _first_convolution(
    factored: Factored, updates: list[Update], products: list[torch.Tensor]
) -> tuple[torch.Tensor, ...]:
    """The first transposed convolution of the last block's image tokens, without multiplying the
    4096 tokens by its 256 x 256 matrix: each block's tokens are its norm (a scale and a shift per
    pixel, ``Update.mean`` and ``rstd``) of the previous ones plus a few rows of weights times
    ``Update.through``, so the product is the image's own (``Factored.image``, made once) scaled
    per pixel (``scale``), plus ``left`` (rows, pixels) transposed times ``right`` (rows, out):
    the weights (2 x 8 x tokens rows) and three rows of per-pixel scalars, times small matrices."""
    scales: list[torch.Tensor] = []
    scale = None
    for update in reversed(updates):
        scale = update.rstd if scale is None else scale * update.rstd
        scales.insert(0, scale.view(1, -1))
    rows = sum(update.weights.shape[0] for update in updates) + 2 * len(updates) - 1
    left = factored.image.new_empty(rows, factored.image.shape[0])
    right = []
    row = 0
    for number, update in enumerate(updates):
        count = update.weights.shape[0]
        torch.mul(update.weights, scales[number], out=left[row : row + count])
        torch.mul(update.mean.view(1, -1), scales[number], out=left[row + count : row + count + 1]).neg_()
        right += [products[number], factored.sums[number][None]]
        row += count + 1
        if number < len(updates) - 1:
            left[row] = scales[number + 1]
            right.append(factored.shifts[number][None])
            row += 1
    return left, torch.cat(right), scales[0].view(-1, 1)


def _first_block(
    block: Block, tokens: torch.Tensor, side: ImageSide
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """sam2's ``TwoWayAttentionBlock.forward`` for the first block (queries = their positions =
    the prompt tokens (T, c)), with the image's projections taken from ``side.first``: the new
    queries and the image tokens' update (``_tokens_out``), applied by ``_updated``."""
    keys_to, values_to, image_queries = side.first
    queries = block.self_attention(tokens, tokens)
    query = _heads(block.to_image_query(queries + tokens), block.to_image_heads)
    count = tokens.shape[0]
    weighted = query.new_empty(block.to_image_heads, count, values_to.shape[-1])

    def attend(first: int, last: int) -> None:
        weights = softmax_(torch.bmm(query[first:last], keys_to[first:last]), -1)  # (heads, tokens, pixels)
        torch.bmm(weights, values_to[first:last], out=weighted[first:last])

    _per_heads(block.to_image_heads, attend)
    queries = block.after_to_image(queries, weighted.transpose(0, 1).reshape(count, -1))
    key = _heads(block.to_tokens_key(queries + tokens), block.to_tokens_out.shape[0])

    def scores_of(first: int, last: int) -> torch.Tensor:
        return torch.bmm(key[first:last], image_queries[first:last])  # (heads, tokens, pixels)

    return queries, _tokens_out(block, scores_of, queries)


def _second_start(
    block: Block, queries: torch.Tensor, query_pe: torch.Tensor, through: torch.Tensor, second: Second
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What the second block needs before the first block's update of the image is made (it runs
    while the chunks are updated, ``_updated``'s lead): its self attention of the tokens, its
    tokens-to-image queries, and ``right`` (the update's rows, ``through``, through the three
    projections, and their column sums: ``_second_block``)."""
    queries = block.self_attention(queries, query_pe)
    right = torch.cat([through @ second.matrix, second.sums[None]])
    return queries, _heads(block.to_image_query(queries + query_pe), block.to_image_heads), right


def _second_block(
    block: Block,
    started: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    update: Update,
    query_pe: torch.Tensor,
    second: Second,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """sam2's ``TwoWayAttentionBlock.forward`` for the second block: its three projections of the
    image tokens (``keys``, the first block's norm of the image plus ``update``) are never made.
    Each is ``rstd * (image part + left^T right) + constant`` per pixel (``Second``; ``left``: the
    update's weights and the norm's mean, 8T + 1 rows), so each head's scores against them are
    its queries times the image part and the constant (made once), plus (queries times a few rows
    of ``right``) times ``left``; and the weighted sum of the values is the weights, scaled by
    ``rstd``, times the image part and times ``left``, plus the values' constant row (each token's
    weights sum to one)."""
    queries, query, right = started
    left = torch.cat([update.weights, -update.mean.view(1, -1)])
    rstd = update.rstd.view(1, -1)
    value_width = second.values.shape[-1] * second.values.shape[0]
    widths = [value_width, value_width, right.shape[1] - 2 * value_width]
    key_rows, value_rows, query_rows = right.split(widths, dim=1)
    count, rank, heads = queries.shape[0], left.shape[0], block.to_image_heads
    weighted = query.new_empty(heads, count, second.values.shape[-1])
    per_head_rows = value_rows.view(rank, heads, -1).transpose(0, 1)

    def attend(first: int, last: int) -> None:
        scores = _projected_scores(query, second.keys, second.key_constant, key_rows, left, rstd, first, last)
        scaled = softmax_(scores, -1).mul_(rstd)
        out = torch.bmm(scaled, second.values[first:last], out=weighted[first:last])
        through_left = (scaled.view(-1, left.shape[1]) @ left.t()).view(last - first, count, rank)
        out.add_(second.value_row[first:last]).baddbmm_(through_left, per_head_rows[first:last])

    _per_heads(heads, attend)
    queries = block.after_to_image(queries, weighted.transpose(0, 1).reshape(count, -1))
    key = _heads(block.to_tokens_key(queries + query_pe), block.to_tokens_out.shape[0])

    def scores_of(first: int, last: int) -> torch.Tensor:
        image, constant = second.queries, second.query_constant
        return _projected_scores(key, image, constant, query_rows, left, rstd, first, last)

    return queries, _tokens_out(block, scores_of, queries)


def _per_heads(
    heads: int, attend: Callable[[int, int], None], lead: Callable[[], L] | None = None
) -> L | None:
    """``attend(first, last)`` for groups of heads, one group per click thread, taken one by one
    by the threads (``click_threads.shared``: a late helper's group is taken by the caller), the
    calling thread running ``lead`` first (its result returned). Pairs of heads (4 groups on 2
    threads) balanced no better on 2 free cores and cost more calls: a click 28.3 / 27.9 ms vs
    27.4 / 27.1 ms with 4 heads a group (interleaved in one process, others held off by ``chrt``)."""
    size = -(-heads // width())
    groups = [(first, min(heads, first + size)) for first in range(0, heads, size)]

    def work(taken: Iterable[tuple[int, int]]) -> list[None]:
        return [attend(first, last) for first, last in taken]

    return shared(groups, work, lead)[0]


def _heads(projected: torch.Tensor, heads: int) -> torch.Tensor:
    """A projection of the tokens (tokens, c') as (heads, tokens, c' / heads), a view (sam2's
    1 / sqrt(c' / heads) is in the projection's weights, ``sam_tokens``)."""
    return projected.view(projected.shape[0], heads, -1).transpose(0, 1)


def _projected_scores(
    query: torch.Tensor,
    image: torch.Tensor,
    constant: torch.Tensor,
    rows: torch.Tensor,
    left: torch.Tensor,
    rstd: torch.Tensor,
    first: int,
    last: int,
) -> torch.Tensor:
    """Heads first-last's ``query`` (heads, tokens, d) against projections of the image that are
    ``rstd * (image + left^T rows) + constant`` per pixel (``Second``): (heads, tokens, pixels)."""
    heads, count, _ = query.shape
    rank = left.shape[0]
    query = query[first:last]
    scores = torch.bmm(query, image[first:last])
    reach = torch.bmm(query, rows.view(rank, heads, -1).permute(1, 2, 0)[first:last])  # (heads, tokens, rank)
    scores.view(-1, scores.shape[2]).addmm_(reach.view(-1, rank), left).mul_(rstd)
    return scores.baddbmm_(query, constant[first:last])


def _block(
    layer: nn.Module,
    block: Block,
    queries: torch.Tensor,
    keys: torch.Tensor,
    query_pe: torch.Tensor,
    key_pe: torch.Tensor,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """sam2's ``TwoWayAttentionBlock.forward`` after the second, its two cross attentions regrouped."""
    queries = block.self_attention(queries, query_pe)
    with_pe = keys + key_pe
    mixed = _tokens_to_image(layer.cross_attn_token_to_image, block, queries + query_pe, with_pe, keys)
    queries = block.after_to_image(queries, mixed)
    to_tokens = layer.cross_attn_image_to_token
    return queries, _image_to_tokens(to_tokens, block, with_pe, queries + query_pe, queries)


def _tokens_to_image(
    attention: nn.Module, block: Block, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """sam2's ``Attention.forward`` for a few queries (tokens, c) over the image's many keys and
    values (pixels, c), with no projection of the image, before its output projection (tokens,
    c'): each head's scores are ``(q W_q,h) W_k,h`` against the image itself (the key bias adds a
    constant per query, which softmax ignores), and each head's output is its weights times the
    image, then ``W_v,h`` (the weights sum to one, so the value bias just adds). The same sums as
    projecting all 4096 keys and values, grouped so that 2 x 8 rows per token meet the image
    instead of 2 x 128 projection columns per pixel."""
    heads, dim = attention.num_heads, attention.internal_dim
    per_head = dim // heads
    count = q.shape[0]
    query = block.to_image_query(q).view(count, heads, per_head)
    w_k = attention.k_proj.weight.view(heads, per_head, -1)
    reach = torch.einsum("thd,hdc->htc", query, w_k).reshape(heads * count, -1)
    weighted = (reach @ k.t()).softmax(dim=-1) @ v  # (heads x tokens, c)
    w_v = attention.v_proj.weight.view(heads, per_head, -1)
    out = torch.einsum("htc,hdc->thd", weighted.view(heads, count, -1), w_v).reshape(count, dim)
    return out + attention.v_proj.bias


def _image_to_tokens(
    attention: nn.Module, block: Block, image: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """sam2's ``Attention.forward`` for the image's many queries (pixels, c) over a few keys and
    values (tokens, c), as ``_tokens_out``'s weights and rows, with no (4096, 128) projection
    of the image: the scores are ``W_q,h k_h^T`` (a few rows) times the image, plus the query
    bias's share."""
    heads, dim = attention.num_heads, attention.internal_dim
    per_head = dim // heads
    count = k.shape[0]
    key = block.to_tokens_key(k).view(count, heads, per_head)
    w_q = attention.q_proj.weight.view(heads, per_head, -1)
    reach = torch.einsum("hdc,thd->htc", w_q, key).reshape(heads * count, -1)
    offset = torch.einsum("hd,thd->ht", attention.q_proj.bias.view(heads, per_head), key)
    scores = torch.addmm(offset.reshape(-1, 1), reach, image.t()).view(heads, count, -1)
    return _tokens_out(block, lambda first, last: scores[first:last], v)


def _tokens_out(
    block: Block, scores_of: Callable[[int, int], torch.Tensor], v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The image-to-tokens attention's output from its scaled scores (``scores_of(first, last)``:
    heads first-last's (heads, tokens, pixels), made side by side per group of heads), as the
    image tokens' low-rank update: softmax over each head's tokens, the weights (heads x
    tokens, pixels), and each head's values already taken through ``out_proj`` (``v_h W_o,h^T``,
    a few rows, ``Block.through``). ``_updated`` adds weights^T rows to the tokens."""
    heads = block.to_tokens_out.shape[0]
    parts: dict[int, torch.Tensor] = {}

    def attend(first: int, last: int) -> None:
        parts[first] = softmax_(scores_of(first, last), 1)

    _per_heads(heads, attend)
    weights = torch.cat([parts[first] for first in sorted(parts)]) if len(parts) > 1 else parts[0]
    return weights.view(-1, weights.shape[-1]), block.through(v)
