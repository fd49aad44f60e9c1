"""The Qt desktop app (PySide6 + pyqtgraph). Imports core, io and depth; never torch."""
