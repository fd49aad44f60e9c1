"""Render the application icon's PNG sizes from its SVG (run after editing the SVG, commit both).

    QT_QPA_PLATFORM=offscreen python resources/icons/render_icons.py

Uses Qt's own SVG renderer (QtSvg, part of PySide6), so no other tool is needed; the PNGs are what
desktops that do not read SVG (and Qt's window icon at small sizes) show.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent
APP_ID = "org.segstudio.SegStudio"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
"""The hicolor theme's usual application icon sizes."""


def png_path(size: int, folder: Path = ICONS) -> Path:
    return folder / f"{APP_ID}-{size}.png"


def render(svg: Path, size: int) -> QImage:
    """``svg`` drawn on a transparent ``size`` x ``size`` image (premultiplied ARGB, antialiased)."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG for QtSvg")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main(folder: Path = ICONS) -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    svg = ICONS / f"{APP_ID}.svg"
    for size in SIZES:
        out = png_path(size, folder)
        if not render(svg, size).save(str(out)):
            raise OSError(f"{out}: cannot write the PNG")
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
