"""Scribble PNGs in the project: exact round trips (8- and 16-bit), no file for no scribbles, and
errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segstudio.core.palette import builtin_palette
from segstudio.io.images import write_png
from segstudio.io.png import png_header, read_png_file
from segstudio.io.project import Project, ProjectError
from segstudio.io.scribble_file import load_scribbles, save_scribbles, scribbles_path
from segstudio.io.semantic_png import read_label_values

HEIGHT, WIDTH = 6, 9


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    (root / "images").mkdir(parents=True)
    write_png(root / "images" / "cat.png", np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    created = Project.create(root, builtin_palette("voc"), name="Cats")
    created.add_image(root / "images" / "cat.png")
    return created


@pytest.mark.parametrize(("largest", "bit_depth"), [(255, 8), (301, 16)])
def test_scribbles_round_trip_exactly(project: Project, largest: int, bit_depth: int) -> None:
    values = np.zeros((HEIGHT, WIDTH), np.uint16)
    values[1, :4], values[4, 2:] = 1, largest
    assert load_scribbles(project, "cat") is None
    save_scribbles(project, "cat", values)
    path = scribbles_path(project, "cat")
    assert path == project.root / "scribbles" / "cat.scribbles"  # not an image name other tools list
    assert png_header(read_png_file(path), path).bit_depth == bit_depth
    assert np.array_equal(load_scribbles(project, "cat"), values)
    assert np.array_equal(load_scribbles(Project.open(project.root), "cat"), values)

    save_scribbles(project, "cat", np.zeros_like(values))
    assert not path.exists() and load_scribbles(project, "cat") is None


def test_wrong_sizes_are_refused_naming_the_file(project: Project) -> None:
    with pytest.raises(ProjectError, match="refusing scribbles"):
        save_scribbles(project, "cat", np.ones((HEIGHT, WIDTH + 1), np.uint16))
    path = scribbles_path(project, "cat")
    path.parent.mkdir()
    write_png(path, np.ones((HEIGHT + 1, WIDTH), np.uint8))
    with pytest.raises(ProjectError, match=r"cat\.scribbles: scribbles are 9x7"):
        load_scribbles(project, "cat")
    path.write_bytes(b"not a png")
    with pytest.raises(ProjectError, match=r"cat\.scribbles"):
        load_scribbles(project, "cat")


def test_scribbles_of_the_former_png_name_are_renamed_when_read(project: Project) -> None:
    values = np.zeros((HEIGHT, WIDTH), np.uint8)
    values[2, 3:6] = 4
    legacy = project.root / "scribbles" / "cat.png"
    legacy.parent.mkdir()
    write_png(legacy, values)
    assert np.array_equal(load_scribbles(project, "cat"), values)
    assert not legacy.exists() and scribbles_path(project, "cat").is_file()
    save_scribbles(project, "cat", np.zeros_like(values))
    assert not any((project.root / "scribbles").iterdir())


def test_the_command_line_reads_the_project_scribble_file_as_it_is(project: Project) -> None:
    values = np.zeros((HEIGHT, WIDTH), np.uint8)
    values[1, 1] = 2
    save_scribbles(project, "cat", values)
    assert np.array_equal(read_label_values(scribbles_path(project, "cat")), values)  # as --scribbles does
