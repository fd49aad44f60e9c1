"""Kinect v1-like corruption of a clean depth image, so a forest trained on renders meets real data.

The model, applied to the clean z depth in metres (0 = no surface), in this order:

1. **Shadow holes.** The IR projector sits ``baseline`` = 0.075 m to the right (+x) of the IR
   camera, so a background surface just *left* (smaller image x) of a foreground edge is seen by
   the camera but not lit by the projector: no reading. The band is exactly the set of pixels whose
   projector column ``u - f*b/z`` is not smaller than that of some pixel to their right, which
   makes its width ``f*b*(1/z_near - 1/z_far)`` pixels: 7 px for a body at 2 m before a wall at 3 m.
2. **Axial noise and disparity quantisation.** The sensor measures disparity ``d = f*b/z``
   (f = 580 px, b = 0.075 m) in steps of 1/8 pixel, so depth comes in steps of
   ``z**2 / (8*f*b)``: 2.9 mm at 1 m, 11 mm at 2 m, 46 mm at 4 m. Gaussian noise is added in
   disparity before quantising; its size is chosen so that noise plus quantisation has the axial
   standard deviation measured by Nguyen, Izadi & Lovell (3DIMPVT 2012),
   ``sigma_z(z) = 0.0012 + 0.0019 * (z - 0.4)**2`` m: 1.9 mm at 1 m, 6.1 mm at 2 m, 26 mm at
   4 m (same quadratic growth as Khoshelham & Elberink 2012).
3. **Range.** Readings outside 0.5-4.5 m become 0.
4. **Dropouts.** Isolated pixels fail with probability ``dropout`` (0.2 %), and pixels beside a
   depth discontinuity (a jump above ``edge_jump`` = 5 cm to a 4-neighbour) fail with probability
   ``edge_dropout`` (15 %), giving the ragged silhouettes of real frames.

The result is uint16 millimetres with 0 = no reading, like the Kinect's own output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstudio.depth.noise_jit import noisy_reading
from segstudio.depth.render import FOCAL


@dataclass(frozen=True)
class KinectNoise:
    """Parameters of the noise model above; zero a term to switch it off (tests do)."""

    focal: float = FOCAL
    baseline: float = 0.075
    subpixel: int = 8
    min_depth: float = 0.5
    max_depth: float = 4.5
    shadows: bool = True
    axial: bool = True
    dropout: float = 0.002
    edge_dropout: float = 0.15
    edge_jump: float = 0.05


DEFAULT_NOISE = KinectNoise()
"""The model as documented above."""


def axial_sigma(z: np.ndarray | float) -> np.ndarray:
    """Nguyen et al. (2012) axial standard deviation in metres at depth ``z`` metres."""
    z = np.asarray(z, np.float64)
    return 0.0012 + 0.0019 * (z - 0.4) ** 2


def quantisation_step(z: np.ndarray | float, model: KinectNoise = DEFAULT_NOISE) -> np.ndarray:
    """Depth difference between neighbouring disparity levels at ``z``: ``z**2 / (subpixel*f*b)``."""
    z = np.asarray(z, np.float64)
    return z * z / (model.subpixel * model.focal * model.baseline)


def shadow_mask(depth: np.ndarray, model: KinectNoise = DEFAULT_NOISE, first_column: int = 0) -> np.ndarray:
    """Pixels the camera sees but the projector (at +x) cannot light; ``depth`` in metres, 0 = none,
    its first column the frame's ``first_column``.

    Along each row the projector column ``u - f*b/z`` must stay below every value to its right
    (a nearer surface to the right casts its shadow leftwards onto the far surface).
    """
    h, w = depth.shape
    fb = model.focal * model.baseline
    with np.errstate(divide="ignore"):
        column = np.where(depth > 0, np.arange(first_column, first_column + w)[None, :] - fb / depth, np.inf)
    right_min = np.minimum.accumulate(column[:, ::-1], axis=1)[:, ::-1]
    beyond = np.concatenate([right_min[:, 1:], np.full((h, 1), np.inf)], axis=1)
    return (depth > 0) & (column > beyond)


def _edge_pixels(depth: np.ndarray, jump: float) -> np.ndarray:
    """Pixels with a 4-neighbour whose depth differs by more than ``jump`` metres."""
    edge = np.zeros(depth.shape, bool)
    dx = np.abs(np.diff(depth, axis=1)) > jump
    dy = np.abs(np.diff(depth, axis=0)) > jump
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge


def kinect_noise(
    depth: np.ndarray, rng: np.random.Generator, model: KinectNoise = DEFAULT_NOISE, first_column: int = 0
) -> np.ndarray:
    """The noisy uint16 millimetre reading of a clean float depth in metres (0 = no surface):
    compiled in one pass where Numba loads (``noise_jit``), else ``numpy_reading``; both give the
    same bits from the same draws. ``first_column``: the frame column of ``depth``'s first one (a
    window of a frame: shadows compare frame columns; see ``body.window_frame``)."""
    depth = np.asarray(depth, np.float64)
    normal, drop, edge_drop = _draws(depth.shape, rng, model)
    settings = kernel_settings(model, first_column)
    reading = noisy_reading(np.ascontiguousarray(depth), normal, drop, edge_drop, settings)
    if reading is None:
        return numpy_reading(depth, normal, drop, edge_drop, model, first_column)
    return reading


def kernel_settings(model: KinectNoise, first_column: int = 0) -> np.ndarray:
    """The model as the float64 ``settings`` of ``noise_jit.noisy_reading``."""
    return np.array(
        [model.focal, model.baseline, model.subpixel, model.min_depth, model.max_depth, model.shadows,
         model.axial, model.dropout, model.edge_dropout, model.edge_jump, first_column], np.float64,
    )  # fmt: skip


def shadow_reach(model: KinectNoise = DEFAULT_NOISE, nearest: float = 0.0) -> int:
    """How many columns to its right can shadow a pixel when no surface is nearer than ``nearest``
    metres (0: the model's ``min_depth``): a surface at z shifts the projector column by
    ``f*b/z`` pixels at most."""
    return (
        int(np.ceil(model.focal * model.baseline / (nearest or model.min_depth))) + 1 if model.shadows else 0
    )


def _draws(
    shape: tuple[int, ...], rng: np.random.Generator, model: KinectNoise
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The noise's random numbers in the order the model uses them (axial, dropout, edge dropout);
    an unused term gets an array of zeros, drawing nothing from ``rng``."""
    unused = np.zeros(shape)
    normal = rng.standard_normal(shape) if model.axial else unused
    drop = rng.random(shape) if model.dropout else unused
    edge_drop = rng.random(shape) if model.edge_dropout else unused
    return normal, drop, edge_drop


def numpy_reading(
    depth: np.ndarray,
    normal: np.ndarray,
    drop: np.ndarray,
    edge_drop: np.ndarray,
    model: KinectNoise,
    first_column: int = 0,
) -> np.ndarray:
    """``kinect_noise`` in numpy, from its draws: the reference of the compiled pass."""
    valid = depth > 0
    if model.shadows:
        valid &= ~shadow_mask(depth, model, first_column)
    fb = model.focal * model.baseline
    z = np.where(valid, depth, 1.0)
    disparity = fb / z
    if model.axial:
        # Gaussian part = total axial variance minus the uniform quantisation variance step**2/12.
        step = quantisation_step(z, model)
        gauss = np.sqrt(np.maximum(axial_sigma(z) ** 2 - step**2 / 12, (0.25 * step) ** 2))
        disparity = disparity + normal * gauss * fb / (z * z)
    if model.subpixel:
        disparity = np.round(disparity * model.subpixel) / model.subpixel
    with np.errstate(divide="ignore"):
        z = np.where(disparity > 0, fb / disparity, 0.0)
    valid &= (z >= model.min_depth) & (z <= model.max_depth)
    if model.dropout:
        valid &= drop >= model.dropout
    if model.edge_dropout:
        valid &= ~(_edge_pixels(depth, model.edge_jump) & (edge_drop < model.edge_dropout))
    return np.where(valid, np.round(z * 1000.0), 0).astype(np.uint16)
