"""Joint proposals from body-part probabilities: per-part mean shift in world space (Shotton et al.).

Each joint gathers the probability of the parts that sit on it (the head joint all four head parts,
the left knee ``L_KNEE``, ...). Pixels whose probability passes the joint's threshold are
back-projected to camera-space metres and weighted by ``probability * depth**2``: a pixel at depth
``z`` covers ``z**2 / f**2`` square metres of surface, so the weights estimate body area, not pixel
counts, and a near arm does not outweigh a far one. Mean shift with a Gaussian kernel of the
joint's bandwidth finds the modes of that weighted density; a mode lies on the body's surface, so it
is moved by the joint's offset (the paper pushes it back along the camera's z axis) towards where
the joint sits inside the body. A mode's confidence is the kernel-weighted sum of the weights around
it, with weights in square metres (``probability * (z / f)**2``): comparable across frames.

All joints are shifted together in padded arrays; the points of a joint are subsampled with a fixed
stride to ``max_points``, so the cost does not grow with the body's size in the image. One step is
two batched matrix products and one ``exp``: with coordinates centred on each joint's voters, the
kernel's exponent ``-|m - p|**2 / h**2 + log w`` is the product of the mode's row
``(2m/h**2, -|m|**2/h**2, 1)`` with the point's column ``(p, 1, log w - |p|**2/h**2)``, and the
kernel times ``(p, 1)`` gives the shifted mode's numerator and denominator at once (centring keeps
the float32 cancellation in ``|m|**2 - 2 m.p + |p|**2`` near 1e-6 of the exponent). The step count
is fixed, as on a device (``models.body_torch``): on held-out frames some modes still move by
centimetres after ten steps, so a convergence test would rarely stop early.

Where Numba loads, the votes and the mean shift are compiled (``depth.joints_jit``): the votes in
one pass, bit for bit these; the mean shift with the same steps per joint, seed and point in loops
(OpenCV's ``exp`` between them), whose sums run in another order than numpy's matrix products, so
modes agree to float rounding, which the slowest-moving modes carry to ~1e-4 m (rarely ~1 cm on
held-out frames; the joint mAP of 100 frames is the same to four places). 4.7-5.2 -> 2.0-2.2 ms
of CPU per frame (``depth bench``'s frames).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from segstudio.depth.body import JOINT_NAMES, Frame
from segstudio.depth.joints_jit import mean_shift, votes_kernel
from segstudio.depth.parts import BACKGROUND, LEFT_RIGHT_SWAP, N_PARTS, Part
from segstudio.depth.render import Camera

BANDWIDTH_M = 0.065
"""Shotton et al.'s mean-shift bandwidth (metres): the default of a ``JointSpec``."""
PROBABILITY_THRESHOLD = 0.14
"""Shotton et al.'s per-pixel probability threshold (fainter pixels do not vote): the default."""
NO_WEIGHT_LOG = np.float32(-1e4)
"""The log weight of padding points: ``exp`` of it is 0, and it stays finite inside the products."""


@dataclass(frozen=True)
class JointSpec:
    """One proposed joint: its name in ``body.JOINT_NAMES``, the parts that vote for it, the
    mean-shift bandwidth and probability threshold, and the ``offset`` (camera-space metres, x y z)
    from the mode on the surface to the joint (the paper's push-back is z only, 0.039 m)."""

    name: str
    parts: tuple[int, ...]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.039)
    bandwidth: float = BANDWIDTH_M
    threshold: float = PROBABILITY_THRESHOLD


def _sided(
    name: str, left: Part, offset: tuple[float, float, float], bandwidth: float, threshold: float
) -> tuple[JointSpec, JointSpec]:
    """The left joint from part ``left``, the right one from its mirror; x offsets mirror too."""
    mirrored = (-offset[0], offset[1], offset[2])
    return JointSpec("l_" + name, (left,), offset, bandwidth, threshold), JointSpec(
        "r_" + name, (int(LEFT_RIGHT_SWAP[left]),), mirrored, bandwidth, threshold
    )


# Offsets: the median gap from the top mode to the true joint on ground-truth part maps
# (``fit_offsets(render_frame(s) for s in range(100))``, left/right averaged). z is the paper's
# push-back; y matters for the hips, whose votes (lower torso) sit ~0.1 m above the joint, and
# the neck. Bandwidth and threshold per joint (left and right alike), as the paper tuned them: the
# best average precision of a grid (bandwidth 0.1-0.2 m x threshold 0.05-0.14) on 60 held-out
# frames (seeds 5,000,000..) of the bundled forest; on 100 other frames (seeds 9,000,000..) the
# joint mAP rose from 0.732 (0.065 m and 0.14 for all) to 0.758 (resources/models/README.md).
JOINTS: tuple[JointSpec, ...] = (
    JointSpec(
        "head", (Part.LU_HEAD, Part.RU_HEAD, Part.LW_HEAD, Part.RW_HEAD), (0.0, -0.01, 0.07), 0.16, 0.1
    ),
    JointSpec("neck", (Part.NECK,), (0.0, 0.05, 0.06), 0.1, 0.14),
    *_sided("shoulder", Part.L_SHOULDER, (0.0, -0.01, 0.04), 0.1, 0.14),
    *_sided("elbow", Part.L_ELBOW, (0.0, 0.0, 0.035), 0.1, 0.1),
    *_sided("wrist", Part.L_WRIST, (0.0, 0.0, 0.025), 0.13, 0.05),
    *_sided("hand", Part.L_HAND, (0.0, -0.015, 0.03), 0.13, 0.05),
    *_sided("hip", Part.LW_TORSO, (0.0, 0.11, 0.1), 0.16, 0.1),
    *_sided("knee", Part.L_KNEE, (0.0, -0.01, 0.06), 0.1, 0.14),
    *_sided("ankle", Part.L_ANKLE, (0.0, 0.0, 0.045), 0.1, 0.14),
    *_sided("foot", Part.L_FOOT, (0.0, 0.01, 0.04), 0.1, 0.05),
)
"""The 18 proposed joints; ``JOINT_NAMES.index(spec.name)`` finds each in a ``Frame``'s joints."""

JOINT_INDEX = np.array([JOINT_NAMES.index(spec.name) for spec in JOINTS])
"""Row of each proposed joint in ``Frame.joints_world`` / ``joints_image``."""


def _edges(*pairs: tuple[str, str]) -> tuple[tuple[int, int], ...]:
    names = [spec.name for spec in JOINTS]
    expanded = []
    for a, b in pairs:
        sides = ("l_", "r_") if "*" in a + b else ("",)
        expanded += [(names.index(a.replace("*", s)), names.index(b.replace("*", s))) for s in sides]
    return tuple(expanded)


SKELETON_EDGES: tuple[tuple[int, int], ...] = _edges(
    ("head", "neck"), ("neck", "*shoulder"), ("*shoulder", "*elbow"), ("*elbow", "*wrist"),
    ("*wrist", "*hand"), ("*shoulder", "*hip"), ("l_hip", "r_hip"), ("*hip", "*knee"),
    ("*knee", "*ankle"), ("*ankle", "*foot"),
)  # fmt: skip
"""Pairs of indices into ``JOINTS`` to draw as bones."""


@dataclass(frozen=True, eq=False)
class JointProposals:
    """Up to ``K`` proposals per joint, best first: ``world`` (J, K, 3) camera-space metres,
    ``image`` (J, K, 2) pixel (u, v), ``confidence`` (J, K); missing proposals are NaN with
    confidence 0. Rows follow ``JOINTS``."""

    world: np.ndarray
    image: np.ndarray
    confidence: np.ndarray

    def best(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The top proposal of every joint: world (J, 3), image (J, 2), confidence (J,)."""
        return self.world[:, 0], self.image[:, 0], self.confidence[:, 0]


def back_project(pixels: np.ndarray, depth_m: np.ndarray, camera: Camera) -> np.ndarray:
    """(N, 3) camera-space points of pixels (row, col) at ``depth_m`` metres."""
    rows, cols = pixels[:, 0].astype(np.float64), pixels[:, 1].astype(np.float64)
    z = np.asarray(depth_m, np.float64)
    return np.stack([(cols - camera.cx) * z / camera.fx, (rows - camera.cy) * z / camera.fy, z], axis=1)


def _joint_probability(proba: np.ndarray, specs: tuple[JointSpec, ...]) -> np.ndarray:
    """(J, N) summed probability of each joint's parts, added left to right: one gather of every
    joint's first part, then one row add per further part. Joints first, so each joint's voters
    are one contiguous row (``_voters``)."""
    by_part = proba.T
    joint_p = by_part[[spec.parts[0] for spec in specs]]
    for rank in range(1, max(len(spec.parts) for spec in specs)):
        joints = [j for j, spec in enumerate(specs) if len(spec.parts) > rank]
        joint_p[joints] += by_part[[specs[j].parts[rank] for j in joints]]
    return joint_p


def _voters(joint_p: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint and pixel of every (J, N) entry at least its joint's threshold, joint by joint and in
    pixel order within a joint (``np.nonzero``'s order; OpenCV's ``findNonZero``, ~10x faster)."""
    voting = (joint_p >= thresholds[:, None]).view(np.uint8)
    found = cv2.findNonZero(voting) if voting.size else None
    if found is None:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    found = found.reshape(-1, 2).astype(np.intp)  # (x, y) = (pixel, joint)
    return found[:, 1], found[:, 0]


def _linspace_index(count: np.ndarray, num: int) -> np.ndarray:
    """``np.linspace(0, max(0, n - 1), num).astype(np.intp)`` for every ``n`` in ``count``: (len, num)."""
    stop = np.maximum(count - 1, 0).astype(np.float64)[:, None]
    index = np.arange(num, dtype=np.float64) * (stop / max(1, num - 1))
    index[:, -1:] = stop
    return index.astype(np.intp)


def propose_joints(
    depth_mm: np.ndarray,
    pixels: np.ndarray,
    proba: np.ndarray,
    camera: Camera | None = None,
    specs: tuple[JointSpec, ...] = JOINTS,
    max_proposals: int = 3,
    max_points: int = 200,
    max_seeds: int = 16,
    iterations: int = 10,
    compiled: bool = True,
) -> JointProposals:
    """Joint proposals from the part probabilities ``proba`` (N, 31) of ``pixels`` (N, 2) in a
    millimetre depth frame (see the module notes); ``max_seeds`` voters per joint start mean shift,
    which runs ``iterations`` steps. ``compiled``: the votes and mean shift compiled by Numba
    (``joints_jit``) where it loads, else numpy."""
    camera = camera or Camera()
    proba = np.asarray(proba, np.float32)
    points, weights = _votes(np.asarray(depth_mm), pixels, proba, camera, specs, max_points, compiled)
    inv_bw2 = np.array([1.0 / spec.bandwidth**2 for spec in specs], np.float32)
    shifted = mean_shift(points, weights, inv_bw2, max_seeds, iterations) if compiled else None
    if shifted is None:
        shifted = _mean_shift(points, weights, inv_bw2[:, None, None], max_seeds, iterations)
    return select_proposals(*shifted, specs, camera, max_proposals)


def _mean_shift(
    points: np.ndarray, weights: np.ndarray, inv_bw2: np.ndarray, max_seeds: int, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """The modes (J, S, 3) of ``iterations`` mean-shift steps from ``max_seeds`` voters per joint
    and their densities (J, S) in numpy, where Numba is missing (``joints_jit.mean_shift``, the
    same steps to float rounding); ``inv_bw2`` (J, 1, 1)."""
    seeds = _linspace_index((weights > 0).sum(axis=1), max_seeds)
    centre = _centres(points, weights)
    points -= centre
    modes = np.take_along_axis(points, seeds[:, :, None], axis=1)  # (J, S, 3)
    columns = _point_columns(points, weights, inv_bw2)  # (J, 5, P)
    points_1 = np.concatenate([points, np.ones_like(points[:, :, :1])], axis=2)  # (J, P, 4)
    for _ in range(iterations):
        moments = _kernel(modes, columns, inv_bw2) @ points_1  # (J, S, 4): sum k p, sum k
        total = moments[:, :, 3:]
        modes = np.where(total > 0, moments[:, :, :3] / np.maximum(total, np.float32(1e-30)), modes)
    return modes + centre, _kernel(modes, columns, inv_bw2).sum(axis=2)


def _votes(
    depth_mm: np.ndarray,
    pixels: np.ndarray,
    proba: np.ndarray,
    camera: Camera,
    specs: tuple[JointSpec, ...],
    max_points: int,
    compiled: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Per joint, up to ``max_points`` voting pixels as camera-space points (J, P, 3) float32 and
    their weights (J, P): probability times pixel area in m^2, scaled up for the voters the
    stride skipped; padding has weight 0. All joints at once: voters are ranked in pixel order,
    and a joint with more than ``max_points`` keeps ranks ``np.linspace(0, n - 1, max_points)``.
    Compiled where Numba loads (``depth.joints_jit``, the same bits in one pass)."""
    thresholds = np.array([spec.threshold for spec in specs], np.float32)
    kernel = votes_kernel() if compiled else None
    if kernel is not None:
        lens = (camera.fx, camera.fy, camera.cx, camera.cy)
        return kernel(depth_mm, pixels, proba, _part_table(specs), thresholds, np.array(lens), max_points)
    joint_p = _joint_probability(proba, specs)
    joint_of, pixel_of = _voters(joint_p, thresholds)  # grouped by joint
    voters = np.bincount(joint_of, minlength=len(specs))
    width = max(1, min(max_points, int(voters.max(initial=0))))
    rank = np.where(voters[:, None] > width, _linspace_index(voters, width), np.arange(width))
    kept = np.minimum(voters, width)
    used = np.arange(width) < kept[:, None]  # (J, P)
    joint, chosen = np.nonzero(used)
    voter = pixel_of[(np.cumsum(voters) - voters)[joint] + rank[joint, chosen]]
    z = depth_mm[pixels[voter, 0], pixels[voter, 1]] / 1000.0
    points = np.zeros((len(specs), width, 3), np.float32)
    weights = np.zeros((len(specs), width), np.float32)
    points[joint, chosen] = back_project(pixels[voter], z, camera)
    scale = (voters / np.maximum(1, kept))[joint]
    weights[joint, chosen] = joint_p[joint, voter] * (z / camera.fx) ** 2 * scale
    return points, weights


@functools.cache
def _part_table(specs: tuple[JointSpec, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compiled votes' form of ``specs``: each joint's first part, then the joint and part of
    every further addition, rank by rank as ``_joint_probability`` adds them."""
    ranks = range(1, max(len(spec.parts) for spec in specs))
    added = [
        (j, spec.parts[rank]) for rank in ranks for j, spec in enumerate(specs) if len(spec.parts) > rank
    ]
    added_to, part = np.array(added, np.intp).reshape(-1, 2).T
    return np.array([spec.parts[0] for spec in specs], np.intp), added_to.copy(), part.copy()


def _centres(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(J, 1, 3) mean of each joint's voting points (the origin of a joint without voters)."""
    voting = (weights > 0)[:, :, None]
    return (points * voting).sum(axis=1, keepdims=True) / np.maximum(voting.sum(axis=1, keepdims=True), 1)


def _point_columns(points: np.ndarray, weights: np.ndarray, inv_bw2: np.ndarray) -> np.ndarray:
    """(J, 5, P) columns ``(p, 1, log w - |p|**2 / h**2)`` of the kernel's exponent (module notes)."""
    with np.errstate(divide="ignore"):
        log_w = np.where(weights > 0, np.log(weights), NO_WEIGHT_LOG)
    squared = (points * points).sum(axis=2)
    last = log_w - squared * inv_bw2[:, :, 0]
    return np.concatenate([points.transpose(0, 2, 1), np.ones_like(last)[:, None], last[:, None]], axis=1)


def _kernel(modes: np.ndarray, columns: np.ndarray, inv_bw2: np.ndarray) -> np.ndarray:
    """Gaussian kernel weights (J, S, P) of every point around every mode, weights included:
    ``exp`` of the mode rows ``(2m/h**2, -|m|**2/h**2, 1)`` times the point ``columns``."""
    squared = (modes * modes).sum(axis=2, keepdims=True)
    rows = np.concatenate([2.0 * inv_bw2 * modes, -inv_bw2 * squared, np.ones_like(squared)], axis=2)
    exponent = rows @ columns
    flat = exponent.reshape(-1, exponent.shape[-1])  # 2-D: OpenCV would read a 3-D array as channels
    cv2.exp(flat, flat)  # SIMD: 4-5x numpy's float32 exp here, as accurate (2e-7)
    return exponent


def select_proposals(
    modes: np.ndarray, density: np.ndarray, specs: tuple[JointSpec, ...], camera: Camera, k: int
) -> JointProposals:
    """Per joint, the ``k`` densest of the converged ``modes`` (J, S, 3) at least a bandwidth apart,
    moved by the joint's offset. Public for ``models.body_torch``, whose mean shift runs on a device:
    this greedy pick over the J x S modes is cheap Python once they are on the host."""
    n_joints = len(specs)
    bandwidth2 = np.array([spec.bandwidth**2 for spec in specs])[:, None, None]
    axes = np.moveaxis(modes, 2, 0)  # (3, J, S): broadcasts over S, not over a trailing 3
    diff = axes[:, :, :, None] - axes[:, :, None, :]
    near = (diff * diff).sum(axis=0) < bandwidth2  # (J, S, S)
    near_bits = (near * (1 << np.arange(near.shape[2]))).sum(axis=2).tolist()  # row s as a bit set
    order = np.argsort(-density, axis=1, kind="stable").tolist()
    dense = (density > 0).tolist()
    chosen, counts = [], []
    for j in range(n_joints):  # greedy: a mode near a denser kept one is the same peak
        kept: list[int] = []
        kept_bits = 0
        for s in order[j]:
            if not dense[j][s] or len(kept) == k:
                break
            if not near_bits[j][s] & kept_bits:
                kept.append(s)
                kept_bits |= 1 << s
        chosen.append(kept + [0] * (k - len(kept)))
        counts.append(len(kept))
    found = np.arange(k) < np.array(counts)[:, None]  # (J, k); gathers below are for all joints at once
    rows = np.arange(n_joints)[:, None]
    offsets = np.array([spec.offset for spec in specs], np.float64)[:, None, :]
    world = np.where(found[..., None], modes[rows, chosen] + offsets, np.nan)
    confidence = np.where(found, density[rows, chosen], np.float64(0.0))
    with np.errstate(invalid="ignore"):
        image = camera.project(world.reshape(-1, 3)).reshape(n_joints, k, 2)
    return JointProposals(world, image, confidence)


def ground_truth_proposals(
    frame: Frame, specs: tuple[JointSpec, ...] = JOINTS, **kwargs: int
) -> JointProposals:
    """Proposals from a frame's true part map (one-hot probabilities): the best case of the method."""
    pixels = np.argwhere(frame.parts != BACKGROUND)
    proba = np.zeros((len(pixels), N_PARTS), np.float32)
    proba[np.arange(len(pixels)), frame.parts[pixels[:, 0], pixels[:, 1]]] = 1.0
    return propose_joints(frame.depth, pixels, proba, frame.camera, specs, **kwargs)


def fit_offsets(frames: Iterable[Frame], specs: tuple[JointSpec, ...] = JOINTS) -> tuple[JointSpec, ...]:
    """``specs`` with each offset set to the median gap (true joint - top mode, per axis) on
    ground-truth part maps: how the offsets of ``JOINTS`` were learned."""
    unshifted = tuple(replace(spec, offset=(0.0, 0.0, 0.0)) for spec in specs)
    rows = [JOINT_NAMES.index(spec.name) for spec in specs]
    gaps: list[list[np.ndarray]] = [[] for _ in specs]
    for frame in frames:
        world, _, confidence = ground_truth_proposals(frame, unshifted).best()
        for j in np.flatnonzero(confidence > 0):
            gaps[j].append(frame.joints_world[rows[j]] - world[j])
    return tuple(
        replace(spec, offset=tuple(round(float(x), 3) for x in np.median(g, axis=0))) if g else spec
        for spec, g in zip(specs, gaps, strict=True)
    )
