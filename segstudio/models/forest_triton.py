"""The forest descent as one Triton kernel: every (tree, pixel) pair walks all levels in a thread.

``TorchBodyParts.descend`` in torch ops costs about a dozen kernel launches per tree level (240 for
the bundled forest) whose work is tiny; here a pair's whole walk is one thread's loop, so a frame's
forest is a single launch. The arithmetic is ``features._Probes``'s float32 operations in the
same order (products, ``rint``, sums, clamps, exact integer indices), so the leaves are the same
as numpy's. Imported only where Triton and a CUDA device are there (``available``).
"""

from __future__ import annotations

import importlib.util

import torch

BLOCK = 256
"""Pairs per Triton program."""


def available(device: torch.device) -> bool:
    """Whether the kernel can run for tensors on ``device``: CUDA and an importable Triton."""
    return device.type == "cuda" and importlib.util.find_spec("triton") is not None


def descend(
    node_table: torch.Tensor,
    successor: torch.Tensor,
    leaf_row: torch.Tensor,
    roots: torch.Tensor,
    levels: int,
    flat_depth: torch.Tensor,
    origin: torch.Tensor,
    inv_depth: torch.Tensor,
    last: tuple[float, float],
) -> torch.Tensor:
    """(trees, N) int64 leaf rows: ``node_table`` (5, nodes) probe offsets and thresholds,
    ``successor`` (2 * nodes) next nodes, ``origin`` (2, 1, N) padded-frame rows and columns,
    ``inv_depth`` (N,), ``flat_depth`` the padded frame, ``last`` its last row and column."""
    import triton

    n_pixels, n_trees = inv_depth.shape[0], roots.shape[0]
    out = torch.empty((n_trees, n_pixels), dtype=torch.int64, device=inv_depth.device)
    if out.numel() == 0:
        return out
    grid = (triton.cdiv(n_trees * n_pixels, BLOCK),)
    _kernel()[grid](
        node_table,
        successor,
        leaf_row,
        roots,
        flat_depth,
        origin,
        inv_depth,
        out,
        n_pixels,
        n_trees * n_pixels,
        node_table.shape[1],
        levels,
        last[0],
        last[1],
        last[1] + 1.0,
        BLOCK=BLOCK,
    )
    return out


_COMPILED: list[object] = []


def _kernel() -> object:
    """The jitted kernel, defined on first use so that importing this module needs no Triton."""
    if _COMPILED:
        return _COMPILED[0]
    import triton
    import triton.language as tl
    from triton.language.extra import libdevice

    @triton.jit
    def walk(
        table_ptr,
        successor_ptr,
        leaf_ptr,
        roots_ptr,
        depth_ptr,
        origin_ptr,
        inv_ptr,
        out_ptr,
        n_pixels,
        n_pairs,
        n_nodes,
        levels,
        last_row,
        last_col,
        row_stride,
        BLOCK: tl.constexpr,
    ):
        pair = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        inside = pair < n_pairs
        pixel = pair % n_pixels
        node = tl.load(roots_ptr + pair // n_pixels, mask=inside, other=0)
        row = tl.load(origin_ptr + pixel, mask=inside, other=1.0)
        col = tl.load(origin_ptr + n_pixels + pixel, mask=inside, other=1.0)
        inv = tl.load(inv_ptr + pixel, mask=inside, other=1.0)
        for _ in range(levels):
            u_row = tl.load(table_ptr + node)
            u_col = tl.load(table_ptr + n_nodes + node)
            v_row = tl.load(table_ptr + 2 * n_nodes + node)
            v_col = tl.load(table_ptr + 3 * n_nodes + node)
            threshold = tl.load(table_ptr + 4 * n_nodes + node)
            ur = tl.minimum(tl.maximum(row + libdevice.rint(u_row * inv), 0.0), last_row)
            uc = tl.minimum(tl.maximum(col + libdevice.rint(u_col * inv), 0.0), last_col)
            vr = tl.minimum(tl.maximum(row + libdevice.rint(v_row * inv), 0.0), last_row)
            vc = tl.minimum(tl.maximum(col + libdevice.rint(v_col * inv), 0.0), last_col)
            u = tl.load(depth_ptr + (ur * row_stride + uc).to(tl.int64))
            v = tl.load(depth_ptr + (vr * row_stride + vc).to(tl.int64))
            left = (u - v <= threshold).to(tl.int64)
            node = tl.load(successor_ptr + 2 * node + left)
        tl.store(out_ptr + pair, tl.load(leaf_ptr + node), mask=inside)

    _COMPILED.append(walk)
    return walk
