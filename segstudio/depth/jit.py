"""Numba for the live depth pipeline's hot loops: compiled where it loads, ``None`` where not.

Numba is imported on first use (it costs most of a second). A kernel is compiled with ``nogil``
(callers may run it on threads) and cached on disk where the package is writable; where caching
is impossible (a frozen bundle has no source files to key a cache on) it is compiled uncached, and
where Numba is missing or fails, callers run their numpy path, which gives the same results.
"""

from __future__ import annotations

from collections.abc import Callable

Kernel = Callable[..., None]


def compiled(function: Kernel, warm_up: Callable[[Kernel], None]) -> Kernel | None:
    """``function`` compiled by Numba and run once by ``warm_up`` (so the first frame does not pay
    for compiling the usual argument types), or ``None`` where Numba is missing or fails."""
    try:
        import numba
    except ImportError:
        return None
    try:
        try:
            kernel = numba.njit(nogil=True, cache=True)(function)
        except RuntimeError:  # no cache locator (e.g. a frozen bundle): compile without a cache
            kernel = numba.njit(nogil=True)(function)
        warm_up(kernel)
    except Exception:  # noqa: BLE001 - whatever stops Numba, the numpy path gives the same results
        return None
    return kernel
