"""Palette files: round trips, the COCO category layout, and errors that name file and entry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from segstudio.core.palette import BUILTIN_PALETTES, ClassDef, Palette, PaletteError, builtin_palette
from segstudio.io.palette_file import load_palette, resolve_palette, save_palette

CUSTOM = Palette(
    "my-roads",
    [
        ClassDef(0, "road", (128, 64, 128)),
        ClassDef(7, "car", (0, 0, 142), True, "vehicle"),
        ClassDef(300, "pothole", (255, 255, 0)),
    ],
    void_color=(10, 20, 30),
)


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("palette", [CUSTOM, *(builtin_palette(n) for n in BUILTIN_PALETTES)], ids=repr)
def test_save_then_load_round_trips(tmp_path: Path, palette: Palette) -> None:
    path = tmp_path / "palette.json"
    save_palette(palette, path)
    assert json.loads(path.read_text(encoding="utf-8")) == palette.to_dict()
    assert load_palette(path) == palette


def test_save_replaces_atomically_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "palette.json"
    save_palette(builtin_palette("voc"), path)
    save_palette(CUSTOM, path)
    assert load_palette(path) == CUSTOM
    assert sorted(p.name for p in path.parent.iterdir()) == ["palette.json"]  # no temp files left


def test_loads_the_coco_category_list(coco_panoptic_sample: Path) -> None:
    palette = load_palette(coco_panoptic_sample / "panoptic_coco_categories.json")
    assert palette.name == "panoptic_coco_categories"
    assert palette.classes == builtin_palette("coco-panoptic").classes


def test_loads_the_categories_of_a_coco_annotation_file(coco_panoptic_sample: Path) -> None:
    palette = load_palette(coco_panoptic_sample / "panoptic_examples.json")
    assert palette.classes == builtin_palette("coco-panoptic").classes


def test_unnamed_palette_is_named_after_its_file(tmp_path: Path) -> None:
    path = _write_json(
        tmp_path / "streets.json", {"classes": [{"id": 1, "name": "kerb", "color": [1, 2, 3]}]}
    )
    palette = load_palette(path)
    assert palette.name == "streets"
    assert palette[1] == ClassDef(1, "kerb", (1, 2, 3))


BAD_PALETTES = {
    "duplicate id": (
        {"classes": [
            {"id": 7, "name": "bus", "color": [0, 60, 100]},
            {"id": 3, "name": "road", "color": [128, 64, 128]},
            {"id": 5, "name": "sky", "color": [70, 130, 180]},
            {"id": 7, "name": "car", "color": [0, 0, 142]},
        ]},
        r"class #3 \('car'\): duplicate id 7 \(also used by class #0 \('bus'\)\)",
    ),
    "duplicate name": (
        {"classes": [
            {"id": 1, "name": "car", "color": [0, 0, 142]},
            {"id": 2, "name": "car", "color": [0, 0, 70]},
        ]},
        r"class #1 \('car'\): duplicate name",
    ),
    "colour out of range": (
        {"classes": [{"id": 1, "name": "sky", "color": [70, 130, 280]}]},
        r"class #0 \('sky'\): color \[70, 130, 280\] must be three integers in 0\.\.255",
    ),
    "missing field": (
        {"classes": [{"id": 1, "name": "road", "color": [1, 1, 1]}, {"id": 2, "name": "sky"}]},
        r"class #1 \('sky'\): missing field 'color'",
    ),
    "category list with a missing id": (
        [{"name": "person", "color": [220, 20, 60], "isthing": 1}],
        r"class #0 \('person'\): missing field 'id'",
    ),
    "not a palette": (42, r"a palette must be an object, got int"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_PALETTES))
def test_bad_palette_file_names_file_and_entry(tmp_path: Path, case: str) -> None:
    data, message = BAD_PALETTES[case]
    path = _write_json(tmp_path / "my.json", data)
    with pytest.raises(PaletteError, match="^" + re.escape(f"{path}: ") + message):
        load_palette(path)


def test_non_json_file_is_refused_with_position(tmp_path: Path) -> None:
    path = tmp_path / "my.json"
    path.write_text('{"classes": [\n  {"id": 1,, }\n]}', encoding="utf-8")
    with pytest.raises(PaletteError, match="^" + re.escape(f"{path}: not valid JSON (line 2")):
        load_palette(path)


def test_binary_and_missing_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "palette.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(PaletteError, match="^" + re.escape(f"{binary}: cannot read")):
        load_palette(binary)
    missing = tmp_path / "nowhere.json"
    with pytest.raises(PaletteError, match="^" + re.escape(f"{missing}: file not found")):
        load_palette(missing)


def test_resolve_builtin_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in BUILTIN_PALETTES:
        assert resolve_palette(name) is builtin_palette(name)


def test_resolve_files_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "custom.json"
    save_palette(CUSTOM, path)
    assert resolve_palette(path) == CUSTOM
    assert resolve_palette(str(path)) == CUSTOM
    # a file named like a built-in is reached with an explicit path
    monkeypatch.chdir(tmp_path)
    save_palette(CUSTOM, tmp_path / "voc")
    assert resolve_palette("voc") is builtin_palette("voc")
    assert resolve_palette("./voc") == CUSTOM


def test_resolve_refuses_unknown_names_and_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        PaletteError, match="'pascal' is neither a built-in palette .*voc.* nor a palette file"
    ):
        resolve_palette("pascal")
    with pytest.raises(PaletteError, match=r"^gone\.json: file not found"):
        resolve_palette("gone.json")
