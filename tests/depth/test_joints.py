"""Joint proposals by mean shift: hand-made blobs, ground-truth part maps of synthetic frames, the
learned offsets and the skeleton table; the compiled votes and mean shift against numpy's."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.depth.body import JOINT_NAMES, Frame, render_frame
from segstudio.depth.evaluation import visible_joints
from segstudio.depth.joints import (
    JOINT_INDEX,
    JOINTS,
    SKELETON_EDGES,
    JointSpec,
    _votes,
    back_project,
    fit_offsets,
    ground_truth_proposals,
    propose_joints,
)
from segstudio.depth.joints_jit import mean_shift, votes_kernel
from segstudio.depth.parts import BACKGROUND, N_PARTS, Part
from segstudio.depth.render import Camera

CAMERA = Camera()
NECK_ONLY = (JointSpec("neck", (Part.NECK,), (0.0, 0.0, 0.05)),)
PATHS = pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])


def blob_frame(centres_mm: list[tuple[int, int, int, int]], shape: tuple[int, int] = (120, 160)):
    """A depth image of flat square patches ``(row, col, half size, depth mm)``, all labelled NECK."""
    depth = np.zeros(shape, np.uint16)
    for row, col, half, z in centres_mm:
        depth[row - half : row + half + 1, col - half : col + half + 1] = z
    pixels = np.argwhere(depth > 0)
    proba = np.zeros((len(pixels), N_PARTS), np.float32)
    proba[:, Part.NECK] = 1.0
    return depth, pixels, proba


def test_back_project_inverts_the_projection() -> None:
    points = np.array([[0.3, -0.2, 2.0], [-1.0, 0.5, 3.5]])
    uv = CAMERA.project(points)
    pixels = np.stack([uv[:, 1], uv[:, 0]], axis=1)  # (row, col)
    np.testing.assert_allclose(back_project(pixels, points[:, 2], CAMERA), points, atol=1e-12)


@PATHS
def test_one_blob_gives_its_centre_pushed_back(compiled: bool) -> None:
    camera = Camera(160, 120)
    depth, pixels, proba = blob_frame([(60, 80, 6, 2000)])
    proposals = propose_joints(depth, pixels, proba, camera, NECK_ONLY, compiled=compiled)
    world, image, confidence = proposals.best()
    centre = back_project(np.array([[60, 80]]), np.array([2.0]), camera)[0]
    np.testing.assert_allclose(world[0], centre + [0.0, 0.0, 0.05], atol=1e-3)
    np.testing.assert_allclose(image[0], camera.project(world[:1])[0])
    # Confidence is probability-weighted area: 13 x 13 pixels of (2 m / f)**2 m^2, all near the mode.
    assert 0.5 * 169 * (2.0 / camera.fx) ** 2 < confidence[0] <= 169 * (2.0 / camera.fx) ** 2


@PATHS
def test_two_blobs_give_two_proposals_larger_area_first(compiled: bool) -> None:
    camera = Camera(160, 120)
    depth, pixels, proba = blob_frame([(30, 40, 3, 2000), (80, 120, 8, 2000)])
    proposals = propose_joints(depth, pixels, proba, camera, NECK_ONLY, max_proposals=3, compiled=compiled)
    found = proposals.confidence[0] > 0
    assert found.sum() == 2
    assert proposals.confidence[0, 0] > proposals.confidence[0, 1]
    big = back_project(np.array([[80, 120]]), np.array([2.0]), camera)[0] + [0.0, 0.0, 0.05]
    np.testing.assert_allclose(proposals.world[0, 0], big, atol=0.01)
    assert np.isnan(proposals.world[0, 2]).all() and proposals.confidence[0, 2] == 0.0


@PATHS
def test_area_weighting_makes_distance_irrelevant(compiled: bool) -> None:
    """The same patch of body surface at 2 m and at 4 m (half the pixels per side) weighs the same."""
    camera = Camera(160, 120)
    near = propose_joints(*blob_frame([(60, 80, 8, 2000)]), camera, NECK_ONLY, compiled=compiled).confidence[
        0, 0
    ]
    far = propose_joints(*blob_frame([(60, 80, 4, 4000)]), camera, NECK_ONLY, compiled=compiled).confidence[
        0, 0
    ]
    assert far == pytest.approx(near, rel=0.3)


@PATHS
def test_joints_without_voters_have_no_proposal(compiled: bool) -> None:
    depth, pixels, proba = blob_frame([(60, 80, 4, 2000)])
    proposals = propose_joints(depth, pixels, proba, Camera(160, 120), compiled=compiled)
    neck = [spec.name for spec in JOINTS].index("neck")
    assert proposals.confidence[neck, 0] > 0
    others = np.delete(np.arange(len(JOINTS)), neck)
    assert (proposals.confidence[others] == 0).all() and np.isnan(proposals.world[others]).all()


def test_ground_truth_parts_give_joints_within_ten_centimetres() -> None:
    hits = visible = 0
    for seed in range(5):
        frame = render_frame(seed)
        world, _, confidence = ground_truth_proposals(frame).best()
        shown = visible_joints(frame.parts) & (confidence > 0)
        error = np.linalg.norm(world - frame.joints_world[JOINT_INDEX], axis=1)
        hits += int((error[shown] < 0.1).sum())
        visible += int(shown.sum())
    assert visible >= 60 and hits >= 0.85 * visible


def test_offsets_are_the_learned_ones() -> None:
    """Refitting on a few training frames lands near the shipped offsets (fitted on 100 frames)."""
    fitted = fit_offsets(render_frame(seed) for seed in range(6))
    for spec, refit in zip(JOINTS, fitted, strict=True):
        assert refit.name == spec.name
        np.testing.assert_allclose(refit.offset, spec.offset, atol=0.04)


def test_the_joint_table_is_consistent() -> None:
    names = [spec.name for spec in JOINTS]
    assert len(names) == len(set(names)) == 18
    assert [JOINT_NAMES[i] for i in JOINT_INDEX] == names
    assert all(0 <= part < N_PARTS for spec in JOINTS for part in spec.parts)
    for a, b in SKELETON_EDGES:
        assert 0 <= a < len(JOINTS) and 0 <= b < len(JOINTS) and a != b
    linked = {i for edge in SKELETON_EDGES for i in edge}
    assert linked == set(range(len(JOINTS)))  # every joint is drawn
    left, right = names.index("l_knee"), names.index("r_knee")
    assert JOINTS[left].parts == (Part.L_KNEE,) and JOINTS[right].parts == (Part.R_KNEE,)


def noisy_probabilities(seed: int) -> tuple[Frame, np.ndarray, np.ndarray]:
    """A synthetic frame's body pixels with probabilities half their true part, half random."""
    frame, rng = render_frame(seed), np.random.default_rng(seed)
    pixels = np.argwhere(frame.parts != BACKGROUND)
    proba = rng.dirichlet(np.full(N_PARTS, 0.3), len(pixels)).astype(np.float32) * np.float32(0.5)
    proba[np.arange(len(pixels)), frame.parts[pixels[:, 0], pixels[:, 1]]] += np.float32(0.5)
    return frame, pixels, proba


def test_the_compiled_joint_kernels_load() -> None:
    """Numba is a dependency: the compiled votes and mean shift must load, or the fast path is numpy."""
    assert votes_kernel() is not None
    points, weights = np.zeros((1, 2, 3), np.float32), np.ones((1, 2), np.float32)
    assert mean_shift(points, weights, np.ones(1, np.float32), 2, 1) is not None


@pytest.mark.parametrize("max_points", [200, 40])
def test_compiled_votes_are_numpys_bit_for_bit(max_points: int) -> None:
    """Every joint's strided voters, points and weights; 40 points strides over every joint's voters."""
    frame, pixels, proba = noisy_probabilities(3)
    expected = _votes(frame.depth, pixels, proba, frame.camera, JOINTS, max_points, compiled=False)
    got = _votes(frame.depth, pixels, proba, frame.camera, JOINTS, max_points, compiled=True)
    assert expected[1].shape == (len(JOINTS), max_points)
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_compiled_mean_shift_matches_numpy() -> None:
    """The same steps in another order: the same joints found, modes within float rounding
    (tenths of a millimetre where a mode still drifts after the last step)."""
    for seed in range(3):
        frame, pixels, proba = noisy_probabilities(seed)
        expected = propose_joints(frame.depth, pixels, proba, frame.camera, compiled=False)
        got = propose_joints(frame.depth, pixels, proba, frame.camera, compiled=True)
        found = expected.confidence > 0
        assert found[:, 0].sum() >= 15  # most joints are proposed: the comparison means something
        np.testing.assert_array_equal(got.confidence > 0, found)
        np.testing.assert_allclose(got.world[found], expected.world[found], atol=1e-3)
        np.testing.assert_allclose(got.confidence, expected.confidence, rtol=1e-3)
