"""The project folder: exact round trips, refusals that name the file and write nothing,
the autosave journal, and labels that survive a writer killed at random moments.

The index itself (SQLite, migration, several processes, crash repair) is tested in
test_project_store.py."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.palette import ClassDef, Palette
from segstudio.io.images import write_png
from segstudio.io.label_file import write_label_file
from segstudio.io.project import INDEX_NAME, SCHEMA_VERSION, ImageEntry, ImageState, Project, ProjectError

PALETTE = Palette(
    "test",
    [
        ClassDef(0, "background", (0, 0, 0)),
        ClassDef(1, "cat", (200, 0, 0), True),
        ClassDef(9, "sky", (0, 0, 255)),
    ],
)
HERE = Path(__file__).resolve().parent
KILL_ROUNDS = 30  # each round: start the writer (~0.2 s), let it run 0-0.25 s, SIGKILL it, check


def _image(path: Path, height: int = 6, width: int = 9, seed: int = 0) -> Path:
    write_png(path, np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))
    return path


def _labels(height: int = 6, width: int = 9, seed: int = 0) -> LabelMap:
    """Labels that exercise every range: VOID, large class ids, instance ids above 2**16 and 2**31."""
    rng = np.random.default_rng(seed)
    category = rng.choice(np.array([0, 1, 9, 300, VOID - 1, VOID], np.uint16), (height, width))
    instance = rng.choice(np.array([0, 1, 70_000, 2**32 - 1], np.uint32), (height, width))
    provenance = rng.integers(0, 3, (height, width)).astype(np.uint8)
    return LabelMap(category, instance, provenance, {(1, 70_000), (VOID - 1, 2**32 - 1)})


def assert_same_labels(actual: LabelMap, expected: LabelMap) -> None:
    for name in ("category", "instance", "provenance"):
        a, e = getattr(actual, name), getattr(expected, name)
        assert a.dtype == e.dtype, name
        np.testing.assert_array_equal(a, e, err_msg=name)
    assert actual.crowd == expected.crowd


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) with its bytes, but the index's own files (its
    WAL and shared memory change when it is only read; ``index_rows`` compares its content)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(INDEX_NAME)
    }


def index_rows(root: Path) -> list[tuple]:
    with sqlite3.connect(root / INDEX_NAME) as db:
        return (
            db.execute("SELECT * FROM images ORDER BY seq").fetchall()
            + db.execute("SELECT * FROM meta").fetchall()
        )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    _image(root / "images" / "cat.png")
    _image(root / "images" / "frame.001.left.png", height=4, width=5, seed=1)
    created = Project.create(root, PALETTE, name="Cats")
    created.add_image(root / "images" / "cat.png")
    created.add_image(root / "images" / "frame.001.left.png")
    return created


# -- round trips -----------------------------------------------------------------------------------


def test_create_add_save_open_round_trip(project: Project, tmp_path: Path) -> None:
    outside = _image(tmp_path / "elsewhere" / "dog.png", height=3, width=4, seed=2)
    project.add_image(outside)
    labels = _labels()
    project.save_labels("cat", labels)

    reopened = Project.open(project.root)
    assert reopened.name == "Cats" and reopened.palette == PALETTE
    assert reopened.image_ids() == ["cat", "frame.001.left", "dog"] and len(reopened) == 3
    assert [e.id for e in reopened.entries()] == reopened.image_ids()
    assert reopened.image_ids([ImageState.EDITED]) == ["cat"]
    assert reopened.state_counts()[ImageState.UNLABELLED] == 2
    assert reopened.entry("cat") == ImageEntry("cat", "images/cat.png", 9, 6, ImageState.EDITED)
    assert reopened.entry("dog").file == str(outside.resolve())
    assert_same_labels(reopened.load_labels("cat"), labels)
    np.testing.assert_array_equal(reopened.read_image("dog"), project.read_image("dog"))
    with sqlite3.connect(project.root / INDEX_NAME) as db:  # the index is plain SQLite, readable by anyone
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        row = db.execute("SELECT id, file, width, height, state, source FROM images ORDER BY seq").fetchone()
    assert row == ("cat", "images/cat.png", 9, 6, "edited", None)


def test_unsaved_image_has_empty_labels_of_its_size(project: Project) -> None:
    labels = project.load_labels("frame.001.left")
    assert labels.shape == (4, 5)
    assert (labels.category == VOID).all() and not labels.instance.any() and not labels.crowd


def test_project_folder_can_move(project: Project, tmp_path: Path) -> None:
    project.save_labels("cat", _labels())
    moved = tmp_path / "moved"
    shutil.move(project.root, moved)
    assert_same_labels(Project.open(moved).load_labels("cat"), _labels())


def test_state_is_recorded_in_the_index(project: Project) -> None:
    project.save_labels("cat", _labels(), state=ImageState.REVIEWED)
    assert Project.open(project.root).entry("cat").state == ImageState.REVIEWED
    project.save_labels("cat", _labels())
    assert Project.open(project.root).entry("cat").state == ImageState.EDITED


def test_predictions_live_beside_labels(project: Project) -> None:
    assert project.load_prediction("cat") is None
    prediction = _labels(seed=5)
    prediction.provenance[...] = Provenance.MODEL
    project.save_prediction("cat", prediction)
    assert_same_labels(Project.open(project.root).load_prediction("cat"), prediction)
    assert (project.load_labels("cat").category == VOID).all()


def test_depth_is_listed_and_checked(project: Project, tmp_path: Path) -> None:
    _image(project.root / "rgb.png")
    depth = np.full((6, 9), 1234, np.uint16)
    write_png(project.root / "rgb.depth.png", depth)
    entry = project.add_image(project.root / "rgb.png", depth=project.root / "rgb.depth.png")
    assert entry.depth == "rgb.depth.png"
    np.testing.assert_array_equal(Project.open(project.root).read_depth("rgb"), depth)
    write_png(tmp_path / "small.depth.png", np.zeros((2, 2), np.uint16))
    _image(tmp_path / "other.png")
    with pytest.raises(ProjectError, match=r"small\.depth\.png: depth map is 2x2 but image .* is 9x6"):
        project.add_image(tmp_path / "other.png", depth=tmp_path / "small.depth.png")


# -- ids ---------------------------------------------------------------------------------------------


def test_ids_come_from_file_names_and_stay_unique(project: Project, tmp_path: Path) -> None:
    assert project.entry("frame.001.left").file == "images/frame.001.left.png"
    assert project.add_image(_image(tmp_path / "a" / "cat.png")).id == "cat-2"
    assert project.add_image(_image(tmp_path / "b" / "CAT.jpg")).id == "CAT-3"  # ids ignore case
    assert project.add_image(_image(tmp_path / ".hidden.png")).id == "hidden"
    assert project.add_image(_image(tmp_path / "x.png"), image_id="chosen").id == "chosen"


def test_bad_ids_and_repeated_files_are_refused(project: Project, tmp_path: Path) -> None:
    image = _image(tmp_path / "x.png")
    for bad in ("", "a/b", "..", ".secret", "name.", "x" * 200):
        with pytest.raises(ProjectError, match="image id"):
            project.add_image(image, image_id=bad)
    with pytest.raises(ProjectError, match="already used"):
        project.add_image(image, image_id="Cat")
    with pytest.raises(ProjectError, match="already in the project"):
        project.add_image(project.root / "images" / "cat.png")
    with pytest.raises(ProjectError, match=r"missing\.png: file not found"):
        project.add_image(tmp_path / "missing.png")
    with pytest.raises(ProjectError, match="no image with id 'nope'"):
        project.entry("nope")
    assert len(project) == 2


# -- refusals: a clear ProjectError naming the file, and nothing written -------------------------------


def test_create_refuses_an_existing_project(project: Project) -> None:
    before = snapshot(project.root), index_rows(project.root)
    with pytest.raises(ProjectError, match=r"project\.db: a project already exists"):
        Project.create(project.root, PALETTE)
    assert (snapshot(project.root), index_rows(project.root)) == before


def test_open_refuses_a_folder_without_an_index(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"project\.db: not found"):
        Project.open(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_photo_opens_and_is_named_when_used(project: Project) -> None:
    photo = project.root / "images" / "frame.001.left.png"
    photo.unlink()
    reopened = Project.open(project.root)  # one missing photo never refuses the whole project
    assert reopened.image_ids() == ["cat", "frame.001.left"]
    assert reopened.missing_files("frame.001.left") == [photo] and reopened.missing_files("cat") == []
    with pytest.raises(ProjectError, match=r"frame\.001\.left\.png: file not found"):
        reopened.read_image("frame.001.left")
    assert reopened.read_image("cat").shape == (6, 9, 3)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, "corrupt or truncated"),
        (_flip_middle_byte, "corrupt or truncated"),
        (lambda path: path.write_bytes(b""), "corrupt or truncated"),
        (lambda path: path.write_text("not a zip"), "corrupt or truncated"),
        (
            lambda path: write_label_file(path, _labels(height=9, width=6)),
            r"label map is 6x9 but image 'cat' is 9x6",
        ),
    ],
    ids=["truncated", "bit-flip", "empty", "not-a-zip", "wrong-shape"],
)
def test_bad_label_files_are_refused_by_name(project: Project, damage, message: str) -> None:
    project.save_labels("cat", _labels())
    project.autosave("cat", _labels(seed=1))
    label_file = project.labels_file("cat")
    damage(label_file)
    before = snapshot(project.root)
    reopened = Project.open(project.root)
    with pytest.raises(ProjectError, match=message) as caught:
        reopened.load_labels("cat")
    assert str(label_file) in str(caught.value)
    assert reopened.recoverable() == ["cat"]  # the journal is now the best copy, and is offered
    assert snapshot(project.root) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_is_detected_never_loaded_as_wrong_labels(project: Project, data: st.DataObject) -> None:
    labels = _labels(seed=3)
    path = project.labels_file("cat")
    if not path.exists():  # once per test: the fixture is shared by all examples
        project.save_labels("cat", labels)
    original = path.read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] ^= data.draw(st.integers(1, 255))
    path.write_bytes(bytes(damaged))
    try:
        loaded = project.load_labels("cat")
    except ProjectError as error:
        assert str(path) in str(error)
    else:  # the flip hit bytes nothing depends on (e.g. a zip timestamp): labels must be intact
        assert_same_labels(loaded, labels)
    finally:
        path.write_bytes(original)


def test_wrong_shape_labels_are_not_saved(project: Project) -> None:
    before = snapshot(project.root)
    for write in (project.save_labels, project.save_prediction, project.autosave):
        with pytest.raises(ProjectError, match=r"refusing labels of shape \(4, 5\); image 'cat' is 9x6"):
            write("cat", LabelMap.empty(4, 5))
    assert snapshot(project.root) == before


def test_labels_that_would_not_read_back_are_not_saved(project: Project) -> None:
    before = snapshot(project.root)
    narrowed = _labels()
    narrowed.instance = narrowed.instance.astype(np.uint8)  # ids must never pass through uint8
    with pytest.raises(ProjectError, match="instance map has dtype uint8, expected uint32"):
        project.save_labels("cat", narrowed)
    bad_crowd = _labels()
    bad_crowd.crowd.add((VOID, 1))
    with pytest.raises(ProjectError, match="crowd pairs"):
        project.save_labels("cat", bad_crowd)
    assert snapshot(project.root) == before


def test_image_changed_on_disk_is_refused(project: Project) -> None:
    _image(project.root / "images" / "cat.png", height=7, width=9)
    with pytest.raises(ProjectError, match=r"cat\.png: image is 9x7 but image 'cat' is 9x6"):
        project.read_image("cat")


# -- the autosave journal ------------------------------------------------------------------------------


def test_autosave_survives_a_crash_and_is_cleared_by_saving(project: Project) -> None:
    edited = _labels(seed=7)
    project.autosave("cat", edited)
    assert (project.load_labels("cat").category == VOID).all()  # the real label file is untouched
    root = project.root
    del project  # "crash": nothing else is written

    reopened = Project.open(root)
    assert reopened.recoverable() == ["cat"]
    assert_same_labels(reopened.recover("cat"), edited)
    reopened.save_labels("cat", reopened.recover("cat"))
    assert reopened.recoverable() == []
    assert not (root / ".autosave" / "cat.npz").exists()
    assert_same_labels(Project.open(root).load_labels("cat"), edited)


def test_autosave_newer_than_saved_labels_is_offered(project: Project) -> None:
    project.save_labels("cat", _labels(seed=1))
    project.autosave("cat", _labels(seed=2))
    reopened = Project.open(project.root)
    assert reopened.recoverable() == ["cat"]
    assert_same_labels(reopened.recover("cat"), _labels(seed=2))
    assert_same_labels(reopened.load_labels("cat"), _labels(seed=1))
    reopened.discard_autosave("cat")
    assert reopened.recoverable() == []
    with pytest.raises(ProjectError, match="no autosave to recover"):
        reopened.recover("cat")


def test_journal_older_than_saved_labels_is_stale(project: Project) -> None:
    """A crash between saving labels and clearing the journal must not resurrect older edits."""
    project.autosave("cat", _labels(seed=1))
    journal = project.root / ".autosave" / "cat.npz"
    older = journal.read_bytes()
    project.save_labels("cat", _labels(seed=2))
    journal.write_bytes(older)  # as if the process died before deleting it
    assert Project.open(project.root).recoverable() == []


def test_leftover_temp_files_are_not_data(project: Project) -> None:
    for folder in ("labels", "predictions", ".autosave"):
        (project.root / folder).mkdir(exist_ok=True)
        (project.root / folder / ".cat.npz.k2j4h1.tmp").write_bytes(b"half a write")
    (project.root / ".project.db.a8f3.tmp").write_text("{")
    reopened = Project.open(project.root)
    assert reopened.recoverable() == []
    assert reopened.load_prediction("cat") is None
    assert (reopened.load_labels("cat").category == VOID).all()


# -- the crash test ------------------------------------------------------------------------------------


def _load_writer_module():
    spec = importlib.util.spec_from_file_location("_crash_writer", HERE / "_crash_writer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start_writer(root: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    repo = str(HERE.parents[1])
    env["PYTHONPATH"] = repo + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else repo
    writer = subprocess.Popen(
        [sys.executable, str(HERE / "_crash_writer.py"), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = writer.stdout.readline()
    if line.strip() != "ready":
        writer.kill()
        raise AssertionError(f"writer did not start: {line!r} {writer.stderr.read()}")
    return writer


@pytest.mark.slow
def test_labels_survive_a_writer_killed_at_random_moments(tmp_path: Path) -> None:
    writer_module = _load_writer_module()
    root = tmp_path / "crash project"
    project = Project.create(root, PALETTE)
    for index in range(3):
        _image(root / f"img{index}.png", *writer_module.SHAPE, seed=index)
        project.add_image(root / f"img{index}.png")
    known = [[writer_module.known_labels(i, v) for v in (0, 1)] for i in range(3)]

    def variant_of(labels: LabelMap, index: int) -> int:
        for variant in (0, 1):
            if np.array_equal(labels.category, known[index][variant].category):
                assert_same_labels(labels, known[index][variant])
                return variant
        raise AssertionError(f"image {index}: labels are neither A nor B")

    rng = random.Random(20240917)
    saw_labels = saw_journal = False
    for _ in range(KILL_ROUNDS):
        writer = _start_writer(root)
        time.sleep(rng.uniform(0.0, 0.25))
        writer.kill()  # SIGKILL on POSIX: no cleanup, no flush, no finally
        writer.wait(timeout=10)
        writer.stdout.close()
        writer.stderr.close()

        reopened = Project.open(root)
        ids = reopened.image_ids()
        for index, entry in enumerate(reopened.entries()):
            labels = reopened.load_labels(entry.id)
            if (labels.category == VOID).all():
                assert not reopened.labels_file(entry.id).exists()  # "none" only if never saved
                assert entry.state is ImageState.UNLABELLED
            else:
                variant = variant_of(labels, index)
                # the state matches the labels on disk: A is saved as edited, B as reviewed
                assert entry.state is (ImageState.EDITED if variant == 0 else ImageState.REVIEWED)
                saw_labels = True
        for image_id in reopened.recoverable():
            variant_of(reopened.recover(image_id), ids.index(image_id))
            saw_journal = True
        reopened.close()
    assert saw_labels and saw_journal, "the writer never got far enough: the test proved nothing"


def test_damaged_journal_is_reported_and_set_aside_not_dropped(project: Project) -> None:
    """A journal file that cannot be read is named with its reason (the app tells the user), and
    setting it aside keeps the bytes under another name instead of deleting them."""
    project.autosave("cat", _labels(seed=1))
    journal = project.root / ".autosave" / "cat.npz"
    journal.write_bytes(b"not a label file at all")
    review = Project.open(project.root).journal_review()
    assert review.recoverable == []
    assert [image_id for image_id, _ in review.damaged] == ["cat"]
    assert "cat.npz" in review.damaged[0][1]
    aside = project.set_aside_journal("cat")
    assert aside.read_bytes() == b"not a label file at all" and not journal.exists()
    assert Project.open(project.root).journal_review().damaged == []
