"""Fixtures shared by the torch model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a busy two-core machine every parallel torch op waits milliseconds
    for its second thread to be scheduled (4 s for the forest test instead of 0.1 s)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
