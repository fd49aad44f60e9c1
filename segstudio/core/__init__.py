"""The domain: palettes, label maps, edits, undo, metrics.

Pure numpy + OpenCV; no Qt, no torch, no file formats.
"""
