"""Synthetic Kinect frames: geometry of the renderer, the body, poses, frames, mirroring and noise."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.depth.body import (
    JOINT_LEFT_RIGHT_SWAP,
    JOINT_LIMITS,
    JOINT_NAMES,
    N_JOINTS,
    Pose,
    Scene,
    animate,
    animated_scene,
    mirror_frame,
    neutral_pose,
    posed_body,
    random_pose,
    random_scene,
    random_shape,
    render_frame,
    render_scene,
)
from segstudio.depth.noise import (
    KinectNoise,
    axial_sigma,
    kinect_noise,
    quantisation_step,
    shadow_mask,
)
from segstudio.depth.parts import BACKGROUND, LEFT_RIGHT_SWAP, N_PARTS, Part, swap_left_right
from segstudio.depth.render import (
    Box,
    Camera,
    Capsule,
    Ellipsoid,
    PartRule,
    Plane,
    Room,
    camera_extrinsics,
    raycast,
)

CAMERA = Camera()
QUIET = KinectNoise(axial=False, dropout=0.0, edge_dropout=0.0)  # shadows and range only


def joint(name: str) -> int:
    return JOINT_NAMES.index(name)


def studio_scene(seed: int, pose: Pose, distance: float = 2.8) -> Scene:
    """A random person centred in front of a bare back wall, the camera aimed level at mid-body."""
    shape = random_shape(np.random.default_rng(seed))
    height = 1.1
    pitch = float(np.arctan2(height - 0.5 * shape.height, distance))
    return Scene(shape, pose, (0.0, distance), height, pitch, 0.0, Room(back=distance + 1.5))


def to_world(scene: Scene, points: np.ndarray) -> np.ndarray:
    rot, centre = camera_extrinsics(scene.camera_height, scene.pitch, scene.roll)
    return points @ rot + centre


def lowest_world_y(scene: Scene) -> float:
    """The body's lowest point above the floor, from its primitives in world coordinates."""
    rot, _ = camera_extrinsics(scene.camera_height, scene.pitch, scene.roll)
    lows = []
    for prim in posed_body(scene)[2]:
        if isinstance(prim, Capsule):
            lows.append(to_world(scene, np.stack([prim.a, prim.b]))[:, 1].min() - prim.radius)
        else:
            centre = to_world(scene, prim.centre[None])[0]
            axes = rot.T @ prim.axes
            lows.append(centre[1] - np.sqrt(((axes[1] * prim.radii) ** 2).sum()))
    return float(min(lows))


# --- the ray caster ----------------------------------------------------------------------------


def test_fronto_parallel_plane_has_constant_z_depth() -> None:
    render = raycast(CAMERA, [Plane(np.array([0.0, 0.0, 1.0]), 2.0)])
    np.testing.assert_allclose(render.depth, 2.0, atol=1e-12)
    assert (render.parts == BACKGROUND).all()


def test_sphere_depth_and_silhouette_match_geometry() -> None:
    r, d = 0.25, 2.0
    sphere = Ellipsoid(np.array([0.0, 0.0, d]), np.eye(3), np.full(3, r), rule=PartRule.single(Part.NECK))
    render = raycast(CAMERA, [sphere])
    assert render.depth[240, 320] == pytest.approx(d - r, abs=2e-3)
    apparent = CAMERA.fx * r / np.sqrt(d * d - r * r)  # image radius of the tangent cone
    assert (render.parts == Part.NECK).sum() == pytest.approx(np.pi * apparent**2, rel=0.02)
    assert ((render.depth > 0) == (render.parts == Part.NECK)).all()


def test_capsule_side_and_end_on_caps() -> None:
    side = Capsule(np.array([-0.3, 0.0, 2.0]), np.array([0.3, 0.0, 2.0]), 0.1)
    end_on = Capsule(np.array([0.0, 0.0, 2.0]), np.array([0.0, 0.0, 3.0]), 0.1)
    assert raycast(CAMERA, [side]).depth[240, 320] == pytest.approx(1.9, abs=1e-3)
    row = raycast(CAMERA, [side]).depth[240]
    width = np.count_nonzero(row)  # the caps extend the 0.6 m axis by the radius on each side
    assert width == pytest.approx(CAMERA.fx * 0.8 / 2.0, abs=3)
    assert raycast(CAMERA, [end_on]).depth[240, 320] == pytest.approx(1.9, abs=1e-3)


def test_box_front_face_and_z_buffer_order() -> None:
    box = Box(np.array([0.0, 0.0, 3.0]), np.eye(3), np.full(3, 0.5), rule=PartRule.single(Part.L_FOOT))
    wall = Plane(np.array([0.0, 0.0, 1.0]), 4.0)
    a, b = raycast(CAMERA, [wall, box]), raycast(CAMERA, [box, wall])
    assert a.depth[240, 320] == pytest.approx(2.5)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.parts, b.parts)
    assert set(np.unique(a.parts)) == {int(Part.L_FOOT), BACKGROUND}


# --- frames --------------------------------------------------------------------------------------


def test_same_seed_same_frame_and_different_seeds_differ() -> None:
    a, b, c = render_frame(7), render_frame(7), render_frame(8)
    for field in ("depth", "parts", "joints_world", "joints_image", "clean_depth"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.depth, c.depth)
    assert not np.array_equal(a.parts, c.parts)


def test_frame_types_and_shapes() -> None:
    frame = render_frame(0)
    assert frame.depth.shape == frame.parts.shape == frame.clean_depth.shape == (480, 640)
    assert frame.depth.dtype == frame.clean_depth.dtype == np.uint16
    assert frame.parts.dtype == np.uint8
    assert frame.joints_world.shape == (N_JOINTS, 3) and frame.joints_image.shape == (N_JOINTS, 2)
    np.testing.assert_allclose(frame.joints_image, frame.camera.project(frame.joints_world))
    assert not np.array_equal(frame.depth, frame.clean_depth)  # the noise did something


@pytest.mark.parametrize("seed", range(8))
def test_every_body_pixel_has_a_valid_reading(seed: int) -> None:
    frame = render_frame(seed)
    body = frame.parts != BACKGROUND
    assert body.sum() > 2000
    assert ((frame.depth[body] >= 500) & (frame.depth[body] <= 4500)).all()
    assert (frame.parts[frame.depth == 0] == BACKGROUND).all()
    assert ((frame.parts < N_PARTS) | (frame.parts == BACKGROUND)).all()


@pytest.mark.parametrize("seed", range(4))
def test_parts_exactly_where_the_body_is_the_nearest_surface(seed: int) -> None:
    scene = random_scene(np.random.default_rng(seed))
    frame = render_scene(scene)  # clean
    rot, centre = camera_extrinsics(scene.camera_height, scene.pitch, scene.roll)
    room = np.round(raycast(scene.camera, scene.room.primitives(rot, centre)).depth * 1000)
    body = frame.parts != BACKGROUND
    np.testing.assert_array_equal(frame.clean_depth[~body], room[~body])
    assert (frame.clean_depth[body] <= room[body]).all()
    assert (frame.clean_depth[body] < room[body]).mean() > 0.99


def test_all_31_parts_appear_over_random_frames() -> None:
    pixels = np.zeros(N_PARTS, int)
    frames_with = np.zeros(N_PARTS, int)
    for seed in range(30):
        counts = np.bincount(render_frame(seed).parts.ravel(), minlength=256)[:N_PARTS]
        pixels += counts
        frames_with += counts > 0
    assert (pixels > 1000).all(), dict(zip([p.name for p in Part], pixels, strict=True))
    assert (frames_with >= 15).all()


def part_centroid_u(parts: np.ndarray, part: int) -> float:
    return float(np.nonzero(parts == part)[1].mean())


@pytest.mark.parametrize("seed", range(3))
def test_facing_subject_shows_its_left_on_the_image_right(seed: int) -> None:
    frame = render_scene(studio_scene(seed, neutral_pose(arm_elevation=0.4)))
    for part in Part:
        if part.name[0] == "L" and (frame.parts == part).any():
            assert part_centroid_u(frame.parts, part) > part_centroid_u(frame.parts, LEFT_RIGHT_SWAP[part])
    assert frame.joints_image[joint("l_hand"), 0] > frame.joints_image[joint("r_hand"), 0]
    present = set(np.unique(frame.parts)) - {BACKGROUND}
    assert present == set(range(N_PARTS)), "an unoccluded frontal pose shows every part"


def test_joints_project_inside_the_silhouette_of_a_frontal_pose() -> None:
    frame = render_scene(studio_scene(3, neutral_pose(arm_elevation=0.4)))
    for name, (u, v), z in zip(JOINT_NAMES, frame.joints_image, frame.joints_world[:, 2], strict=True):
        pixel = int(round(v)), int(round(u))
        assert frame.parts[pixel] != BACKGROUND, name
        assert z * 1000 >= frame.clean_depth[pixel] - 1, f"{name} lies in front of the body surface"


def test_feet_rest_on_the_floor_and_crouching_lowers_the_pelvis() -> None:
    stand = studio_scene(1, neutral_pose())
    crouch_angles = neutral_pose().angles.copy()
    for side in ("l_", "r_"):
        crouch_angles[joint(side + "hip"), 0] = 1.2
        crouch_angles[joint(side + "knee"), 0] = 2.0
        crouch_angles[joint(side + "ankle"), 0] = 0.4
    crouch = studio_scene(1, Pose(crouch_angles))
    for scene in (stand, crouch):
        assert lowest_world_y(scene) == pytest.approx(0.0, abs=1e-9)
    pelvis_stand = to_world(stand, posed_body(stand)[0])[joint("pelvis"), 1]
    pelvis_crouch = to_world(crouch, posed_body(crouch)[0])[joint("pelvis"), 1]
    assert pelvis_crouch < pelvis_stand - 0.25
    assert 0.45 * stand.shape.height < pelvis_stand < 0.65 * stand.shape.height


def test_standing_body_is_as_tall_as_its_shape_says() -> None:
    for seed in range(5):
        scene = studio_scene(seed, Pose(np.zeros((N_JOINTS, 3))))
        assert 1.4 <= scene.shape.height <= 2.0
        top = to_world(scene, posed_body(scene)[0])[joint("head"), 1] + scene.shape.semi_axes["head"][1]
        assert top == pytest.approx(scene.shape.height, rel=0.06)


def test_arm_raised_forward_reaches_towards_the_camera_and_yaw_turns_left() -> None:
    angles = neutral_pose().angles.copy()
    angles[joint("l_shoulder"), :2] = np.pi / 2, np.pi / 2  # plane = forward, elevation = horizontal
    scene = studio_scene(2, Pose(angles))
    scene = Scene(scene.shape, scene.pose, scene.position, scene.camera_height, 0.0, 0.0, scene.room)
    joints = posed_body(scene)[0]
    reach = joints[joint("l_shoulder"), 2] - joints[joint("l_hand"), 2]
    assert reach > 0.5
    assert abs(joints[joint("l_hand"), 1] - joints[joint("l_shoulder"), 1]) < 0.05
    turned = posed_body(studio_scene(2, neutral_pose(yaw=np.pi / 2)))[0]
    assert turned[joint("l_shoulder"), 2] > turned[joint("r_shoulder"), 2] + 0.2  # left side away


def test_random_poses_stay_within_joint_limits_and_vary() -> None:
    rng = np.random.default_rng(0)
    poses = [random_pose(rng) for _ in range(200)]
    angles = np.stack([p.angles for p in poses])
    assert (angles >= JOINT_LIMITS[..., 0] - 1e-12).all() and (angles <= JOINT_LIMITS[..., 1] + 1e-12).all()
    yaws = np.array([p.yaw for p in poses])
    assert np.abs(yaws).max() <= 0.75 * np.pi and yaws.std() > 0.5
    knees = angles[:, joint("l_knee"), 0]
    assert (knees > 1.5).any(), "some poses crouch"
    elevation = angles[:, joint("l_shoulder"), 1]
    assert (elevation > 2.0).any(), "some poses raise an arm"


# --- mirroring -----------------------------------------------------------------------------------


def test_mirror_twice_is_the_identity() -> None:
    frame = render_frame(4)
    twice = mirror_frame(mirror_frame(frame))
    for field in ("depth", "parts", "joints_world", "joints_image", "clean_depth"):
        np.testing.assert_array_equal(getattr(twice, field), getattr(frame, field))


def test_mirror_flips_the_image_and_swaps_left_and_right() -> None:
    frame = render_scene(studio_scene(5, neutral_pose(arm_elevation=0.4)))
    mirrored = mirror_frame(frame)
    np.testing.assert_array_equal(mirrored.depth, frame.depth[:, ::-1])
    np.testing.assert_array_equal(mirrored.parts[:, ::-1], swap_left_right(frame.parts))
    assert part_centroid_u(mirrored.parts, Part.L_HAND) > part_centroid_u(mirrored.parts, Part.R_HAND)
    np.testing.assert_allclose(mirrored.joints_image, mirrored.camera.project(mirrored.joints_world))


def mirrored_pose(pose: Pose) -> Pose:
    """The pose of the subject's mirror image: sides swapped, sideways lean and twists reversed."""
    angles = pose.angles[JOINT_LEFT_RIGHT_SWAP].copy()
    angles[[joint("spine"), joint("neck")], 1:] *= -1
    return Pose(angles, -pose.yaw)


@pytest.mark.parametrize("seed", range(3))
def test_mirrored_frame_is_the_render_of_the_mirrored_pose(seed: int) -> None:
    pose = random_pose(np.random.default_rng(seed))
    frame = render_scene(studio_scene(seed, pose))
    twin = render_scene(studio_scene(seed, mirrored_pose(pose)))
    mirrored = mirror_frame(frame)
    assert (mirrored.parts != twin.parts).mean() < 1e-4
    np.testing.assert_allclose(mirrored.joints_world, twin.joints_world, atol=1e-9)


# --- animation -----------------------------------------------------------------------------------


def test_animation_is_reproducible_smooth_and_moving() -> None:
    np.testing.assert_array_equal(animate(3, 1.5).depth, animate(3, 1.5).depth)
    joints = np.stack([posed_body(animated_scene(3, k / 30))[0] for k in range(120)])
    step = np.linalg.norm(np.diff(joints, axis=0), axis=2)
    assert step.max() < 0.1, "a joint jumps more than 10 cm between 30 fps frames"
    assert np.linalg.norm(joints - joints[0], axis=2).max() > 0.2, "nothing moves in 4 s"
    with pytest.raises(ValueError):
        animate(3, -1.0)


# --- Kinect noise --------------------------------------------------------------------------------


def wall(z: float, size: int = 200) -> np.ndarray:
    return np.full((size, size), z)


@pytest.mark.parametrize("z", [0.8, 1.5, 2.5, 3.5, 4.2])
def test_axial_noise_std_follows_the_model(z: float) -> None:
    model = KinectNoise(dropout=0.0, edge_dropout=0.0)
    reading = kinect_noise(wall(z), np.random.default_rng(1), model).astype(float) / 1000
    assert (reading > 0).all()
    assert reading.std() == pytest.approx(float(axial_sigma(z)), rel=0.3)
    assert abs(reading.mean() - z) < 0.2 * axial_sigma(z)


def test_quantisation_steps_grow_with_depth() -> None:
    model = KinectNoise(dropout=0.0, edge_dropout=0.0)
    steps = []
    for z in (1.0, 2.0, 3.0, 4.0):
        levels = np.unique(kinect_noise(wall(z), np.random.default_rng(2), model)).astype(float) / 1000
        gap = float(np.median(np.diff(levels)))
        assert gap == pytest.approx(float(quantisation_step(z)), rel=0.15)
        steps.append(gap)
    assert np.all(np.diff(steps) > 0)


def test_shadow_band_lies_left_of_a_near_edge_with_the_expected_width() -> None:
    depth = wall(3.0)
    depth[:, 80:120] = 2.0
    reading = kinect_noise(depth, np.random.default_rng(3), QUIET)
    width = CAMERA.fx * 0.075 * (1 / 2.0 - 1 / 3.0)  # 7.25 px
    holes = np.nonzero(reading[100] == 0)[0]
    assert holes.min() == pytest.approx(80 - width, abs=1) and holes.max() == 79
    assert (reading[:, 120:] > 0).all(), "no shadow on the right of the edge"
    np.testing.assert_array_equal(reading == 0, shadow_mask(depth))


def test_rendered_shadows_sit_left_of_nearer_surfaces() -> None:
    scene = studio_scene(6, neutral_pose(arm_elevation=0.4))
    frame = render_scene(scene, np.random.default_rng(0), QUIET)
    clean = frame.clean_depth.astype(float)
    rows, cols = np.nonzero((frame.depth == 0) & (clean > 0) & (clean <= 4500))
    assert len(rows) > 100
    for v, u in zip(rows, cols, strict=True):
        assert (clean[v, u + 1 : u + 30] < clean[v, u] - 50).any()


def test_out_of_range_readings_are_zero() -> None:
    depth = np.array([[0.0, 0.3, 0.45, 0.7, 2.0, 4.2, 4.7, 6.0]] * 50)
    reading = kinect_noise(depth, np.random.default_rng(4), KinectNoise(dropout=0.0, edge_dropout=0.0))
    assert (reading[:, [0, 1, 2, 6, 7]] == 0).all()
    assert (reading[:, [3, 4, 5]] > 0).mean() > 0.97
    assert reading.dtype == np.uint16


def test_dropouts_happen_at_the_stated_rate() -> None:
    model = KinectNoise(dropout=0.01, edge_dropout=0.0)
    reading = kinect_noise(wall(2.0, 300), np.random.default_rng(5), model)
    assert (reading == 0).mean() == pytest.approx(0.01, rel=0.2)


def test_noise_model_numbers_are_the_published_ones() -> None:
    """Nguyen et al. 2012 axial sigma and the Kinect v1 1/8-pixel disparity step (f 580, b 7.5 cm)."""
    assert axial_sigma(1.0) == pytest.approx(0.001884)
    assert axial_sigma(4.0) == pytest.approx(0.025824)
    assert quantisation_step(1.0) == pytest.approx(1 / (8 * 580 * 0.075))
    assert quantisation_step(4.0) == pytest.approx(16 * quantisation_step(1.0))
