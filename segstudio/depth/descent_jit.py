"""The forest descent compiled by Numba (the loop: ``descent_loop``), for ``DepthDescent``.

Where Numba is missing or cannot compile (``depth.jit``), ``leaves_kernel`` returns ``None`` and
the numpy path runs, with the same leaves. Numba is imported only when the kernel is first asked
for. The compiled code is cached on disk where the package is writable (the first compile takes a
few seconds).
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
