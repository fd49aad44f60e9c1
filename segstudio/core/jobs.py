"""Cancellation and progress for long jobs, shared by every layer (no Qt, no torch).

A long computation (model inference, training, the scribble classifier) takes a
:class:`CancelToken` and calls :meth:`CancelToken.check` between its steps. ``check`` raises
:class:`Cancelled` once someone asked to stop, from any thread. The GUI's worker also uses these
check points as *yield points*: an interactive job waiting in the queue runs there, between two
steps of a long batch job, so "interactive before batch" holds even during a training run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)`` in the job's own units (tiles, steps, images)."""


class Cancelled(Exception):
    """The caller cancelled the job; partial results are discarded."""


class CancelToken:
    """Set from any thread; checked by the job between its steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._yield_point: Callable[[], None] | None = None

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def set_yield_point(self, hook: Callable[[], None] | None) -> None:
        """Run ``hook`` at every :meth:`check` that does not raise (the worker's interactive queue)."""
        self._yield_point = hook

    def check(self) -> None:
        """Raise :class:`Cancelled` when cancellation was asked for, else let waiting work run."""
        if self._event.is_set():
            raise Cancelled("cancelled")
        if self._yield_point is not None:
            self._yield_point()
