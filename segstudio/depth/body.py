"""A procedural articulated body in a procedural room, rendered as Kinect-style depth + body parts.

Everything follows from a seed with no external assets, so the forest's training data is
reproducible and free to redistribute. The body is a 20-joint skeleton (forward kinematics
with joint limits) dressed in capsules (limbs, neck, clavicles, hands, feet) and ellipsoids
(head, chest, abdomen); each primitive labels its surface with the 31 parts of ``parts.py``.

Conventions. Body-local coordinates are (l, u, f) = the subject's left, up and forward. The
world has X to the camera's right, Y up (floor at Y = 0) and Z away from the camera; a subject
with yaw 0 faces the camera, so its **left parts appear on the image's right**. Joint positions
are returned in camera coordinates (metres; x right, y down, z forward along the optical axis,
so a pixel (u, v) with depth z back-projects to ((u - cx) z / fx, (v - cy) z / fy, z)).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segstudio.depth.noise import DEFAULT_NOISE, KinectNoise, kinect_noise, shadow_reach
from segstudio.depth.parts import BACKGROUND, LEFT_RIGHT_SWAP, Part, swap_left_right
from segstudio.depth.render import (
    Camera,
    Capsule,
    Ellipsoid,
    PartRule,
    Primitive,
    Room,
    Window,
    camera_extrinsics,
    pixel_boxes_union,
    random_room,
    raycast,
)

L_AXIS, U_AXIS, F_AXIS = np.eye(3)
_AXES = {"L": L_AXIS, "U": U_AXIS, "F": F_AXIS}

# name, parent, rest offset from the parent (l, u, f) for a 1.75 m adult (right side: l mirrored),
# rotation slots as (axis, sign) applied as R = R(slot0) @ R(slot1) @ R(slot2), limits per slot.
# Shoulders use (plane of elevation, elevation, axial twist) as recommended by the ISB; a negative
# elevation swings the arm the other way in its plane (backwards in the forward plane: walking).
_SKELETON: tuple[tuple[str, str, tuple[float, float, float], tuple, tuple], ...] = (
    ("pelvis", "", (0.0, 0.0, 0.0), (), ()),
    ("spine", "pelvis", (0.0, 0.20, 0.0),
     (("L", 1), ("F", 1), ("U", 1)), ((-0.25, 0.9), (-0.35, 0.35), (-0.7, 0.7))),  # bend, lean, twist
    ("neck", "spine", (0.0, 0.27, 0.0),
     (("L", 1), ("F", 1), ("U", 1)), ((-0.5, 0.7), (-0.4, 0.4), (-1.1, 1.1))),  # nod, tilt, turn
    ("head", "neck", (0.0, 0.19, 0.01), (), ()),
    ("shoulder", "spine", (0.175, 0.245, 0.0),
     (("U", -1), ("F", 1), ("U", 1)), ((-1.2, 2.4), (-0.8, 3.0), (-1.2, 1.2))),  # plane, elevation, twist
    ("elbow", "shoulder", (0.0, -0.30, 0.0), (("L", -1),), ((0.0, 2.5),)),  # flexion
    ("wrist", "elbow", (0.0, -0.26, 0.0), (("L", -1), ("F", 1)), ((-0.9, 0.9), (-0.3, 0.4))),
    ("hand", "wrist", (0.0, -0.08, 0.0), (), ()),
    ("hip", "pelvis", (0.09, -0.05, 0.0),
     (("L", -1), ("F", 1), ("U", 1)), ((-0.4, 2.2), (-0.3, 0.8), (-0.5, 0.5))),  # flexion, abduction, twist
    ("knee", "hip", (0.0, -0.43, 0.0), (("L", 1),), ((0.0, 2.4),)),  # flexion
    ("ankle", "knee", (0.0, -0.43, 0.0), (("L", -1),), ((-0.7, 0.5),)),  # dorsiflexion
    ("foot", "ankle", (0.0, -0.045, 0.075), (), ()),
)  # fmt: skip
_CENTRAL = ("pelvis", "spine", "neck", "head")


def _expand() -> tuple[tuple[str, ...], tuple[int, ...], np.ndarray, list[list[tuple]], np.ndarray]:
    """Unfold the table into joints (centre, then l_/r_ pairs) with parents, offsets, axes, limits."""
    names, parents, offsets, axes, limits = [], [], [], [], []
    for name, parent, offset, slots, lims in _SKELETON:
        for side in ("",) if name in _CENTRAL else ("l_", "r_"):
            mirror = -1.0 if side == "r_" else 1.0
            names.append(side + name)
            parents.append(names.index(parent if parent in _CENTRAL else side + parent) if parent else -1)
            offsets.append((mirror * offset[0], offset[1], offset[2]))
            # Mirroring about the sagittal plane flips rotations about the U and F axes.
            axes.append([(_AXES[a], s * (mirror if a in "UF" else 1.0)) for a, s in slots])
            limits.append(list(lims) + [(0.0, 0.0)] * (3 - len(lims)))
    return tuple(names), tuple(parents), np.array(offsets), axes, np.array(limits)


JOINT_NAMES, JOINT_PARENTS, _REST_OFFSETS, _JOINT_AXES, JOINT_LIMITS = _expand()
"""20 joints: pelvis, spine, neck, head, then l_/r_ shoulder, elbow, wrist, hand, hip, knee, ankle, foot."""
N_JOINTS = len(JOINT_NAMES)
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
JOINT_LEFT_RIGHT_SWAP = np.array(
    [_J[{"l": "r_", "r": "l_"}[n[0]] + n[2:]] if n[1] == "_" else _J[n] for n in JOINT_NAMES]
)
"""Mirror joint of each joint (``l_knee`` <-> ``r_knee``), for flipped frames."""
JOINT_LEFT_RIGHT_SWAP.flags.writeable = False
JOINT_LIMITS.flags.writeable = False
"""(N_JOINTS, 3, 2) radians: (low, high) per rotation slot of ``_SKELETON``; unused slots are (0, 0)."""


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation matrix about a unit ``axis``."""
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


@dataclass(frozen=True, eq=False)
class BodyShape:
    """One person: bone offsets (metres) and the sizes of the surface primitives."""

    height: float
    offsets: np.ndarray
    radius: dict[str, float]
    semi_axes: dict[str, np.ndarray]


def random_shape(rng: np.random.Generator) -> BodyShape:
    """Nominal height 1.4-2.0 m (the jitter moves the real one by a few %); bone lengths jittered
    ~4 % per segment, symmetrically; girth 0.8-1.3 (thin to heavy) with a belly of its own."""
    height = rng.uniform(1.4, 2.0)
    scale = height / 1.75
    girth = rng.uniform(0.8, 1.3)

    def jitter(spread: float = 0.04) -> float:
        return float(np.clip(1.0 + rng.normal(0.0, spread), 1.0 - 2.5 * spread, 1.0 + 2.5 * spread))

    offsets = _REST_OFFSETS * scale
    for bone in ("spine", "neck", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        f = jitter()
        for i in [_J[bone]] if bone in _CENTRAL else [_J["l_" + bone], _J["r_" + bone]]:
            offsets[i] *= f
    for side in ("l_", "r_"):  # broader shoulders come with a broader chest
        offsets[_J[side + "shoulder"], 0] *= 0.85 + 0.15 * girth
    arms, legs, trunk = girth * jitter(0.06), girth * jitter(0.06), girth * jitter(0.06)
    radius = {
        "neck": 0.055 * trunk, "clavicle": 0.05 * trunk, "upper_arm": 0.047 * arms, "forearm": 0.038 * arms,
        "hand": 0.032 * jitter(), "thigh": 0.075 * legs, "shin": 0.052 * legs, "foot": 0.035 * jitter(),
    }  # fmt: skip
    radius = {k: v * scale for k, v in radius.items()}
    belly = rng.uniform(0.9, 1.3)
    semi_axes = {
        "head": np.array([0.078, 0.11, 0.095]) * jitter(0.05),
        "chest": np.array([0.16 * trunk, 0.17, 0.105 * trunk]),
        "abdomen": np.array([0.155 * trunk, 0.17, 0.105 * trunk * belly]),
    }
    semi_axes = {k: v * scale for k, v in semi_axes.items()}
    return BodyShape(height, offsets, radius, semi_axes)


@dataclass(frozen=True, eq=False)
class Pose:
    """Joint parameters (``N_JOINTS`` x 3, meaning and limits per ``JOINT_LIMITS``) and the yaw
    about the vertical axis (0 = facing the camera, positive turns the subject to its left)."""

    angles: np.ndarray
    yaw: float = 0.0

    def clipped(self) -> Pose:
        """The same pose with every joint parameter inside its limit."""
        return Pose(np.clip(self.angles, JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]), self.yaw)


def forward_kinematics(
    shape: BodyShape, pose: Pose, root: np.ndarray, root_rotation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions (N, 3) and frames (N, 3, 3; columns = l, u, f axes) in the root's space."""
    positions = np.zeros((N_JOINTS, 3))
    frames = np.zeros((N_JOINTS, 3, 3))
    for i in range(N_JOINTS):
        local = np.eye(3)
        for (axis, sign), angle in zip(_JOINT_AXES[i], pose.angles[i], strict=False):
            local = local @ rotation(axis, sign * angle)
        p = JOINT_PARENTS[i]
        if p < 0:
            positions[i], frames[i] = root, root_rotation @ local
        else:
            positions[i] = positions[p] + frames[p] @ shape.offsets[i]
            frames[i] = frames[p] @ local
    return positions, frames


def _part(side: str, part: Part) -> int:
    """The left-side ``part`` for side ``l_``, its mirror for ``r_``."""
    return int(part) if side == "l_" else int(LEFT_RIGHT_SWAP[part])


_O = (0.0, 0.0, 0.0)
# Capsules of the left side (the right mirrors them): start and end as (joint, offset in the joint's
# frame at 1.75 m), radius key, part, and joint bands (joint, half width along the bone, part).
_LIMBS = (
    (("spine", (0.03, 0.235, 0.0)), ("shoulder", _O), "clavicle", Part.LU_TORSO,
     (("shoulder", 0.075, Part.L_SHOULDER),)),
    (("shoulder", _O), ("elbow", _O), "upper_arm", Part.LU_ARM,
     (("shoulder", 0.075, Part.L_SHOULDER), ("elbow", 0.045, Part.L_ELBOW))),
    (("elbow", _O), ("wrist", _O), "forearm", Part.LW_ARM,
     (("elbow", 0.045, Part.L_ELBOW), ("wrist", 0.025, Part.L_WRIST))),
    (("wrist", (0.0, -0.025, 0.0)), ("wrist", (0.0, -0.15, 0.0)), "hand", Part.L_HAND,
     (("wrist", 0.025, Part.L_WRIST),)),
    (("hip", _O), ("knee", _O), "thigh", Part.LU_LEG, (("knee", 0.04, Part.L_KNEE),)),
    (("knee", _O), ("ankle", _O), "shin", Part.LW_LEG,
     (("knee", 0.055, Part.L_KNEE), ("ankle", 0.04, Part.L_ANKLE))),
    (("ankle", (0.0, -0.03, -0.035)), ("ankle", (0.0, -0.04, 0.15)), "foot", Part.L_FOOT,
     (("ankle", 0.03, Part.L_ANKLE),)),
)  # fmt: skip


def body_primitives(shape: BodyShape, pos: np.ndarray, frames: np.ndarray) -> list[Primitive]:
    """The labelled surface of a posed body, in whatever space ``pos``/``frames`` are given."""
    scale = shape.height / 1.75

    def at(joint: str, offset: tuple[float, float, float]) -> np.ndarray:
        return pos[_J[joint]] + frames[_J[joint]] @ (np.array(offset) * scale)

    def axis(joint: str, k: int) -> np.ndarray:
        return frames[_J[joint]][:, k]

    head, chest, abdomen = pos[_J["head"]], at("spine", (0, 0.13, 0)), at("pelvis", (0, 0.05, 0))
    shoulder_radius = 1.8 * shape.radius["clavicle"]
    shoulders = tuple(
        (pos[_J[s + "shoulder"]], shoulder_radius, _part(s, Part.L_SHOULDER)) for s in ("l_", "r_")
    )
    head_parts = (Part.RW_HEAD, Part.LW_HEAD, Part.RU_HEAD, Part.LU_HEAD)
    chest_parts, abdomen_parts = (Part.RU_TORSO, Part.LU_TORSO) * 2, (Part.RW_TORSO, Part.LW_TORSO) * 2
    prims: list[Primitive] = [
        Ellipsoid(head, frames[_J["neck"]], shape.semi_axes["head"],
                  rule=PartRule(head_parts, head, axis("neck", 0), axis("neck", 1))),
        Capsule(at("neck", (0, -0.03, 0)), at("head", (0, -0.06, -0.01)), shape.radius["neck"],
                rule=PartRule.single(Part.NECK)),
        Ellipsoid(chest, frames[_J["spine"]], shape.semi_axes["chest"],
                  rule=PartRule(chest_parts, chest, axis("spine", 0), regions=shoulders)),
        Ellipsoid(abdomen, frames[_J["pelvis"]], shape.semi_axes["abdomen"],
                  rule=PartRule(abdomen_parts, abdomen, axis("pelvis", 0))),
    ]  # fmt: skip
    for side, mirror in (("l_", 1.0), ("r_", -1.0)):

        def end(
            joint: str, offset: tuple[float, float, float], side: str = side, m: float = mirror
        ) -> np.ndarray:
            return at(joint if joint in _CENTRAL else side + joint, (m * offset[0], offset[1], offset[2]))

        for start, stop, key, part, bands in _LIMBS:
            radius = shape.radius[key]
            regions = tuple(
                (pos[_J[side + joint]], float(np.hypot(radius, half * scale)), _part(side, band_part))
                for joint, half, band_part in bands
            )
            prims.append(
                Capsule(end(*start), end(*stop), radius, rule=PartRule.single(_part(side, part), regions))
            )
    return prims


# --- poses -----------------------------------------------------------------------------------


def neutral_pose(yaw: float = 0.0, arm_elevation: float = 0.3) -> Pose:
    """Standing, arms slightly away from the body: every part visible when facing the camera."""
    angles = np.zeros((N_JOINTS, 3))
    angles[[_J["l_shoulder"], _J["r_shoulder"]], 1] = arm_elevation
    return Pose(angles, yaw)


def _set(angles: np.ndarray, joint: str, *values: float) -> None:
    angles[_J[joint], : len(values)] = values


def _arm(rng: np.random.Generator, angles: np.ndarray, side: str, family: str) -> None:
    """One arm: (plane of elevation, elevation, elbow flexion) ranges per family."""
    plane, elevation, elbow = {
        "down": ((-0.6, 1.2), (0.05, 0.5), (0.0, 1.0)),
        "raised": ((-0.3, 1.8), (1.3, 2.9), (0.0, 1.2)),
        "reach": ((1.2, 1.9), (1.1, 1.9), (0.0, 0.5)),  # towards the camera when facing it
        "across": ((1.9, 2.4), (0.9, 1.6), (0.2, 1.6)),  # in front of the torso: self-occlusion
        "bent": ((0.0, 1.5), (0.3, 1.0), (1.5, 2.5)),
        "random": ((-1.2, 2.4), (0.0, 3.0), (0.0, 2.5)),
    }[family]
    _set(angles, side + "shoulder", rng.uniform(*plane), rng.uniform(*elevation), rng.uniform(-0.8, 0.8))
    _set(angles, side + "elbow", rng.uniform(*elbow))
    _set(angles, side + "wrist", rng.uniform(-0.5, 0.5), rng.uniform(-0.2, 0.3))


def _walk(angles: np.ndarray, phase: float, stride: float, swing: float) -> None:
    """A gait pose at ``phase`` (radians): legs in antiphase, arms swinging against the legs in a
    near-forward plane (a signed elevation keeps the swing smooth through the vertical)."""
    for side, sign in (("l_", 1.0), ("r_", -1.0)):
        s = np.sin(phase) * sign
        _set(angles, side + "hip", stride * s, 0.05)
        _set(angles, side + "knee", 0.1 + 0.5 * stride * (1.0 + np.sin(phase * sign + 1.2 * sign)))
        _set(angles, side + "ankle", 0.3 * stride * s)
        _set(angles, side + "shoulder", 1.4, -swing * s)
        _set(angles, side + "elbow", 0.3 + 0.3 * swing * (1.0 + s))


def _legs(rng: np.random.Generator, angles: np.ndarray, family: str) -> None:
    if family == "stand":
        for side in ("l_", "r_"):
            _set(angles, side + "hip", rng.uniform(-0.1, 0.2), rng.uniform(0.0, 0.25), rng.uniform(-0.3, 0.3))
            _set(angles, side + "knee", rng.uniform(0.0, 0.2))
    elif family == "walk":
        _walk(angles, rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.5), rng.uniform(0.2, 0.6))
    elif family == "crouch":  # bent knees, lowered pelvis (the feet stay on the floor), leaning in
        depth = rng.uniform(0.5, 1.9)
        for side in ("l_", "r_"):
            _set(angles, side + "hip", depth + rng.normal(0, 0.1), rng.uniform(0.0, 0.4))
            _set(angles, side + "knee", 1.6 * depth + 0.1 + rng.normal(0, 0.1))
            _set(angles, side + "ankle", 0.3 * depth)
        angles[_J["spine"], 0] += rng.uniform(0.1, 0.5)
    elif family == "kick":
        side, other = ("l_", "r_") if rng.random() < 0.5 else ("r_", "l_")
        _set(angles, side + "hip", rng.uniform(0.5, 1.6), rng.uniform(0.0, 0.5))
        _set(angles, side + "knee", rng.uniform(0.0, 1.8))
        _set(angles, other + "knee", rng.uniform(0.0, 0.3))
    else:  # wide stance
        for side in ("l_", "r_"):
            _set(angles, side + "hip", rng.uniform(-0.1, 0.4), rng.uniform(0.2, 0.6))
            _set(angles, side + "knee", rng.uniform(0.0, 0.5))


_ARM_FAMILIES = ("down", "raised", "reach", "across", "bent", "random")
_ARM_WEIGHTS = (0.3, 0.2, 0.15, 0.15, 0.1, 0.1)
_LEG_FAMILIES = ("stand", "walk", "crouch", "kick", "wide")
_LEG_WEIGHTS = (0.35, 0.25, 0.2, 0.1, 0.1)


def random_pose(rng: np.random.Generator) -> Pose:
    """A pose within the joint limits: arm families (down, raised, reaching, across the torso,
    bent), leg families (standing, walking, crouching, kicking, wide), torso and head turns, and a
    yaw mostly within +-90 degrees of facing the camera (a quarter of poses turn up to +-135)."""
    angles = np.zeros((N_JOINTS, 3))
    _set(angles, "spine", rng.uniform(-0.1, 0.4), rng.uniform(-0.25, 0.25), rng.uniform(-0.5, 0.5))
    _set(angles, "neck", rng.uniform(-0.3, 0.5), rng.uniform(-0.25, 0.25), rng.uniform(-0.9, 0.9))
    legs = rng.choice(_LEG_FAMILIES, p=_LEG_WEIGHTS)
    _legs(rng, angles, legs)
    symmetric = rng.random() < 0.3
    families = rng.choice(_ARM_FAMILIES, size=2, p=_ARM_WEIGHTS)
    if legs != "walk" or rng.random() < 0.5:  # walkers mostly keep their arm swing
        for side, family in zip(("l_", "r_"), families, strict=True):
            _arm(rng, angles, side, families[0] if symmetric else family)
    yaw = rng.uniform(-np.pi / 2, np.pi / 2) if rng.random() < 0.75 else rng.uniform(-0.75, 0.75) * np.pi
    return Pose(angles, float(yaw)).clipped()


# --- scenes and frames -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything a frame shows: who, how posed, where (world X, Z of the pelvis), the camera's
    height / downward pitch / roll, and the room."""

    shape: BodyShape
    pose: Pose
    position: tuple[float, float]
    camera_height: float
    pitch: float
    roll: float
    room: Room
    camera: Camera = field(default_factory=Camera)


def random_scene(rng: np.random.Generator, pose: Pose | None = None) -> Scene:
    """A random person 2-4 m in front of a camera 1-1.5 m high looking roughly horizontally (aimed
    at mid-body, plus a random tilt of 3 degrees std), in a random room; ``pose`` None draws one."""
    shape = random_shape(rng)
    pose = random_pose(rng) if pose is None else pose
    distance = rng.uniform(2.0, 4.0)
    x = rng.uniform(-0.25, 0.25) * distance
    camera_height = rng.uniform(1.0, 1.5)
    pitch = np.arctan2(camera_height - rng.uniform(0.4, 0.6) * shape.height, distance) + rng.normal(0, 0.05)
    room = random_room(rng, x, distance, reach=1.05 * shape.height / 1.75)
    return Scene(shape, pose, (float(x), float(distance)), float(camera_height), float(pitch),
                 float(rng.normal(0, 0.02)), room)  # fmt: skip


_BODY_FROM_WORLD = np.diag([1.0, 1.0, -1.0])
"""(l, u, f) -> world (X, Y, Z) for a subject facing the camera: its left is the camera's right."""


def posed_body(scene: Scene) -> tuple[np.ndarray, np.ndarray, list[Primitive]]:
    """Joints (camera space), joint frames and labelled surface, with the lowest point on the floor."""
    turn = rotation(U_AXIS, scene.pose.yaw)
    pos, frames = forward_kinematics(scene.shape, scene.pose, np.zeros(3), turn)
    lowest = min(prim.bounds()[0][1] for prim in body_primitives(scene.shape, pos, frames))
    rot, centre = camera_extrinsics(scene.camera_height, scene.pitch, scene.roll)
    root_world = np.array([scene.position[0], -lowest, scene.position[1]])
    pos, frames = forward_kinematics(
        scene.shape, scene.pose, rot @ (root_world - centre), rot @ _BODY_FROM_WORLD @ turn
    )
    return pos, frames, body_primitives(scene.shape, pos, frames)


@dataclass(frozen=True, eq=False)
class Frame:
    """One synthetic Kinect frame.

    ``depth``: uint16 mm, 0 = no reading. ``parts``: uint8 part ids, ``BACKGROUND`` on the room
    and wherever ``depth`` is 0. ``joints_world``: (20, 3) joint positions in camera coordinates
    (metres), in ``JOINT_NAMES`` order. ``joints_image``: their (u, v) pixel projections.
    ``clean_depth``: the noiseless render (uint16 mm, 0 = no surface).
    """

    depth: np.ndarray
    parts: np.ndarray
    joints_world: np.ndarray
    joints_image: np.ndarray
    clean_depth: np.ndarray
    camera: Camera = field(default_factory=Camera)
    window: Window | None = None
    """Where the frame was rendered (``window_frame``): zero depth and background outside; None:
    the whole frame."""


def render_scene(
    scene: Scene, rng: np.random.Generator | None = None, noise: KinectNoise = DEFAULT_NOISE
) -> Frame:
    """Ray cast the scene; with an ``rng`` the depth is corrupted by ``noise``, without it is clean
    (``depth`` = ``clean_depth``, no range limit: body pixels beyond 4.5 m keep their part)."""
    joints, _, body = posed_body(scene)
    rot, centre = camera_extrinsics(scene.camera_height, scene.pitch, scene.roll)
    render = raycast(scene.camera, scene.room.primitives(rot, centre) + body)
    clean = np.clip(np.round(render.depth * 1000.0), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    depth = clean if rng is None else kinect_noise(render.depth, rng, noise)
    parts = np.where(depth > 0, render.parts, BACKGROUND).astype(np.uint8)
    return Frame(depth, parts, joints, scene.camera.project(joints), clean, scene.camera)


def render_frame(seed: int, noise: KinectNoise | None = DEFAULT_NOISE) -> Frame:
    """The frame of ``seed``: a random scene and its noise both drawn from it, so it is reproducible."""
    rng = np.random.default_rng(seed)
    scene = random_scene(rng)
    return render_scene(scene, None) if noise is None else render_scene(scene, rng, noise)


NEAR_FRACTION = 0.9
"""A body pixel's noisy reading lies above this fraction of the body's nearest clean depth (the
axial noise at 2-4 m is 6-26 mm, a 10 % margin is 15+ standard deviations)."""


def window_frame(seed: int, reach: float, noise: KinectNoise = DEFAULT_NOISE) -> Frame:
    """``render_frame(seed)`` as the trainer reads it, rendered only where it reads: the body's
    pixel box grown by the farthest probe an offset of ``reach`` pixel-metres makes from a body
    pixel (``reach / z`` pixels at depth z); zero depth and background outside (``Frame.window``).

    The same distribution as ``render_frame``'s frames in that window: the scene is the seed's, the
    window's pixels are cast with their own rays (the same clean depth and parts), and the noise of
    a pixel depends on its own draws, its 4-neighbours' clean depth and the clean depth of the
    ``shadow_reach`` columns to its right, so the cast covers those too; only the draws differ
    (drawn for the cast's pixels, not the frame's, from the same ``rng`` after the scene). About
    40 % of the frame's pixels on average: ~1.4x cheaper (resources/models/README.md)."""
    rng = np.random.default_rng(seed)
    scene = random_scene(rng)
    joints, _, body = posed_body(scene)
    camera = scene.camera
    seen = pixel_boxes_union(camera, body)
    if seen is None:  # no body in view: nothing to sample
        return render_scene(scene, rng, noise)
    nearest = min(float(prim.bounds()[0][2]) for prim in body)
    margin = int(np.ceil(reach / max(NEAR_FRACTION * nearest, noise.min_depth))) + 2
    top, bottom = max(0, seen[0] - margin), min(camera.height, seen[1] + margin)
    left, right = max(0, seen[2] - margin), min(camera.width, seen[3] + margin)
    cast = (
        max(0, top - 1),
        min(camera.height, bottom + 1),
        max(0, left - 1),
        min(camera.width, right + shadow_reach(noise)),
    )
    rot, centre = camera_extrinsics(scene.camera_height, scene.pitch, scene.roll)
    render = raycast(camera, scene.room.primitives(rot, centre) + body, cast)
    reading = kinect_noise(render.depth, rng, noise, first_column=cast[2])
    inner = np.s_[top - cast[0] : bottom - cast[0], left - cast[2] : right - cast[2]]
    shape = (camera.height, camera.width)
    depth, parts, clean = (
        np.zeros(shape, np.uint16),
        np.full(shape, BACKGROUND, np.uint8),
        np.zeros(shape, np.uint16),
    )
    depth[top:bottom, left:right] = reading[inner]
    parts[top:bottom, left:right] = np.where(reading[inner] > 0, render.parts[inner], BACKGROUND)
    clean[top:bottom, left:right] = np.clip(
        np.round(render.depth[inner] * 1000.0), 0, np.iinfo(np.uint16).max
    )
    return Frame(depth, parts, joints, camera.project(joints), clean, camera, (top, bottom, left, right))


def animated_pose(seed: int, t: float) -> Pose:
    """A pose varying smoothly with ``t`` seconds: a gait that fades in and out, slow crouches,
    arm gestures blended over the gait's arm swing, torso and head turns and a turning body; each a
    sinusoid of period 5-14 s with a phase drawn from ``seed``."""
    rng = np.random.default_rng([seed, 1])
    phase = rng.uniform(0, 2 * np.pi, 14)
    periods = rng.uniform(5.0, 14.0, 14)

    def wave(k: int) -> float:  # smooth, in [0, 1]
        return 0.5 + 0.5 * np.sin(2 * np.pi * t / periods[k] + phase[k])

    angles = np.zeros((N_JOINTS, 3))
    walk = wave(0) ** 2
    _walk(angles, 2 * np.pi * t / rng.uniform(0.9, 1.3), 0.45 * walk, 0.5 * walk)
    crouch = 1.6 * wave(1) ** 4
    for side in ("l_", "r_"):
        angles[_J[side + "hip"], 0] += crouch
        angles[_J[side + "knee"], 0] += 1.6 * crouch
        angles[_J[side + "ankle"], 0] += 0.3 * crouch
    for k, side in ((2, "l_"), (6, "r_")):
        gesture = wave(k) ** 2
        arm = (_J[side + "shoulder"], 0), (_J[side + "shoulder"], 1), (_J[side + "elbow"], 0)
        target = 2.4 * wave(k + 1) - 0.6, 2.6 * wave(k + 2) ** 1.5, 2.2 * wave(k + 3)
        for index, value in zip(arm, target, strict=True):
            angles[index] += gesture * (value - angles[index])
    _set(angles, "spine", 0.3 * crouch + 0.2 * wave(10), 0.0, 0.8 * wave(11) - 0.4)
    _set(angles, "neck", 0.0, 0.0, 1.2 * wave(12) - 0.6)
    return Pose(angles, 1.6 * wave(13) - 0.8).clipped()


def animated_scene(seed: int, t: float) -> Scene:
    """The scene ``t`` seconds into the clip of ``seed``: same person, room and camera throughout."""
    scene = random_scene(np.random.default_rng([seed, 0]), pose=neutral_pose())
    return Scene(scene.shape, animated_pose(seed, t), scene.position, scene.camera_height, scene.pitch,
                 scene.roll, scene.room, scene.camera)  # fmt: skip


def animate(seed: int, t: float, noise: KinectNoise | None = DEFAULT_NOISE) -> Frame:
    """Frame ``t`` >= 0 seconds into the clip of ``seed`` (a 30 fps live source samples t = k / 30):
    smoothly moving (``animated_pose``), with fresh sensor noise per millisecond of ``t``."""
    if t < 0:
        raise ValueError(f"animation time must be >= 0 seconds, got {t}")
    scene = animated_scene(seed, t)
    if noise is None:
        return render_scene(scene, None)
    return render_scene(scene, np.random.default_rng([seed, 2, round(t * 1000)]), noise)


def mirror_frame(frame: Frame) -> Frame:
    """The frame flipped left/right: images mirrored, left and right parts and joints swapped.

    The principal point is the image centre, so this is exactly the render of the mirrored scene
    (except that noise shadows now fall on the right of edges; re-noise ``clean_depth`` if that
    matters).
    """
    joints = frame.joints_world[JOINT_LEFT_RIGHT_SWAP] * np.array([-1.0, 1.0, 1.0])
    uv = frame.joints_image[JOINT_LEFT_RIGHT_SWAP].copy()
    uv[:, 0] = frame.camera.width - 1 - uv[:, 0]
    window = frame.window
    if window is not None:
        window = (window[0], window[1], frame.camera.width - window[3], frame.camera.width - window[2])
    return Frame(
        np.ascontiguousarray(frame.depth[:, ::-1]),
        swap_left_right(frame.parts[:, ::-1]),
        joints,
        uv,
        np.ascontiguousarray(frame.clean_depth[:, ::-1]),
        frame.camera,
        window,
    )
