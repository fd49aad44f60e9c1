"""Optional compiled loops: ``pixels`` is the C extension (``pixels.c``, ``pq_match.c``,
``sam_kernels.c``, built by setup.py), or None.

Where it did not build, every caller runs its pure twin (numpy, libpng through imagecodecs) with
the same results, only slower; tests hold the two equal, and the dev install (``make``) fails
when the extension is missing. Callers read ``_native.pixels`` when they run, so a test can set
it to None to take the pure path.
"""

from __future__ import annotations

from types import ModuleType

pixels: ModuleType | None
try:
    from segstudio._native import pixels
except ImportError:  # not compiled (no C compiler where it was installed): the pure paths run
    pixels = None
