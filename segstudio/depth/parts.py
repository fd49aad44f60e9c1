"""The 31 body parts of Shotton et al. (CVPR 2011), their palette and their left/right mirror.

Part ids are 0..30 in the paper's order. A part map is uint8; pixels that are not the body
(room, no reading, invalid depth) hold ``BACKGROUND`` = 255, which is deliberately *not* a
class of ``PARTS_PALETTE``: it maps to ``core.labels.VOID`` through ``to_category_map``.

"Left" and "right" are the subject's own: a subject facing the camera shows its left parts on
the image's right. ``LEFT_RIGHT_SWAP`` maps each part to its mirror image, so a horizontally
flipped depth image stays correctly labelled after ``swap_left_right`` (augmentation).
"""

from __future__ import annotations

from enum import IntEnum

import cv2
import numpy as np

from segstudio.core.labels import CATEGORY_DTYPE, VOID
from segstudio.core.palette import ClassDef, Palette


class Part(IntEnum):
    """Body part ids; L/R = the subject's left/right, U/W = upper/lower."""

    LU_HEAD = 0
    RU_HEAD = 1
    LW_HEAD = 2
    RW_HEAD = 3
    NECK = 4
    L_SHOULDER = 5
    R_SHOULDER = 6
    LU_ARM = 7
    RU_ARM = 8
    LW_ARM = 9
    RW_ARM = 10
    L_ELBOW = 11
    R_ELBOW = 12
    L_WRIST = 13
    R_WRIST = 14
    L_HAND = 15
    R_HAND = 16
    LU_TORSO = 17
    RU_TORSO = 18
    LW_TORSO = 19
    RW_TORSO = 20
    LU_LEG = 21
    RU_LEG = 22
    LW_LEG = 23
    RW_LEG = 24
    L_KNEE = 25
    R_KNEE = 26
    L_ANKLE = 27
    R_ANKLE = 28
    L_FOOT = 29
    R_FOOT = 30


N_PARTS: int = len(Part)
"""31: 4 head + neck + 2 shoulders + 4 arm + 2 elbows + 2 wrists + 2 hands + 4 torso + 4 leg
+ 2 knees + 2 ankles + 2 feet."""

BACKGROUND: int = 255
"""Part-map value of every pixel that is not the body (room, no reading, invalid depth)."""

PART_NAMES: tuple[str, ...] = tuple(p.name for p in Part)
"""Names as in the paper's figure, e.g. ``LU_HEAD`` = left upper head, ``RW_ARM`` = right forearm."""

# Picked greedily for the largest minimum CIELAB distance (>= 44 in OpenCV's 8-bit Lab), avoiding
# near-black and near-white so parts stay visible on a dark background and on white paper.
_COLORS: tuple[tuple[int, int, int], ...] = (
    (187, 17, 255), (255, 51, 0), (17, 170, 0), (0, 136, 187), (238, 238, 0), (136, 0, 85),
    (0, 85, 17), (255, 153, 255), (0, 255, 170), (204, 170, 119), (0, 34, 187), (255, 0, 136),
    (136, 68, 0), (0, 221, 255), (0, 68, 102), (51, 255, 0), (34, 102, 238), (0, 170, 136),
    (170, 102, 119), (255, 170, 0), (136, 136, 17), (255, 119, 119), (221, 238, 153), (204, 0, 51),
    (170, 51, 170), (136, 170, 255), (170, 187, 34), (255, 68, 238), (17, 119, 102), (255, 187, 204),
    (34, 0, 255),
)  # fmt: skip

PARTS_PALETTE: Palette = Palette(
    "body-parts",
    [
        ClassDef(
            p.value, p.name, _COLORS[p.value], isthing=False, supercategory=p.name.split("_")[-1].lower()
        )
        for p in Part
    ],
)
"""The 31 parts as stuff classes (a body part is a region of one person, not a countable thing)."""


def _mirror_name(name: str) -> str:
    """``LU_ARM`` -> ``RU_ARM``, ``R_KNEE`` -> ``L_KNEE``; unsided parts (``NECK``) are their own."""
    if "_" not in name:
        return name
    return {"L": "R", "R": "L"}[name[0]] + name[1:]


LEFT_RIGHT_SWAP: np.ndarray = np.array([Part[_mirror_name(p.name)] for p in Part], np.uint8)
"""``LEFT_RIGHT_SWAP[part]`` is the mirror part (``NECK`` maps to itself); an involution."""
LEFT_RIGHT_SWAP.flags.writeable = False

_SWAP_LUT = np.arange(256, dtype=np.uint8)
_SWAP_LUT[:N_PARTS] = LEFT_RIGHT_SWAP
_SWAP_LUT.flags.writeable = False


def swap_left_right(parts: np.ndarray) -> np.ndarray:
    """A part map with every left part replaced by its right twin and vice versa; background kept.
    Maps by OpenCV's table lookup (~10x numpy's gather on a frame: training mirrors every frame)."""
    parts = np.asarray(parts, np.uint8)
    if parts.ndim == 2 and parts.size:
        return cv2.LUT(np.ascontiguousarray(parts), _SWAP_LUT)
    return _SWAP_LUT[parts]


def to_category_map(parts: np.ndarray) -> np.ndarray:
    """A uint16 category map for ``core.labels``: part ids kept, ``BACKGROUND`` becomes ``VOID``."""
    parts = np.asarray(parts)
    known = (parts < N_PARTS) | (parts == BACKGROUND)
    if not known.all():
        raise ValueError(f"part map holds values outside 0..{N_PARTS - 1} and {BACKGROUND}")
    category = parts.astype(CATEGORY_DTYPE)
    category[parts == BACKGROUND] = VOID
    return category
