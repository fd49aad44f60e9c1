"""The Qt binding must not leak: a lost reference per call kills the app after minutes of use."""

from __future__ import annotations

import sys

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QLabel


def test_void_qt_calls_do_not_leak_references_to_none(qtbot) -> None:
    """PySide6 6.12.0 on Python 3.11 drops a reference to None per void call until Python aborts."""
    label = QLabel()
    qtbot.addWidget(label)
    rect = QRect(0, 0, 10, 10)
    before = sys.getrefcount(None)
    for i in range(2000):
        rect.setWidth(i)
        label.setText("x")
    assert sys.getrefcount(None) >= before - 50
