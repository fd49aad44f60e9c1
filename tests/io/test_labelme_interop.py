"""labelme files read the way labelme means them: pixel for pixel what its own code draws (issue 14).

``tests/data/labelme/example.json`` holds every shape type labelme writes, at fractional
coordinates; ``expected_*`` were written from it by labelme's own ``shape_to_mask`` and
``shapes_to_label`` (``make_expected.py``). Random shapes are compared with labelme live as well
(``make test`` installs labelme without its dependencies as the reference).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from labelme_reference import labelme_shape_module

from segstudio.core.labels import VOID
from segstudio.core.palette import ClassDef, Palette
from segstudio.io.datasets import fallback_color
from segstudio.io.labelme import read_labelme
from segstudio.io.labelme_shapes import shape_mask

DATA = Path(__file__).resolve().parents[1] / "data" / "labelme"


def _example() -> dict:
    return json.loads((DATA / "example.json").read_text())


def test_every_shape_type_matches_labelme_shape_to_mask() -> None:
    document = _example()
    size = (document["imageHeight"], document["imageWidth"])
    expected = np.load(DATA / "expected_shapes.npy")
    for n, shape in enumerate(document["shapes"]):
        mask = shape_mask(shape, size)
        assert np.array_equal(mask, expected[n]), f"shape #{n} ({shape['shape_type']} {shape['label']!r})"


def test_import_equals_labelme2voc_pixel_for_pixel() -> None:
    names = (DATA / "labels.txt").read_text().split()[1:]  # labelme2voc: __ignore__ -1, then 0, 1, ...
    palette = Palette("labels", [ClassDef(i, n, fallback_color(i), i > 0) for i, n in enumerate(names)])
    ((_, labels),) = read_labelme(DATA, palette).records
    voc = cv2.imread(str(DATA / "expected_voc.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(labels.category, np.where(voc == 255, VOID, voc.astype(np.uint16)))


def test_import_without_a_palette_puts_background_first() -> None:
    dataset = read_labelme(DATA)
    ((_, labels),) = dataset.records
    assert [c.name for c in dataset.palette] == ["_background_", "person", "bottle", "ball", "chair", "rope"]
    voc = cv2.imread(str(DATA / "expected_voc.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(labels.category == VOID, voc == 255)
    assert np.array_equal(labels.category == 0, voc == 0)


def test_random_shapes_match_installed_labelme() -> None:
    reference = labelme_shape_module()
    assert reference is not None, "labelme is the reference here: `make test` installs it (--no-deps)"
    rng = np.random.default_rng(14)
    size = (37, 53)
    kinds = {"polygon": 5, "rectangle": 2, "circle": 2, "line": 2, "linestrip": 4, "point": 1}
    for trial in range(300):
        kind = list(kinds)[trial % len(kinds)]
        points = (rng.uniform(-5, 58, (kinds[kind], 2)) * rng.choice([1, 2])).round(rng.integers(0, 3)) / 2
        shape = {"label": "x", "points": points.tolist(), "shape_type": kind}
        expected = reference.shape_to_mask(size, shape["points"], kind)
        assert np.array_equal(shape_mask(shape, size), expected), shape
