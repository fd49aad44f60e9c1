"""The forest descent and the trees' mean compiled by Numba (the loops: ``descent_loop``), for
``DepthDescent``.

Where Numba is missing or cannot compile (``depth.jit``), the kernels are ``None`` and the numpy
path runs, with the same leaves and probabilities. Numba is imported only when a kernel is first
asked for. The compiled code is cached on disk where the package is writable (the first compile
takes a few seconds).
"""

from __future__ import annotations

import functools

import numpy as np

from segstudio.depth.jit import Kernel, compiled


@functools.cache
def leaves_kernel() -> Kernel | None:
    """``descent_loop.descend`` compiled for float32 frames, or ``None`` where Numba is missing or
    fails."""
    try:
        from segstudio.depth.descent_loop import descend
    except ImportError:
        return None
    return compiled(descend, _warm_up)


def _warm_up(kernel: Kernel) -> None:
    """One pixel at a root that is a leaf (row 0), in the argument types of ordinary frames."""
    one, roots = np.ones(1, np.float32), np.full(1, ~0, np.int32)
    nodes, node = np.zeros((1, 8), np.float32), np.zeros((1, 1), np.int32)
    kernel(one, np.float32(0), np.float32(1), one, one, one, roots, nodes, nodes.view(np.int32), 1, node)


@functools.cache
def mean_kernel() -> Kernel | None:
    """``descent_loop.mean_of_leaves`` compiled, or ``None`` where Numba is missing or fails."""
    try:
        from segstudio.depth.descent_loop import mean_of_leaves
    except ImportError:
        return None
    return compiled(mean_of_leaves, _warm_up_mean)


def _warm_up_mean(kernel: Kernel) -> None:
    """One pixel of one tree, in the argument types of ordinary frames."""
    kernel(np.zeros((1, 1), np.int32), np.ones((1, 31), np.float32), np.empty((1, 31), np.float32))
