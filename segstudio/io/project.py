"""The project folder: an SQLite index, saved labels, model predictions and an autosave journal.

Layout::

    project.db            the index: name, palette, images and their states (``project_store``)
    labels/<id>.npz       saved labels (see ``label_file`` for the format and why)
    predictions/<id>.npz  model predictions, kept apart from human-corrected labels (and which
                          model made each: ``prediction_files``, the index's ``predictions``)
    .autosave/<id>.npz    journal of unsaved edits, written often and cheaply

A schema-1 project (``project.json``) is migrated on open (``project_migration``). Files are
written atomically (temporary sibling, fsync, rename), so a crash leaves the old or the new file;
data files are looked up by exact name, so a ``.tmp`` left by a crash is never taken for data, and
the next open removes such leftovers. An index or label file that cannot be trusted raises
ProjectError naming it.

Several processes may use one project: every change is one small transaction (a state change
never rewrites other images). Saving labels records the state it will set, with the new file's
revision token, before writing the file; a writer killed between the two leaves that note, and the
next open finishes the job when the labels file carries the token (labels on disk are never left
looking unlabelled). Opening does not read every entry nor look at every photo: a missing photo is
reported when the image is used (``missing_files``, ``read_image``).

An autosave records the revision token of the saved labels it was made on top of, so "newer than
the saved labels" is decided exactly, with no reliance on file-system timestamps.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segstudio.core.labels import LabelMap
from segstudio.core.palette import Palette, PaletteError
from segstudio.io.image_entry import (
    ImageEntry,
    ImageState,
    ProjectError,
    checked_entry,
    id_from_name,
    id_problem,
)
from segstudio.io.images import ImageReadError, image_size, read_depth, read_rgb
from segstudio.io.label_file import (
    LABEL_FILE_SUFFIX,
    LabelFileError,
    StoredLabels,
    read_label_file,
    read_label_tokens,
    write_label_file,
)
from segstudio.io.leftovers import remove_stale_temp_files
from segstudio.io.prediction_files import (
    PREDICTIONS_DIR,
    ImageTask,
    PredictionSource,
    check_size,
    write_prediction,
)
from segstudio.io.project_migration import MANIFEST_NAME, index_meta, migrate_manifest
from segstudio.io.project_store import (
    IMAGE_COLUMNS,
    INDEX_NAME,
    INSERT_IMAGE,
    SCHEMA_VERSION,
    Store,
    StoreError,
    build_index,
    insert_values,
)

__all__ = [
    "INDEX_NAME",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "ImageEntry",
    "ImageState",
    "Project",
    "ProjectError",
    "is_project",
]

LABELS_DIR = "labels"
AUTOSAVE_DIR = ".autosave"
SCRIBBLES_DIR = "scribbles"
MODELS_DIR = "models"
_DATA_DIRS = (LABELS_DIR, PREDICTIONS_DIR, AUTOSAVE_DIR, SCRIBBLES_DIR, MODELS_DIR)
_PAGE = 4096  # entries() reads this many rows per query, so no read stays open between them
_AUTOSAVE_COMPRESSLEVEL = 1  # the journal is written often: favour speed over size
_SELECT = f"SELECT seq, {', '.join(IMAGE_COLUMNS)} FROM images"


def is_project(folder: Path) -> bool:
    """Whether ``folder`` holds a project (its index, or a schema-1 manifest still to migrate)."""
    return (folder / INDEX_NAME).is_file() or (folder / MANIFEST_NAME).is_file()


def _state_filter(states: Collection[ImageState] | None) -> tuple[str, list[str]]:
    if states is None:
        return "", []
    values = sorted({ImageState(s).value for s in states})
    return f" AND state IN ({', '.join('?' * len(values))})", values


def _source_filter(source: PredictionSource | None) -> tuple[str, list[str]]:
    """Leave out images whose prediction ``source`` made (none left out for None)."""
    if source is None:
        return "", []
    return (
        " AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.image_id = images.id"
        " AND p.model = ? AND p.weights = ?)",
        [source.model, source.weights],
    )


DAMAGED_SUFFIX = ".damaged"


@dataclass(frozen=True)
class JournalReview:
    """The autosave journal at opening: ids to offer for recovery (list order), and the
    (id, reason) of entries that cannot be read."""

    recoverable: list[str]
    damaged: list[tuple[str, str]]


class Project:
    """A project folder opened for reading and writing; see the module notes for the layout.

    Calls may come from several threads (one at a time, serialised by the store), but a batch
    belongs to the thread that opened it.
    """

    def __init__(self, root: Path, store: Store) -> None:
        self.root = Path(root).resolve()
        self._store = store
        meta = dict(store.rows("SELECT key, value FROM meta"))
        name = meta.get("name")
        if not isinstance(name, str):
            raise ProjectError(f"{store.path}: the project has no name")
        self.name = name
        try:
            self._palette = Palette.from_dict(json.loads(meta.get("palette", "null")))
        except (PaletteError, json.JSONDecodeError) as error:
            raise ProjectError(f"{store.path}: palette: {error}") from error

    # -- creating, opening, closing ---------------------------------------------------------------

    @classmethod
    def create(cls, root: str | Path, palette: Palette, name: str | None = None) -> Project:
        """Start a project in ``root`` (created if needed; images already there are fine)."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root}: exists and is not a folder")
        for existing in (root / INDEX_NAME, root / MANIFEST_NAME):
            if existing.exists():
                raise ProjectError(f"{existing}: a project already exists here; open it instead")
        root.mkdir(parents=True, exist_ok=True)
        try:
            build_index(root / INDEX_NAME, index_meta(name or root.resolve().name, palette), [])
        except FileExistsError:
            raise ProjectError(
                f"{root / INDEX_NAME}: a project already exists here; open it instead"
            ) from None
        except StoreError as error:
            raise ProjectError(str(error)) from error
        return cls.open(root)

    @classmethod
    def open(cls, root: str | Path) -> Project:
        """Open a project folder (migrating a schema-1 one), finish saves a crash cut short and
        remove stale temporary files; the photos are not looked at."""
        root = Path(root)
        index = root / INDEX_NAME
        if not index.is_file():
            if not (root / MANIFEST_NAME).is_file():
                raise ProjectError(f"{index}: not found; {root} is not a segstudio project")
            migrate_manifest(root)
        try:
            store = Store(index)
        except StoreError as error:
            raise ProjectError(str(error)) from error
        try:
            project = cls(root, store)
            project._finish_interrupted_saves()
        except (ProjectError, StoreError) as error:
            store.close()
            raise ProjectError(str(error)) from error
        remove_stale_temp_files([project.root, *(project.root / d for d in _DATA_DIRS)])
        return project

    def close(self) -> None:
        """Close the index (a closed project cannot be used again)."""
        self._store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def index_path(self) -> Path:
        return self._store.path

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many ``add_image``/``save_labels``/``set_state`` calls into one transaction (an
        import): one commit for all. Saves inside a batch are not crash-noted one by one; the
        batch commits whole or not at all, so use it where the output is built under a staging
        name (as imports are) or where losing the whole batch is fine."""
        with self._translated(), self._store.batch():
            yield

    def changes_seen(self) -> int:
        """A number that changes whenever another process commits to this project."""
        with self._translated():
            return self._store.data_version()

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except StoreError as error:
            raise ProjectError(str(error)) from error

    # -- name and palette -------------------------------------------------------------------------

    @property
    def palette(self) -> Palette:
        return self._palette

    def set_palette(self, palette: Palette) -> None:
        """Make ``palette`` the project's and save it (when saving fails, the ProjectError says so
        and the palette stays in use for this session)."""
        self._palette = palette
        value = json.dumps(palette.to_dict(), ensure_ascii=False)
        with self._translated(), self._store.write() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('palette', ?)", (value,))

    # -- listing ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._translated():
            return self._store.scalar("SELECT count(*) FROM images")

    def image_ids(self, states: Collection[ImageState] | None = None) -> list[str]:
        """Ids in list order (the order they were added), of the given states only when asked."""
        where, values = _state_filter(states)
        with self._translated():
            return [
                row[0]
                for row in self._store.rows(f"SELECT id FROM images WHERE 1{where} ORDER BY seq", values)
            ]

    def id_states(self) -> tuple[list[str], list[str]]:
        """Every id and its state value, in list order: what an image list shows, in one query."""
        with self._translated():
            rows = self._store.rows("SELECT id, state FROM images ORDER BY seq")
        return [row[0] for row in rows], [row[1] for row in rows]

    def entries(
        self, states: Collection[ImageState] | None = None, unpredicted_by: PredictionSource | None = None
    ) -> Iterator[ImageEntry]:
        """Every entry in list order (of the given states when asked; without those whose prediction
        ``unpredicted_by`` made, when given), read a page at a time, so a 100k-image project is
        never held in memory whole and no read stays open between pages."""
        where, values = _state_filter(states)
        skip, skipped = _source_filter(unpredicted_by)
        where, values = where + skip, values + skipped
        after = -1
        while True:
            with self._translated():
                rows = self._store.rows(
                    f"{_SELECT} WHERE seq > ?{where} ORDER BY seq LIMIT {_PAGE}", [after, *values]
                )
            for row in rows:
                yield self._entry_of(row[1:])
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def state_counts(self) -> dict[ImageState, int]:
        """How many images are in each state (every state listed, zeros included)."""
        with self._translated():
            counted = dict(self._store.rows("SELECT state, count(*) FROM images GROUP BY state"))
        return {state: counted.get(state.value, 0) for state in ImageState}

    def first_image_id(self) -> str | None:
        with self._translated():
            return self._store.scalar("SELECT id FROM images ORDER BY seq LIMIT 1")

    def stored_path(self, path: str | Path) -> str:
        """How the index writes ``path``: relative (POSIX) to the root when inside it, so the folder
        can move; else absolute."""
        resolved = Path(path).resolve()
        try:
            return resolved.relative_to(self.root).as_posix()
        except ValueError:
            return str(resolved)

    def image_id_of(self, path: str | Path) -> str | None:
        """The id of the image listed for the file ``path``, or None."""
        with self._translated():
            return self._store.scalar("SELECT id FROM images WHERE file = ?", (self.stored_path(path),))

    def stored_files(self) -> set[str]:
        """Every listed image file as the index writes it (``stored_path``)."""
        with self._translated():
            return {row[0] for row in self._store.rows("SELECT file FROM images")}

    # -- images -----------------------------------------------------------------------------------

    def _entry_of(self, row: tuple[Any, ...]) -> ImageEntry:
        fields = dict(zip(IMAGE_COLUMNS, row, strict=True))
        if fields["source"] is not None:
            try:
                fields["source"] = json.loads(fields["source"])
            except json.JSONDecodeError as error:
                raise ProjectError(
                    f"{self.index_path}: image {fields['id']!r}: 'source' is not JSON ({error})"
                ) from None
        return checked_entry(fields, str(self.index_path))

    def _resolve(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def add_image(
        self,
        path: str | Path,
        image_id: str | None = None,
        depth: str | Path | None = None,
        dataset_entry: dict[str, Any] | None = None,
    ) -> ImageEntry:
        """List an image (and optionally its 16-bit depth map); saved at once (or with the batch).

        The id defaults to the file name less its suffix, made unique with ``-2``, ``-3``, ... .
        Only the image header is read. A depth map must have the image's size.
        """
        source = Path(path)
        stored = self.stored_path(source)
        if image_id is not None and (problem := id_problem(image_id)):
            raise ProjectError(f"{source}: image id {image_id!r} {problem}")
        try:
            size = image_size(source)
        except ImageReadError as error:
            raise ProjectError(str(error)) from error
        depth_stored = None
        if depth is not None:
            try:
                depth_shape = read_depth(depth).shape
            except ImageReadError as error:
                raise ProjectError(str(error)) from error
            if depth_shape != size:
                raise ProjectError(
                    f"{depth}: depth map is {depth_shape[1]}x{depth_shape[0]} but image {source} "
                    f"is {size.width}x{size.height}"
                )
            depth_stored = self.stored_path(depth)
        with self._translated(), self._store.write() as db:
            if db.execute("SELECT 1 FROM images WHERE file = ?", (stored,)).fetchone():
                raise ProjectError(f"{source}: already in the project")

            def taken(key: str) -> bool:
                return db.execute("SELECT 1 FROM images WHERE key = ?", (key,)).fetchone() is not None

            if image_id is None:
                base = image_id = id_from_name(source.name)
                suffix = 2
                while taken(image_id.casefold()):
                    image_id, suffix = f"{base}-{suffix}", suffix + 1
            elif taken(image_id.casefold()):
                raise ProjectError(f"{source}: image id {image_id!r} is already used (ids ignore case)")
            entry = ImageEntry(
                image_id,
                stored,
                size.width,
                size.height,
                ImageState.UNLABELLED,
                depth_stored,
                dict(dataset_entry or {}),
            )
            db.execute(INSERT_IMAGE, insert_values(entry.row()))
        return entry

    def entry(self, image_id: str) -> ImageEntry:
        with self._translated():
            row = self._store.row(f"SELECT {', '.join(IMAGE_COLUMNS)} FROM images WHERE id = ?", (image_id,))
        if row is None:
            raise ProjectError(f"{self.index_path}: no image with id {image_id!r}")
        return self._entry_of(row)

    def set_state(self, image_id: str, state: ImageState) -> None:
        """Record an image's state: one small transaction."""
        with self._translated(), self._store.write() as db:
            changed = db.execute(
                "UPDATE images SET state = ? WHERE id = ?", (ImageState(state).value, image_id)
            )
        if changed.rowcount == 0:
            raise ProjectError(f"{self.index_path}: no image with id {image_id!r}")

    def mark_prelabelled(self, image_id: str) -> ImageState:
        """unlabelled -> pre-labelled, in one statement, so a person's state written meanwhile by
        another process is never overwritten; returns the state the image has now."""
        with self._translated(), self._store.write() as db:
            db.execute(
                "UPDATE images SET state = ? WHERE id = ? AND state = ?",
                (ImageState.PRELABELLED.value, image_id, ImageState.UNLABELLED.value),
            )
            row = db.execute("SELECT state FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise ProjectError(f"{self.index_path}: no image with id {image_id!r}")
        return ImageState(row[0])

    def image_path(self, image_id: str) -> Path:
        return self._resolve(self.entry(image_id).file)

    def depth_path(self, image_id: str) -> Path | None:
        depth = self.entry(image_id).depth
        return None if depth is None else self._resolve(depth)

    def missing_files(self, image_id: str) -> list[Path]:
        """The image's photo and depth map where they are not on disk (checked now, not on open)."""
        entry = self.entry(image_id)
        paths = [self._resolve(entry.file)] + ([self._resolve(entry.depth)] if entry.depth else [])
        return [path for path in paths if not path.is_file()]

    def read_image(self, image_id: str) -> np.ndarray:
        """The image as (H, W, 3) uint8 RGB; refused if missing or its size changed since it was added."""
        entry = self.entry(image_id)
        path = self._resolve(entry.file)
        try:
            rgb = read_rgb(path)
        except ImageReadError as error:
            raise ProjectError(str(error)) from error
        self._check_size(entry, path, rgb.shape[:2], "image")
        return rgb

    def read_depth(self, image_id: str) -> np.ndarray | None:
        """The depth map as (H, W) uint16 millimetres, or None when the image has none."""
        entry = self.entry(image_id)
        if entry.depth is None:
            return None
        path = self._resolve(entry.depth)
        try:
            depth = read_depth(path)
        except ImageReadError as error:
            raise ProjectError(str(error)) from error
        self._check_size(entry, path, depth.shape, "depth map")
        return depth

    def _check_size(self, entry: ImageEntry, path: Path, shape: tuple[int, ...], what: str) -> None:
        check_size(entry, path, shape, what)

    def image_task(self, entry: ImageEntry) -> ImageTask:
        """What a pre-label worker needs of an image: its id, absolute file and size."""
        return ImageTask(entry.id, str(self._resolve(entry.file)), entry.width, entry.height)

    # -- labels, predictions and the autosave journal ------------------------------------------

    def labels_file(self, image_id: str) -> Path:
        return self._data_file(LABELS_DIR, self.entry(image_id))

    def _data_file(self, folder: str, entry: ImageEntry) -> Path:
        return self.root / folder / f"{entry.id}{LABEL_FILE_SUFFIX}"

    def _read(self, entry: ImageEntry, path: Path) -> StoredLabels | None:
        """Stored labels checked against the image size; None when the file does not exist."""
        try:
            stored = read_label_file(path)
        except FileNotFoundError:
            return None
        except LabelFileError as error:
            raise ProjectError(str(error)) from error
        self._check_size(entry, path, stored.labels.shape, "label map")
        return stored

    def _write(self, entry: ImageEntry, path: Path, labels: LabelMap, **options: Any) -> str:
        if labels.shape != (entry.height, entry.width):
            raise ProjectError(
                f"{path}: refusing labels of shape {labels.shape}; image {entry.id!r} is "
                f"{entry.width}x{entry.height} (shape {(entry.height, entry.width)})"
            )
        try:
            return write_label_file(path, labels, **options)
        except ValueError as error:
            raise ProjectError(str(error)) from error

    def load_labels(self, image_id: str) -> LabelMap:
        """The saved labels, or an empty (all VOID) map of the image's size when none were saved."""
        entry = self.entry(image_id)
        stored = self._read(entry, self._data_file(LABELS_DIR, entry))
        return LabelMap.empty(entry.height, entry.width) if stored is None else stored.labels

    def save_labels(self, image_id: str, labels: LabelMap, state: ImageState = ImageState.EDITED) -> None:
        """Save labels atomically, drop the image's autosave and record ``state`` in the index.

        A state change is noted (with the file's revision token) before the file is written, so
        a crash in between is finished by the next open (see the module notes).
        """
        entry, state = self.entry(image_id), ImageState(state)
        revision = uuid.uuid4().hex
        noted = entry.state != state and not self._store.in_batch
        if noted:
            with self._translated(), self._store.write() as db:
                db.execute(
                    "UPDATE images SET pending_state = ?, pending_revision = ? WHERE id = ?",
                    (state.value, revision, entry.id),
                )
        self._write(entry, self._data_file(LABELS_DIR, entry), labels, revision=revision)
        self.discard_autosave(image_id)
        if entry.state != state:
            with self._translated(), self._store.write() as db:
                db.execute(
                    "UPDATE images SET state = ?, pending_state = CASE WHEN pending_revision = ? THEN NULL "
                    "ELSE pending_state END, pending_revision = CASE WHEN pending_revision = ? THEN NULL "
                    "ELSE pending_revision END WHERE id = ?",
                    (state.value, revision, revision, entry.id),
                )

    def _finish_interrupted_saves(self) -> None:
        """Record the state of saves whose labels file was written but whose index update was not.

        A note whose file does not carry its token is left: that save never wrote (or another
        process is writing it now); the state in the index still matches the file on disk.
        """
        with self._translated():
            notes = self._store.rows(
                "SELECT id, pending_state, pending_revision FROM images WHERE pending_state IS NOT NULL"
            )
        for image_id, state, revision in notes:
            if id_problem(image_id):
                continue
            try:
                written = read_label_tokens(self.root / LABELS_DIR / f"{image_id}{LABEL_FILE_SUFFIX}")[0]
            except (FileNotFoundError, LabelFileError):
                continue
            if written != revision or state not in {s.value for s in ImageState}:
                continue
            with self._translated(), self._store.write() as db:
                db.execute(
                    "UPDATE images SET state = ?, pending_state = NULL, pending_revision = NULL "
                    "WHERE id = ? AND pending_revision = ?",
                    (state, image_id, revision),
                )

    def load_prediction(self, image_id: str) -> LabelMap | None:
        entry = self.entry(image_id)
        stored = self._read(entry, self._data_file(PREDICTIONS_DIR, entry))
        return None if stored is None else stored.labels

    def save_prediction(
        self, image_id: str, labels: LabelMap, source: PredictionSource | None = None
    ) -> None:
        """Keep a model's output beside, never over, the human-corrected labels; ``source`` (which
        model made it) goes into the file and the index. A record of another source is dropped
        before the file is replaced, so a crash in between never leaves a wrong record."""
        entry = self.entry(image_id)
        if self.prediction_source(image_id) not in (None, source):
            self.forget_predictions([image_id])
        write_prediction(self.root, self.image_task(entry), labels, source)
        if source is not None:
            self.record_predictions([image_id], source)

    def file_prediction(
        self, image_id: str, labels: LabelMap, source: PredictionSource | None = None
    ) -> ImageState:
        """Pre-label one image: its prediction saved (``save_prediction``), then unlabelled ->
        pre-labelled (``mark_prelabelled``); labels a person saved are never touched. Returns
        the image's state now. The one way the app and ``segstudio prelabel`` file a prediction."""
        self.save_prediction(image_id, labels, source)
        return self.mark_prelabelled(image_id)

    def prediction_source(self, image_id: str) -> PredictionSource | None:
        """Which model made the image's prediction, as the index records it (None: not known)."""
        with self._translated():
            row = self._store.row("SELECT model, weights FROM predictions WHERE image_id = ?", (image_id,))
        return None if row is None else PredictionSource(*row)

    def record_predictions(self, image_ids: Collection[str], source: PredictionSource) -> None:
        """Note that ``source`` wrote these images' prediction files (already on disk) and move the
        unlabelled ones to pre-labelled: one transaction for all, states a person set kept."""
        ids = list(image_ids)
        with self._translated(), self._store.write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO predictions (image_id, model, weights) VALUES (?, ?, ?)",
                [(image_id, source.model, source.weights) for image_id in ids],
            )
            db.executemany(
                "UPDATE images SET state = ? WHERE id = ? AND state = ?",
                [(ImageState.PRELABELLED.value, image_id, ImageState.UNLABELLED.value) for image_id in ids],
            )

    def forget_predictions(self, image_ids: Collection[str]) -> None:
        """Drop the records of which model made these predictions (before they are rewritten)."""
        with self._translated(), self._store.write() as db:
            db.executemany("DELETE FROM predictions WHERE image_id = ?", [(i,) for i in image_ids])

    def autosave(self, image_id: str, labels: LabelMap) -> None:
        """Journal unsaved edits (atomic, fast compression); the saved label file is not touched."""
        entry = self.entry(image_id)
        try:
            base = read_label_tokens(self._data_file(LABELS_DIR, entry))[0]
        except (FileNotFoundError, LabelFileError):
            base = ""  # nothing usable saved: recoverable() offers this entry whatever its base
        path = self._data_file(AUTOSAVE_DIR, entry)
        self._write(entry, path, labels, base=base, compresslevel=_AUTOSAVE_COMPRESSLEVEL)

    def recoverable(self) -> list[str]:
        """Ids whose journal entry holds edits made after their labels were last saved (list order)."""
        return self.journal_review().recoverable

    def journal_review(self) -> JournalReview:
        """What the autosave journal holds: entries worth recovering, and damaged ones.

        An entry made on top of an older save (the crash fell between saving and clearing the
        journal) is stale and not listed; one whose saved labels are missing or unusable is
        recoverable, being the best copy left. A journal file that cannot be read is listed as
        damaged with the reason, so the app can say so instead of dropping it silently.
        Only the journal folder is listed, never every image.
        """
        try:
            names = [e.name for e in os.scandir(self.root / AUTOSAVE_DIR) if e.is_file()]
        except FileNotFoundError:
            return JournalReview([], [])
        found: list[str] = []
        damaged: list[tuple[str, str]] = []
        for name in names:
            image_id = name[: -len(LABEL_FILE_SUFFIX)]
            if name.startswith(".") or not name.endswith(LABEL_FILE_SUFFIX) or id_problem(image_id):
                continue
            try:
                entry = self.entry(image_id)
            except ProjectError:  # a journal of an image no longer listed
                continue
            try:
                _, base = read_label_tokens(self._data_file(AUTOSAVE_DIR, entry))
            except FileNotFoundError:  # discarded meanwhile
                continue
            except LabelFileError as error:
                damaged.append((image_id, str(error)))
                continue
            try:
                saved = self._read(entry, self._data_file(LABELS_DIR, entry))
            except ProjectError:  # corrupt or wrong shape: the journal is the best copy left
                saved = None
            if saved is None or saved.revision == base:
                found.append(image_id)
        return JournalReview(self._in_list_order(found), sorted(damaged))

    def _in_list_order(self, image_ids: list[str]) -> list[str]:
        if len(image_ids) < 2:
            return image_ids
        with self._translated():
            order = dict(
                self._store.rows(
                    f"SELECT id, seq FROM images WHERE id IN ({', '.join('?' * len(image_ids))})", image_ids
                )
            )
        return sorted(image_ids, key=order.__getitem__)

    def set_aside_journal(self, image_id: str) -> Path:
        """Rename an image's (damaged) journal entry to ``NAME.damaged``: kept for a person to look
        at, no longer offered. Returns its new path."""
        path = self._data_file(AUTOSAVE_DIR, self.entry(image_id))
        aside = path.with_name(path.name + DAMAGED_SUFFIX)
        os.replace(path, aside)
        return aside

    def recover(self, image_id: str) -> LabelMap:
        """The journaled labels of an image (call ``save_labels`` to keep them)."""
        entry = self.entry(image_id)
        path = self._data_file(AUTOSAVE_DIR, entry)
        stored = self._read(entry, path)
        if stored is None:
            raise ProjectError(f"{path}: no autosave to recover for image {image_id!r}")
        return stored.labels

    def discard_autosave(self, image_id: str) -> None:
        self._data_file(AUTOSAVE_DIR, self.entry(image_id)).unlink(missing_ok=True)
