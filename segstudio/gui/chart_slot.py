"""A place in a panel where a pyqtgraph chart goes, built after the place is first painted.

pyqtgraph takes a few hundred milliseconds to import, so no chart is made while the window opens:
the IoU dock's bars are built in the turn after their slot first paints (the first paint is not
held back), the Train dock's curves only once that dock is shown. Panels keep their chart's parts
behind accessors that build it at once when asked earlier.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget


class ChartSlot(QWidget):
    """Where a chart goes: ``build`` is called in the event-loop turn after the slot's first paint,
    and adds the chart with :meth:`put`."""

    def __init__(self, build: Callable[[], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build: Callable[[], object] | None = build
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def put(self, chart: QWidget) -> None:
        self._layout.addWidget(chart)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        build, self._build = self._build, None
        if build is not None:
            QTimer.singleShot(0, self, build)
        super().paintEvent(event)
