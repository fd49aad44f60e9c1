"""What a feature package may ask of the window that composes it, as a small protocol.

Feature packages (``modelling``, ``exchange``, …) are given the window typed as a :class:`Host`
(or a protocol extending it), never as ``MainWindow``: they see the open project, a save of the
open image before work that reads labels from disk, and the two ways to tell the user.
"""

from __future__ import annotations

from typing import Protocol

from segstudio.io.project import Project


class Host(Protocol):
    """The window as its features see it."""

    @property
    def project(self) -> Project | None:
        """The open project (None before one opens)."""
        ...

    def save_edits(self) -> bool:
        """Save the open image's unsaved edits; False when saving failed (the error was shown)."""
        ...

    def show_error(self, title: str, message: str) -> object:
        """A window-modal error box that does not block the event loop."""
        ...

    def show_status(self, message: str, ms: int) -> None:
        """A message in the status bar for ``ms`` milliseconds."""
        ...
