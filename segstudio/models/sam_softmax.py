"""A SAM click's attention softmaxes, in place and compiled where the project's C extension is built.

Why: a click's softmaxes (each head's few tokens against the 4096 pixels along rows, and each
pixel against the few tokens across them) cost ~3 ms of a ~41 ms click at one thread on the
project's Zen 3 VM: torch's kernel takes ~1.3-1.4 ns a value along rows and ~2.6 across the
tokens (a strided reduction over 7-12 values), each into a new tensor. ``sam_softmax.c`` does the
same sums with a vectorised exp (Cephes' expf, ~1 ulp), in place: 2x torch's speed along rows,
3.5x across the tokens (4 heads x 12 tokens x 4096 pixels: 0.13 vs 0.50 ms, measured), the
weights within ~5e-7 relative of torch's (``tests/models/test_sam_softmax.py``). Without the
extension, or for a tensor it does not take (not float32 on the CPU, not contiguous, tracked by
autograd), torch's softmax runs.
"""

from __future__ import annotations

import torch

from segstudio import _native


def softmax_(scores: torch.Tensor, dim: int) -> torch.Tensor:
    """``scores.softmax(dim)``: in place where the compiled loops take it (the result is
    ``scores`` then), else torch's (a new tensor)."""
    kernels = _native.pixels  # read at each call, so that a test can take torch's path
    if (
        kernels is None
        or not hasattr(kernels, "sam_softmax_rows")
        or scores.device.type != "cpu"
        or scores.dtype != torch.float32
        or scores.requires_grad
        or not scores.is_contiguous()
        or scores.numel() == 0
    ):
        return scores.softmax(dim=dim)
    dim %= scores.dim()
    array = scores.numpy()
    if dim == scores.dim() - 1:
        kernels.sam_softmax_rows(array, scores.shape[-1])
    else:
        kernels.sam_softmax_columns(array, scores.shape[dim], scores[(0,) * (dim + 1)].numel())
    return scores
