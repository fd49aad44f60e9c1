"""The joints' votes compiled by Numba, for ``depth.joints``: one pass over the part probabilities.

Why: numpy gathered each joint's parts from the (pixels, 31) probabilities column by column
(18 strided passes over 1.8 MB), then found, strode over, back-projected and weighed the voters in
a dozen whole-array calls: ~1.6 ms of a ~4.5 ms joints stage. Here one pass over the probabilities,
row by row, sums each joint's parts (its first part, then a short list of additions: a loop over
each joint's up to four parts cost twice as much) and keeps the pixels that pass its threshold; a second loop
picks the strided voters and makes their points and weights. The steps are numpy's, in the same
float32 and float64 operations and order (``_votes`` in ``depth.joints``), so the points and weights
are the same bit for bit (tests/depth/test_joints.py holds it).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from segstudio.depth.jit import Kernel, compiled


def _votes(
    depth_mm: np.ndarray,
    pixels: np.ndarray,
    proba: np.ndarray,
    parts: tuple[np.ndarray, np.ndarray, np.ndarray],
    thresholds: np.ndarray,
    camera: np.ndarray,
    max_points: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``depth.joints._votes``: ``parts`` is each joint's first part (J,), then the joint and
    part of every further addition, in numpy's order (``depth.joints._part_table``);
    ``camera`` (fx, fy, cx, cy)."""
    first, added_to, added = parts
    n_joints, n_pixels = first.shape[0], proba.shape[0]
    voter = np.empty((n_joints, n_pixels), np.int64)
    voter_p = np.empty((n_joints, n_pixels), np.float32)
    voters = np.zeros(n_joints, np.int64)
    joint_p = np.empty(n_joints, np.float32)
    for n in range(n_pixels):
        for j in range(n_joints):
            joint_p[j] = proba[n, first[j]]
        for e in range(added.shape[0]):
            joint_p[added_to[e]] += proba[n, added[e]]
        for j in range(n_joints):
            if joint_p[j] >= thresholds[j]:
                count = voters[j]
                voter[j, count] = n
                voter_p[j, count] = joint_p[j]
                voters[j] = count + 1
    width = max(1, min(max_points, voters.max()))
    points = np.zeros((n_joints, width, 3), np.float32)
    weights = np.zeros((n_joints, width), np.float32)
    fx, fy, cx, cy = camera[0], camera[1], camera[2], camera[3]
    for j in range(n_joints):
        kept = min(voters[j], width)
        step = max(voters[j] - 1, 0) / max(1, width - 1)
        scale = voters[j] / max(1, kept)
        for k in range(kept):
            rank = k
            if voters[j] > width:  # numpy's linspace(0, n - 1, width), truncated, last exact
                rank = int(k * step) if k < width - 1 else max(voters[j] - 1, 0)
            n = voter[j, rank]
            row, col = pixels[n, 0], pixels[n, 1]
            z = depth_mm[row, col] / 1000.0
            points[j, k, 0] = (np.float64(col) - cx) * z / fx
            points[j, k, 1] = (np.float64(row) - cy) * z / fy
            points[j, k, 2] = z
            area = z / fx
            weights[j, k] = np.float64(voter_p[j, rank]) * (area * area) * scale
    return points, weights


def _prepared(
    points: np.ndarray, weights: np.ndarray, inv_bw2: np.ndarray, modes: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """``depth.joints``'s steps before mean shift, per joint: the voters' centre (returned, (J, 3)
    float64) taken off ``points`` in place, the seeds (``modes``, (J, S, 3): voters at ranks
    ``linspace(0, n - 1, S)``) and the kernel's point ``columns`` (J, 5, P)."""
    n_joints, n_points, n_seeds = points.shape[0], points.shape[1], modes.shape[1]
    centre = np.zeros((n_joints, 3), np.float64)
    for j in range(n_joints):
        count = 0
        sums = np.zeros(3, np.float32)
        for p in range(n_points):
            if weights[j, p] > 0:
                count += 1
                for c in range(3):
                    sums[c] += points[j, p, c]
        for c in range(3):
            centre[j, c] = sums[c] / max(count, 1)
        for p in range(n_points):
            for c in range(3):
                points[j, p, c] = points[j, p, c] - centre[j, c]
        step = max(count - 1, 0) / max(1, n_seeds - 1)
        for s in range(n_seeds):
            rank = int(s * step) if s < n_seeds - 1 else max(count - 1, 0)
            for c in range(3):
                modes[j, s, c] = points[j, rank, c]
        for p in range(n_points):
            x, y, z = points[j, p, 0], points[j, p, 1], points[j, p, 2]
            log_w = np.log(weights[j, p]) if weights[j, p] > 0 else np.float32(-1e4)
            columns[j, 0, p], columns[j, 1, p], columns[j, 2, p] = x, y, z
            columns[j, 3, p] = 1.0
            columns[j, 4, p] = log_w - (x * x + y * y + z * z) * inv_bw2[j]
    return centre


def _exponents(modes: np.ndarray, columns: np.ndarray, inv_bw2: np.ndarray, out: np.ndarray) -> None:
    """``out`` (J, P, S): the kernel's exponent ``-|m - p|**2 / h**2 + log w`` of every point
    around every mode, as the product of the mode's row ``(2m/h**2, -|m|**2/h**2, 1)`` with the
    point's column; the seeds are the inner axis, so the loop over them vectorises."""
    n_joints, n_seeds, n_points = modes.shape[0], modes.shape[1], columns.shape[2]
    rows = np.empty((4, n_seeds), np.float32)
    two = np.float32(2.0)
    for j in range(n_joints):
        h = inv_bw2[j]
        for s in range(n_seeds):
            m0, m1, m2 = modes[j, s, 0], modes[j, s, 1], modes[j, s, 2]
            rows[0, s], rows[1, s], rows[2, s] = two * h * m0, two * h * m1, two * h * m2
            rows[3, s] = -h * (m0 * m0 + m1 * m1 + m2 * m2)
        for p in range(n_points):
            c0, c1, c2, c4 = columns[j, 0, p], columns[j, 1, p], columns[j, 2, p], columns[j, 4, p]
            for s in range(n_seeds):
                out[j, p, s] = rows[0, s] * c0 + rows[1, s] * c1 + rows[2, s] * c2 + (rows[3, s] + c4)


def _shifted(kernel: np.ndarray, points: np.ndarray, modes: np.ndarray) -> None:
    """One mean-shift step: each mode (J, S, 3) moved in place to the mean of ``points`` (J, P, 3)
    weighed by ``kernel`` (J, P, S), ``exp`` of ``_exponents``; a mode with no weight stays."""
    n_joints, n_points, n_seeds = kernel.shape
    sums = np.empty((4, n_seeds), np.float32)
    for j in range(n_joints):
        sums[:] = 0.0
        for p in range(n_points):
            x, y, z = points[j, p, 0], points[j, p, 1], points[j, p, 2]
            for s in range(n_seeds):
                k = kernel[j, p, s]
                sums[0, s] += k * x
                sums[1, s] += k * y
                sums[2, s] += k * z
                sums[3, s] += k
        for s in range(n_seeds):
            if sums[3, s] > 0:
                for c in range(3):
                    modes[j, s, c] = sums[c, s] / sums[3, s]


def mean_shift(
    points: np.ndarray, weights: np.ndarray, inv_bw2: np.ndarray, seeds: int, iterations: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """``depth.joints``'s mean shift compiled: the modes (J, S, 3) float64 after ``iterations``
    steps from ``seeds`` voters per joint, and their densities (J, S); ``points`` (J, P, 3) float32
    is centred in place. ``exp`` is OpenCV's between the compiled steps (SIMD: Numba's is ~7x
    slower here). ``None`` where Numba is missing or fails."""
    kernels = _shift_kernels()
    if kernels is None:
        return None
    prepared, exponents, shifted = kernels
    n_joints, n_points = points.shape[0], points.shape[1]
    modes = np.empty((n_joints, seeds, 3), np.float32)
    columns = np.empty((n_joints, 5, n_points), np.float32)
    centre = prepared(points, weights, inv_bw2, modes, columns)
    kernel = np.empty((n_joints, n_points, seeds), np.float32)
    flat = kernel.reshape(-1, seeds)  # 2-D: OpenCV would read a 3-D array as channels
    for _ in range(iterations):
        exponents(modes, columns, inv_bw2, kernel)
        cv2.exp(flat, flat)
        shifted(kernel, points, modes)
    exponents(modes, columns, inv_bw2, kernel)
    cv2.exp(flat, flat)
    return modes + centre[:, None, :], kernel.sum(axis=1)


@functools.cache
def votes_kernel() -> Kernel | None:
    """``_votes`` compiled, or ``None`` where Numba is missing or fails (``depth.joints`` then runs numpy)."""
    return compiled(_votes, _warm_up)


@functools.cache
def _shift_kernels() -> tuple[Kernel, Kernel, Kernel] | None:
    """``_prepared``, ``_exponents`` and ``_shifted`` compiled, or ``None``."""
    points, weights = np.zeros((1, 2, 3), np.float32), np.ones((1, 2), np.float32)
    inv_bw2, modes = np.ones(1, np.float32), np.zeros((1, 1, 3), np.float32)
    columns, kernel = np.zeros((1, 5, 2), np.float32), np.zeros((1, 2, 1), np.float32)
    found = (
        compiled(_prepared, lambda run: run(points, weights, inv_bw2, modes, columns)),
        compiled(_exponents, lambda run: run(modes, columns, inv_bw2, kernel)),
        compiled(_shifted, lambda run: run(kernel, points, modes)),
    )
    return None if None in found else found


def _warm_up(kernel: Kernel) -> None:
    """One pixel voting for one joint, in ``depth.joints``'s argument types."""
    kernel(
        np.full((1, 1), 1000, np.uint16),
        np.zeros((1, 2), np.intp),
        np.ones((1, 2), np.float32),
        (np.zeros(1, np.intp), np.zeros(1, np.intp), np.ones(1, np.intp)),
        np.zeros(1, np.float32),
        np.ones(4, np.float64),
        200,
    )
