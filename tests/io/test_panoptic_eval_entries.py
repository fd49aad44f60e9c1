"""``io.panoptic_eval_entries``: its quick test never accepts what ``schemas.coco`` refuses, and
``eval panoptic`` of plain files does not import pydantic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from segstudio.io import panoptic_eval_entries as entries
from segstudio.io.schemas import coco

values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**25) | st.sampled_from([0, 1, 255, 256, 2**24, 2**24 - 1])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=6,
)  # fmt: skip
"""Any JSON-like value, weighted towards the edges of the models' ranges."""


def _object(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects near the models' ranges (the required fields there, some optional ones and an
    extra key), or with any value in any of the fields."""
    near = st.fixed_dictionaries(required, optional={**optional, "extra": values})
    wild = st.fixed_dictionaries({}, optional={k: v | values for k, v in {**required, **optional}.items()})
    return near | wild


flags = st.sampled_from([0, 1, True, False, 2, -1, 1.0])
segments = _object(
    {"id": st.integers(-1, 2**24 + 1), "category_id": st.integers(0, 200) | st.booleans()},
    {
        "iscrowd": flags,
        "area": st.integers(-5, 10**6) | st.floats(-1, 1e6) | st.just(float("nan")),
        "bbox": st.lists(st.integers(0, 640) | st.floats(allow_nan=True), max_size=4),
    },
)
annotations = _object(
    {
        "image_id": st.integers() | st.text(max_size=4) | st.booleans(),
        "file_name": st.text(max_size=4),
        "segments_info": st.lists(segments, max_size=3) | st.lists(segments | values, max_size=3),
    },
    {},
)
categories = _object(
    {"id": st.integers() | st.booleans()},
    {
        "name": st.text(max_size=3),
        "supercategory": st.none() | st.text(max_size=3),
        "isthing": flags,
        "color": st.lists(st.integers(-1, 256), min_size=2, max_size=4),
    },
)


def _model_accepts(model: Any, entry: Any) -> bool:
    try:
        model.model_validate(entry)
    except ValidationError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(annotations | values)
def test_an_annotation_it_accepts_the_model_accepts(entry: Any) -> None:
    if entries.annotation_fits(entry):
        assert _model_accepts(coco.PanopticAnnotation, entry)


@settings(max_examples=400, deadline=None)
@given(categories | values)
def test_a_category_it_accepts_the_model_accepts(entry: Any) -> None:
    if entries.category_fits(entry):
        assert _model_accepts(coco.Category, entry)


def test_it_accepts_plain_entries_and_refuses_through_the_model(coco_panoptic_sample: Path) -> None:
    assert entries.SEGMENT_ID_MAX == coco.SEGMENT_ID_MAX
    sample = json.loads((coco_panoptic_sample / "panoptic_examples.json").read_text())
    assert all(map(entries.annotation_fits, sample["annotations"]))
    assert all(map(entries.category_fits, sample["categories"]))
    bad = {"image_id": 3, "file_name": "a.png", "segments_info": [{"id": 0, "category_id": 1}]}
    assert not entries.annotation_fits(bad)
    with pytest.raises(
        ValueError, match=r"^x\.json: annotations\[4\]\.segments_info\[0\]\.id: input should be"
    ):
        entries.check_annotation(bad, Path("x.json"), ValueError, 4)
    with pytest.raises(ValueError, match=r"^x\.json: categories\[0\]\.isthing: "):
        entries.check_category({"id": 1, "isthing": "yes"}, Path("x.json"), ValueError, 0)


def test_eval_of_plain_files_does_not_import_pydantic(coco_panoptic_sample: Path) -> None:
    gt = coco_panoptic_sample / "panoptic_examples.json"
    code = (
        "import sys; from segstudio.io.coco_panoptic import evaluate_panoptic_files as e;"
        f"r = e({str(gt)!r}, {str(gt)!r}, jobs=2); assert r['All']['pq'] == 1.0;"
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
