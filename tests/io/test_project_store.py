"""The project index on SQLite: migration from schema 1, refusals, two processes at once, a kill
between the labels file and the index, leftovers of killed operations."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from segstudio.core.labels import LabelMap
from segstudio.core.palette import ClassDef, Palette
from segstudio.io.atomic import atomic_directory
from segstudio.io.exchange import labelled_entries
from segstudio.io.images import write_png
from segstudio.io.label_file import write_label_file
from segstudio.io.leftovers import TEMP_FILE_MAX_AGE_S, owner_token
from segstudio.io.project import (
    INDEX_NAME,
    MANIFEST_NAME,
    SCHEMA_VERSION,
    ImageEntry,
    ImageState,
    Project,
    ProjectError,
    is_project,
)
from segstudio.io.project_migration import MANIFEST_BACKUP_NAME

PALETTE = Palette("test", [ClassDef(0, "background", (0, 0, 0)), ClassDef(1, "cat", (200, 0, 0), True)])
HERE = Path(__file__).resolve().parent
ROUNDS = 40  # per writer process: 40 images added, 820 state changes, 40 conditional updates


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load("_store_worker")


def _photo(path: Path, shape=worker.SHAPE) -> Path:
    write_png(path, np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8))
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    repo = str(HERE.parents[1])
    env["PYTHONPATH"] = repo + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else repo
    return subprocess.Popen(
        [sys.executable, str(HERE / "_store_worker.py"), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _expect(process: subprocess.Popen[str], line: str) -> None:
    got = process.stdout.readline().strip()
    if got != line:
        process.kill()
        raise AssertionError(f"worker said {got!r}, not {line!r}: {process.stderr.read()}")


def _kill(process: subprocess.Popen[str]) -> None:
    process.kill()  # SIGKILL on POSIX: no cleanup, no finally
    process.wait(timeout=10)
    for stream in (process.stdin, process.stdout, process.stderr):
        stream.close()


# -- schema 1 (project.json) -------------------------------------------------------------------------


def _schema1_project(root: Path) -> dict:
    """A project as schema-1 segstudio wrote it: states, a dataset entry, a depth link, labels."""
    _photo(root / "images" / "cat.png")
    _photo(root / "images" / "dog.png")
    write_png(root / "images" / "dog.depth.png", np.full(worker.SHAPE, 1500, np.uint16))
    manifest = {
        "schema_version": 1,
        "name": "Old cats",
        "palette": PALETTE.to_dict(),
        "images": [
            {"id": "cat", "file": "images/cat.png", "width": 8, "height": 6, "state": "reviewed",
             "source": {"id": 397133, "file_name": "cat.png", "license": 4}},
            {"id": "dog", "file": "images/dog.png", "width": 8, "height": 6, "state": "unlabelled",
             "depth": "images/dog.depth.png"},
        ],
    }  # fmt: skip
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    write_label_file(root / "labels" / "cat.npz", worker.known_labels(3))
    return manifest


def test_a_schema1_project_is_migrated_once_keeping_everything(tmp_path: Path) -> None:
    root = tmp_path / "old"
    _schema1_project(root)
    original = (root / MANIFEST_NAME).read_bytes()
    assert is_project(root)

    project = Project.open(root)
    assert project.name == "Old cats" and project.palette == PALETTE
    assert list(project.entries()) == [
        ImageEntry("cat", "images/cat.png", 8, 6, ImageState.REVIEWED, None,
                   {"id": 397133, "file_name": "cat.png", "license": 4}),
        ImageEntry("dog", "images/dog.png", 8, 6, ImageState.UNLABELLED, "images/dog.depth.png"),
    ]  # fmt: skip
    assert (project.read_depth("dog") == 1500).all()
    assert np.array_equal(project.load_labels("cat").category, worker.known_labels(3).category)
    assert not (root / MANIFEST_NAME).exists()
    assert (root / MANIFEST_BACKUP_NAME).read_bytes() == original  # kept as it was, as a backup
    assert not list(root.glob(".*.tmp"))  # built under a temporary name, renamed into place

    project.set_state("dog", ImageState.EDITED)
    project.close()
    again = Project.open(root)  # migrated once: the index is used from now on
    assert again.entry("dog").state is ImageState.EDITED and again.entry("cat").state is ImageState.REVIEWED


def _edit_manifest(root: Path, change) -> None:
    data = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    change(data)
    (root / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: _edit_manifest(root, lambda d: d.update(schema_version=2)), "newer segstudio"),
        (lambda root: (root / MANIFEST_NAME).write_text('{"schema_version": 1, "name": '), "not valid JSON"),
        (lambda root: (root / MANIFEST_NAME).write_bytes(b"\xff\xfe\x00garbage"), "not valid JSON"),
        (lambda root: (root / MANIFEST_NAME).write_text("[1, 2]"), "expected a JSON object"),
        (
            lambda root: _edit_manifest(root, lambda d: d["palette"]["classes"].append({"id": 1})),
            "palette: class #2",
        ),
        (
            lambda root: _edit_manifest(root, lambda d: d["images"][0].update(state="done")),
            "unknown state 'done'",
        ),
        (
            lambda root: _edit_manifest(root, lambda d: d["images"][1].update(id="CAT")),
            "'CAT' is listed twice",
        ),
        (
            lambda root: _edit_manifest(root, lambda d: d["images"][0].update(width=0)),
            "'width' must be a positive",
        ),
        (lambda root: _edit_manifest(root, lambda d: d["images"][0].update(id="../x")), "id '../x' must not"),
    ],
)
def test_a_bad_schema1_manifest_is_refused_and_nothing_written(tmp_path: Path, damage, message: str) -> None:
    root = tmp_path / "old"
    _schema1_project(root)
    damage(root)
    before = _files(root)
    with pytest.raises(ProjectError, match=message) as caught:
        Project.open(root)
    assert str(root / MANIFEST_NAME) in str(caught.value)
    assert _files(root) == before


# -- refusals of the index ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    created = Project.create(root, PALETTE, name="Cats")
    for name in ("a", "b", "c"):
        created.add_image(_photo(root / "images" / f"{name}.png"))
    return created


def test_an_index_from_a_newer_segstudio_is_refused_naming_it(project: Project) -> None:
    with sqlite3.connect(project.index_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ProjectError, match="newer segstudio") as caught:
        Project.open(project.root)
    assert str(project.root / INDEX_NAME) in str(caught.value)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"this is not a database at all" * 100),
        lambda path: path.write_bytes(path.read_bytes()[:100]),
        lambda path: path.write_bytes(b""),
        lambda path: sqlite3.connect(path).execute("PRAGMA application_id = 1").connection.commit(),
    ],
    ids=["garbage", "truncated", "empty", "foreign-sqlite"],
)
def test_a_corrupt_or_foreign_index_is_refused_naming_it(project: Project, damage) -> None:
    path = project.index_path
    project.close()
    for extra in (path.with_name(INDEX_NAME + "-wal"), path.with_name(INDEX_NAME + "-shm")):
        extra.unlink(missing_ok=True)
    damage(path)
    with pytest.raises(ProjectError, match="corrupt project index|not a segstudio project index") as caught:
        Project.open(project.root)
    assert str(path) in str(caught.value)


# -- two processes --------------------------------------------------------------------------------------


def test_two_processes_writing_states_at_once_lose_nothing(project: Project) -> None:
    """The app holds the project open and writes while two batch jobs add images and write states."""
    project.set_state("a", ImageState.REVIEWED)  # a person's state: pre-labelling must not overwrite it
    seen = project.changes_seen()
    writers = [_start("states", str(project.root), name, str(ROUNDS)) for name in ("one", "two")]
    try:
        for writer in writers:
            _expect(writer, "ready")
        for writer in writers:  # both start together
            writer.stdin.write("go\n")
            writer.stdin.flush()
        while any(w.poll() is None for w in writers):  # the app meanwhile: reads and its own writes
            project.set_state("c", ImageState.EDITED)
            assert len(project) >= 3
            time.sleep(0.01)
        for writer in writers:
            out, err = writer.communicate(timeout=60)
            assert writer.returncode == 0 and out.strip() == "done", err
            assert "locked" not in err
    finally:
        for writer in writers:
            if writer.poll() is None:
                _kill(writer)
    assert project.changes_seen() != seen  # the app can tell that others wrote
    final = worker.expected_state(ROUNDS)
    for name in ("one", "two"):
        for step in range(ROUNDS):
            assert project.entry(f"{name}-{step}").state is final
    assert len(project) == 3 + 2 * ROUNDS
    assert [project.entry(i).state for i in "abc"] == [
        ImageState.REVIEWED,
        ImageState.PRELABELLED,
        ImageState.EDITED,
    ]


# -- crashes ----------------------------------------------------------------------------------------------


def test_a_kill_between_the_labels_file_and_the_index_is_repaired_on_open(project: Project) -> None:
    writer = _start("stop-after-write", str(project.root), "b")
    _expect(writer, "stopped")  # the labels file is written, the index not updated yet
    _kill(writer)
    assert project.entry("b").state is ImageState.UNLABELLED  # what the index says before the repair

    reopened = Project.open(project.root)
    assert reopened.entry("b").state is ImageState.REVIEWED
    assert np.array_equal(reopened.load_labels("b").category, worker.known_labels(1).category)
    assert [e.id for e in labelled_entries(reopened)] == ["b"]  # export no longer skips it


def test_a_kill_before_the_labels_file_leaves_the_old_state(project: Project) -> None:
    writer = _start("stop-before-write", str(project.root), "b")
    _expect(writer, "stopped")  # the index has the note, no labels file written
    _kill(writer)
    reopened = Project.open(project.root)
    assert reopened.entry("b").state is ImageState.UNLABELLED and not reopened.labels_file("b").exists()
    reopened.save_labels("b", worker.known_labels(2), ImageState.EDITED)  # a later save is unaffected
    assert Project.open(project.root).entry("b").state is ImageState.EDITED


def test_leftovers_of_killed_writers_are_removed_and_fresh_ones_kept(
    project: Project, tmp_path: Path
) -> None:
    labels = project.root / "labels"
    labels.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_token = owner_token().replace(f"-{os.getpid()}-", f"-{int(dead.stdout)}-")  # same machine
    of_dead_writer = labels / f".a.npz{dead_token}k2j4.tmp"
    old_unknown = labels / ".b.npz.x81f.tmp"
    fresh_unknown = labels / ".c.npz.y72e.tmp"
    not_ours = labels / "notes.tmp"
    for path in (of_dead_writer, old_unknown, fresh_unknown, not_ours):
        path.write_bytes(b"half a write")
    an_hour_ago = time.time() - TEMP_FILE_MAX_AGE_S - 60
    os.utime(old_unknown, (an_hour_ago, an_hour_ago))
    os.utime(not_ours, (an_hour_ago, an_hour_ago))

    Project.open(project.root)
    assert not of_dead_writer.exists() and not old_unknown.exists()
    assert fresh_unknown.exists() and not_ours.exists()

    target = tmp_path / "export"
    staging = _start("staging", str(target))
    _expect(staging, "stopped")
    _kill(staging)
    left = list(tmp_path.glob(".export.*.partial"))
    assert len(left) == 1 and not target.exists()  # a killed export leaves its hidden staging folder...
    with atomic_directory(target) as folder:
        (folder / "whole.txt").write_text("done")
    assert not left[0].exists() and (target / "whole.txt").is_file()  # ...removed by the next one


def test_entries_are_read_in_pages_in_list_order(project: Project) -> None:
    with sqlite3.connect(project.index_path) as db:  # more rows than a page, as an import writes them
        db.executemany(
            "INSERT INTO images (id, key, file, width, height, state) VALUES (?, ?, ?, 8, 6, ?)",
            [
                (f"i{n:05d}", f"i{n:05d}", f"{n}.png", "edited" if n % 3 == 0 else "unlabelled")
                for n in range(10_000)
            ],
        )
    assert len(project) == 10_003
    assert [e.id for e in project.entries()] == ["a", "b", "c"] + [f"i{n:05d}" for n in range(10_000)]
    edited = [f"i{n:05d}" for n in range(10_000) if n % 3 == 0]
    assert [e.id for e in project.entries([ImageState.EDITED])] == edited
    assert project.image_ids([ImageState.EDITED]) == edited
    assert project.state_counts() == {
        ImageState.UNLABELLED: 3 + 6666,
        ImageState.PRELABELLED: 0,
        ImageState.EDITED: 3334,
        ImageState.REVIEWED: 0,
    }


def test_a_failed_batch_leaves_nothing(project: Project, tmp_path: Path) -> None:
    photo = _photo(tmp_path / "new.png")
    with pytest.raises(ProjectError, match="already in the project"), project.batch():
        project.add_image(photo)
        project.set_state("a", ImageState.EDITED)
        project.add_image(photo)
    assert project.image_ids() == ["a", "b", "c"] and project.entry("a").state is ImageState.UNLABELLED
    labels = LabelMap.empty(*worker.SHAPE)
    project.save_labels("a", labels)
    assert Project.open(project.root).entry("a").state is ImageState.EDITED
