"""Catch a test that opens a file beside the checkout, which a fresh clone does not have.

An audit hook (PEP 578) sees every ``open`` and directory listing Python makes. Any path inside the
checkout's parent folder but outside the checkout (a data folder or a project beside it) is recorded,
and the test that made it fails. Dot-folders there (``~/.cache`` when the checkout sits in a home
folder) belong to libraries, and temporary folders to the tests themselves: both are allowed. Reads by
C libraries (OpenCV, libpng) pass no audit event; ``test_architecture`` also rejects the references
in the source, which catches those.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_AUDITED_EVENTS = {"open", "os.listdir", "os.scandir"}


class CheckoutGuard:
    """Records file accesses beside ``checkout``; installed once per test session."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = str(checkout.resolve())
        self.beside = str(checkout.resolve().parent)
        self.allowed = [self.checkout]
        temporary = os.path.realpath(tempfile.gettempdir())
        if _inside(temporary, self.beside):  # e.g. a checkout in /tmp: the tests' own folders are there
            self.allowed.append(temporary)
        self.escapes: list[str] = []

    def install(self) -> None:
        if self.beside != os.path.dirname(self.beside):  # a checkout at "/" has no "beside"
            sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if event not in _AUDITED_EVENTS or not args:
            return
        path = args[0]
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str | os.PathLike):
            return  # a file descriptor
        if self.escapes_checkout(os.fspath(path)):
            self.escapes.append(os.fspath(path))

    def escapes_checkout(self, path: str) -> bool:
        """True for a path beside the checkout: inside its parent, outside it and the allowed roots."""
        full = os.path.realpath(path)
        if not _inside(full, self.beside) or any(_inside(full, root) for root in self.allowed):
            return False
        first_part = os.path.relpath(full, self.beside).split(os.sep)[0]
        return not first_part.startswith(".")

    def take_escapes(self) -> list[str]:
        """The escapes recorded since the last call."""
        found, self.escapes = self.escapes, []
        return found


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
