"""A plain event: a list of callbacks, so Qt-free models can tell their views (napari's
``EventEmitter`` in small). The GUI forwards these to Qt signals; tests just connect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Callback = Callable[..., Any]


class Event:
    """Callbacks called in the order they were connected, on the caller's thread."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []

    def connect(self, callback: Callback) -> None:
        self._callbacks.append(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)
