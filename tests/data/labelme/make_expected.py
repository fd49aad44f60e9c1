"""Write the expected masks of ``example.json`` with labelme's own code (run by hand, dev only).

``pip install --no-deps labelme`` then ``python tests/data/labelme/make_expected.py``. Writes
``expected_shapes.npy`` (one mask per shape, labelme's ``shape_to_mask``) and
``expected_voc.png`` (the class values ``labelme2voc`` writes: ``shapes_to_label`` with the ids of
``labels.txt``, ``__ignore__`` as 255).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from labelme_reference import labelme_shape_module  # noqa: E402


def main() -> None:
    shape_module = labelme_shape_module()
    if shape_module is None:
        raise SystemExit("labelme is not installed (pip install --no-deps labelme)")
    document = json.loads((HERE / "example.json").read_text())
    size = (document["imageHeight"], document["imageWidth"])
    masks = [shape_module.shape_to_mask(size, s["points"], s["shape_type"]) for s in document["shapes"]]
    np.save(HERE / "expected_shapes.npy", np.stack(masks))
    names = (HERE / "labels.txt").read_text().split()
    ids = {name: i - 1 for i, name in enumerate(names)}  # labelme2voc: __ignore__ -1, _background_ 0
    cls, _ = shape_module.shapes_to_label(size, document["shapes"], ids)
    cv2.imwrite(str(HERE / "expected_voc.png"), np.where(cls == -1, 255, cls).astype(np.uint8))


if __name__ == "__main__":
    main()
