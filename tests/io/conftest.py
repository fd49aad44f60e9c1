"""The PNG readers' two paths: the compiled loops (``segstudio._native``) and their pure twin."""

from __future__ import annotations

import pytest

from segstudio import _native


@pytest.fixture(params=["compiled", "pure"])
def pixel_loops(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once on each path; the compiled one must exist (the dev install builds it),
    so a missing extension fails here instead of passing on the pure path alone."""
    if request.param == "compiled":
        assert _native.pixels is not None, "segstudio._native.pixels is not built (pip install -e . with gcc)"
    else:
        monkeypatch.setattr(_native, "pixels", None)
    return request.param
