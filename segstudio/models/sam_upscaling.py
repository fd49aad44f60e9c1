"""SAM 2's mask upscaling per click, from the first transposed convolution's factors to the kept
masks' logits, with the passes between its two matrix products compiled where they can be.

Why: after the decoder's regrouping (``sam_decoder``) the upscaling was a third of a click at one
thread, and half of that was not its two products but the passes between them: the products'
accumulators copied into their outputs, the image part's per-pixel scale, the LayerNorm, two exact
(erf) GELUs over 3 M values at ~2-3 ns each (torch's kernel), the hypernetwork product (a
(16384, 32) x (32, 1) matrix product, memory bound) and the logits put back in row order by a
7-dimensional permute. With the project's C extension (``segstudio._native.pixels``) each slice
is two plain products and two compiled loops, each value read once while in cache:
``sam_norm_gelu`` (the accumulator, the scaled image part, LayerNorm and GELU of the first
product's rows, in place) and ``sam_gelu_logits`` (the second product's accumulator and GELU,
each kept mask's dot product, and the logit written at its place in the mask). They run on the
click's torch threads (``click_threads``), the GIL released. Their GELU is exact to ~1.4e-6 (a
rational erf, no exp, so its loops vectorise), far below the 1e-4 logit tolerance of the
equality with sam2 (``tests/models/test_sam_upscaling.py`` holds it to torch's exact GELU, the
decoder tests the whole path to sam2's). Without the extension, or for another activation,
torch's ops run as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from segstudio import _native
from segstudio.models.click_threads import shared

if TYPE_CHECKING:
    from segstudio.models.sam_decoder import ImageSide

SLICE_PIXELS = 512
"""Pixels of the embedding's grid per slice of the upscaling (512 KB out of the first transposed
convolution, 1 MB out of the second, into buffers made once per click). On one thread 512 and
1024 measured alike (thread CPU 42.9 vs 43.2 ms a click), 256 ~4% and 128 ~10% slower (each
slice's torch calls cost more than the cache saves); on 2 threads the 8 slices end closer
together than 4: 34.7 vs 36.2 and 35.1 vs 36.0 ms a click (medians, interleaved in one process,
load 1.2-1.4), alike under load (49.5 vs 49.8, load 2-3)."""


def upscaled_logits(
    decoder: nn.Module,
    first: tuple[torch.Tensor, ...],
    side: ImageSide,
    count: int,
    heads: Callable[[], torch.Tensor],
) -> torch.Tensor:
    """sam2's ``output_upscaling`` (high-resolution features added) from its first transposed
    convolution's factors (``sam_decoder._first_convolution``), then each row of ``heads()``
    (``count`` masks' hypernetwork rows, (count, c)) dotted with every pixel: (count, 4h, 4w)
    logits, in slices of ``SLICE_PIXELS`` pixels whose intermediates stay in the core's L2 cache,
    written into buffers made once per click. The click's threads take the slices one by one
    (``click_threads.shared``); the calling thread runs ``heads`` first (the tokens' last serial
    work), and a slice waits for its rows only at its dot products."""
    _, ln1, act1, _, act2 = decoder.output_upscaling
    left, right, _ = first
    pixels, size = left.shape[1], min(left.shape[1], SLICE_PIXELS)
    height, width = side.grid
    rows: list[torch.Tensor] = []
    ready = threading.Event()

    def lead() -> None:
        try:
            rows.append(heads().contiguous())
        finally:
            ready.set()  # a failed ``heads`` raises on the calling thread; the others stop below

    def hyper() -> torch.Tensor:
        ready.wait()
        if not rows:
            raise RuntimeError("the masks' hypernetwork rows were not made")
        return rows[0]

    if _compiled(left, act1, act2):
        kernels = _native.pixels
        maps = left.new_empty(count, 4 * height, 4 * width)
        weight, bias = ln1.weight.detach().numpy(), ln1.bias.detach().numpy()

        def run(slices: Iterable[tuple[int, int]]) -> list[None]:
            """Slices of pixels, the products without their accumulators (added in C)."""
            first_out = left.new_empty(size, right.shape[1])
            second_out = left.new_empty(4 * size, side.weights[1].shape[1])
            threads = torch.get_num_threads()  # the click's, as torch's own ops (1 side by side)
            done: list[None] = []
            for start, stop in slices:
                upscaled = torch.mm(left[:, start:stop].t(), right, out=first_out[: stop - start])
                image, scale = _image_part(first, side, start, stop)
                added = _rows(side.factored.added, start, stop).numpy()
                kernels.sam_norm_gelu(
                    upscaled.numpy(), image.numpy(), scale.numpy(), added, weight, bias, ln1.eps, threads
                )
                normed = upscaled.view(-1, weight.shape[0])
                second = torch.mm(normed, side.weights[1], out=second_out[: 4 * (stop - start)])
                added = _rows(side.added[1], 4 * start, 4 * stop).numpy()
                kernels.sam_gelu_logits(
                    second.numpy(), added, hyper().numpy(), maps.numpy(), start, height, width, threads
                )
                done.append(None)
            return done

        shared(_slices(pixels), run, lead)
        return maps
    logits = left.new_empty(pixels * 16, count)  # rows (pixel, i, j, k, l)
    channels = ln1.weight.shape[0]

    def run_torch(slices: Iterable[tuple[int, int]]) -> list[None]:
        first_out = left.new_empty(size, right.shape[1])
        second_out = left.new_empty(4 * size, side.weights[1].shape[1])
        done: list[None] = []
        for start, stop in slices:
            upscaled = _first_product(first, side, start, stop, first_out)
            image, scale = _image_part(first, side, start, stop)
            upscaled = upscaled.addcmul_(image, scale).view(-1, channels)
            normed = _activated(act1, F.layer_norm(upscaled, (channels,), ln1.weight, ln1.bias, ln1.eps))
            activated = _activated(act2, _second_product(normed, side, start, stop, second_out))
            rows_of = hyper()
            torch.mm(activated.view(-1, rows_of.shape[1]), rows_of.t(), out=logits[16 * start : 16 * stop])
            done.append(None)
        return done

    shared(_slices(pixels), run_torch, lead)
    nested = logits.t().reshape(count, height, width, 2, 2, 2, 2)  # (mask, py, px, i, j, k, l)
    return nested.permute(0, 1, 3, 5, 2, 4, 6).reshape(count, 4 * height, 4 * width)


def _slices(pixels: int) -> list[tuple[int, int]]:
    return [(start, min(pixels, start + SLICE_PIXELS)) for start in range(0, pixels, SLICE_PIXELS)]


def _first_product(
    first: tuple[torch.Tensor, ...], side: ImageSide, start: int, stop: int, out: torch.Tensor
) -> torch.Tensor:
    """The first transposed convolution's low-rank part for pixels start-stop, onto what it adds:
    (pixels, 2 x 2 x c) in ``out``; the image part (``_image_part``) is still to be added."""
    left, right, _ = first
    added = _rows(side.factored.added, start, stop)
    return torch.addmm(added, left[:, start:stop].t(), right, out=out[: stop - start])


def _image_part(
    first: tuple[torch.Tensor, ...], side: ImageSide, start: int, stop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The image's own part of the first transposed convolution for pixels start-stop and its
    per-pixel scale (``sam_decoder.Factored``)."""
    return side.factored.image[start:stop], first[2][start:stop]


def _second_product(
    normed: torch.Tensor, side: ImageSide, start: int, stop: int, out: torch.Tensor
) -> torch.Tensor:
    """The second transposed convolution of the activated rows (pixel, i, j), onto its bias and the
    high-resolution features: (4 x pixels, 2 x 2 x c') in ``out``."""
    added = _rows(side.added[1], 4 * start, 4 * stop)
    return torch.addmm(added, normed, side.weights[1], out=out[: 4 * (stop - start)])


def _rows(added: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Rows start-stop of what a product adds, or its one bias row for every row."""
    return added[start:stop] if added.shape[0] > 1 else added


def _compiled(left: torch.Tensor, *activations: nn.Module) -> bool:
    """Whether the compiled loops run this click: the extension is built (``_native.pixels``, read
    at each click so a test can take the torch path), the tensors are float32 on the CPU and both
    activations are sam2's exact GELU."""
    return (
        _native.pixels is not None
        and hasattr(_native.pixels, "sam_gelu_logits")
        and left.device.type == "cpu"
        and left.dtype == torch.float32
        and all(type(act) is nn.GELU and act.approximate == "none" for act in activations)
    )


def _activated(activation: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    """``activation(tensor)``, in place for sam2's GELU (no new buffer, one pass less)."""
    if type(activation) is nn.GELU:
        return torch.ops.aten.gelu_(tensor, approximate=activation.approximate)
    return activation(tensor)
