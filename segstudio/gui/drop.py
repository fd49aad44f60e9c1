"""Drag and drop onto the main window: a project folder, an image folder or image files open.

An event filter on the window rather than overrides in it, so the window stays a delegator.
Drags of anything but existing local files and folders are refused at the door (no drop cursor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject, QTimer
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QWidget

OpenPaths = Callable[[Sequence[Path]], object]


def dropped_paths(mime: QMimeData) -> list[Path]:
    """The existing local files and folders a drag carries, in order; [] if it carries anything else."""
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    if len(paths) != len(mime.urls()) or not all(path.exists() for path in paths):
        return []
    return paths


class DropOpener(QObject):
    """Accepts drops of paths on ``window`` and hands them to ``open_paths``."""

    def __init__(self, window: QWidget, open_paths: OpenPaths) -> None:
        super().__init__(window)
        self._open_paths = open_paths
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        kind = event.type()
        if not isinstance(event, QDropEvent):  # drag enter and drag move events are drop events too
            return False
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if dropped_paths(event.mimeData()):
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.Drop:
            paths = dropped_paths(event.mimeData())
            if not paths:
                event.ignore()
                return True
            event.acceptProposedAction()
            # After the drop returns: opening may ask questions, and a dialog inside a drop
            # event would hold the dragging application until it is answered.
            QTimer.singleShot(0, self, lambda: self._open_paths(paths))
            return True
        return False
