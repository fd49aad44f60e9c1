"""Class-map files: round trips, the by-name rule with edits, and errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segstudio.core.labels import VOID
from segstudio.core.palette import builtin_palette
from segstudio.io.class_map import (
    CLASS_MAP_FORMAT,
    ClassMap,
    ClassMapError,
    class_ids,
    class_map_path,
    palette_names,
    project_class_map,
    read_class_map,
    write_class_map,
)

VOC = builtin_palette("voc")
COCO = builtin_palette("coco-panoptic")


def test_round_trip_in_the_project_folder(tmp_path: Path) -> None:
    path = class_map_path(tmp_path, "deeplabv3")
    assert path == tmp_path / "models" / "class-maps" / "deeplabv3.json"
    assert project_class_map(tmp_path, "deeplabv3") is None
    written = ClassMap("deeplabv3", {"sofa": "chair", "tvmonitor": None})
    write_class_map(path, written, VOC)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {"format": CLASS_MAP_FORMAT, "version": 1, "model": "deeplabv3", "map": written.map}
    assert read_class_map(path, VOC) == written
    assert project_class_map(tmp_path, "deeplabv3", VOC) == written


def test_edits_come_before_the_by_name_rule() -> None:
    names = ["__background__", "sofa", "tvmonitor", "cat", "zebra-ish"]
    assert palette_names(names, COCO) == [None, "couch", "tv", "cat", None]
    edited = palette_names(names, COCO, {"Sofa": "chair", "tvmonitor": None, "zebra-ish": "Zebra"})
    assert edited == [None, "chair", None, "cat", "zebra"]
    assert class_ids(names, COCO, {"sofa": "chair"})[1] == COCO.by_name("chair").id
    assert class_ids(names, COCO, {"tvmonitor": None})[2] == VOID
    with pytest.raises(ClassMapError, match="'sofa' maps to 'sofabed'.*coco-panoptic"):
        class_ids(names, COCO, {"sofa": "sofabed"})


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"format": "x", "version": 1, "map": {}}', "not a class map"),
        (f'{{"format": "{CLASS_MAP_FORMAT}", "version": 9, "map": {{}}}}', "version 9"),
        (f'{{"format": "{CLASS_MAP_FORMAT}", "version": 1, "map": []}}', "'map'"),
        (f'{{"format": "{CLASS_MAP_FORMAT}", "version": 1, "map": {{"cat": 3}}}}', "'cat' maps to 3"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path / "broken.json", text)
    with pytest.raises(ClassMapError, match=match) as error:
        read_class_map(path)
    assert str(path) in str(error.value)


def test_unknown_palette_class_names_file_class_and_palette(tmp_path: Path) -> None:
    data = {"format": CLASS_MAP_FORMAT, "version": 1, "model": "m", "map": {"sofa": "settee"}}
    path = _write(tmp_path / "m.json", json.dumps(data))
    assert read_class_map(path).map == {"sofa": "settee"}  # no palette: not checked
    with pytest.raises(ClassMapError) as error:
        read_class_map(path, VOC)
    assert str(path) in str(error.value) and "'settee'" in str(error.value) and "'voc'" in str(error.value)
    with pytest.raises(ClassMapError, match="settee"):
        write_class_map(tmp_path / "out.json", ClassMap("m", {"sofa": "settee"}), VOC)
    assert not (tmp_path / "out.json").exists()
    with pytest.raises(ClassMapError, match="missing.json: file not found"):
        read_class_map(tmp_path / "missing.json")


def test_a_map_written_for_another_model_is_refused_naming_file_and_models(tmp_path: Path) -> None:
    copied = class_map_path(tmp_path, "deeplabv3")
    copied.parent.mkdir(parents=True)
    written = {"format": CLASS_MAP_FORMAT, "version": 1, "model": "fcn_resnet50", "map": {"sofa": "chair"}}
    _write(copied, json.dumps(written))  # fcn_resnet50's map, copied under deeplabv3's name
    with pytest.raises(ClassMapError) as error:
        project_class_map(tmp_path, "deeplabv3", VOC)
    message = str(error.value)
    assert message.startswith(str(copied)) and "'fcn_resnet50'" in message and "'deeplabv3'" in message
    assert read_class_map(copied).model == "fcn_resnet50"  # read for no model in particular: no check
    assert read_class_map(copied, VOC, "fcn_resnet50").map == {"sofa": "chair"}


def test_a_map_without_a_model_field_belongs_to_the_model_it_is_read_for(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "anything.json", json.dumps({"format": CLASS_MAP_FORMAT, "version": 1, "map": {}})
    )
    assert read_class_map(path, VOC, "deeplabv3") == ClassMap("deeplabv3", {})
    assert read_class_map(path).model == "anything"  # no model given: the file's stem, as before


@pytest.mark.parametrize("model", ["../../evil", "a/b", "..", "", "x\\..\\y"])
def test_model_names_never_lead_outside_the_class_maps_folder(tmp_path: Path, model: str) -> None:
    with pytest.raises(ClassMapError, match="cannot name a class-map file"):
        class_map_path(tmp_path, model)
    with pytest.raises(ClassMapError, match="cannot name a class-map file"):
        project_class_map(tmp_path, model)
    assert class_map_path(tmp_path, "deeplab..v3").name == "deeplab..v3.json"
