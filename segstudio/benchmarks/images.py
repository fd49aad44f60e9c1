"""Synthetic photos for the benchmarks: no Qt here, so the worker bench runs with QtCore alone."""

from __future__ import annotations

import cv2
import numpy as np


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients, soft blobs and sensor noise: JPEG-compresses like a photo, not a test card."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    rgb = np.empty((height, width, 3), np.float32)
    for channel in range(3):
        a, b, c = rng.uniform(-1, 1, 3)
        rgb[:, :, channel] = 120 + 60 * a * x + 50 * b * y + 30 * np.sin(6 * c * (x + y))
    coarse = rng.normal(0, 40, (max(height // 150, 2), max(width // 150, 2), 3)).astype(np.float32)
    rgb += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    rgb += rng.normal(0, 6, rgb.shape).astype(np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)
