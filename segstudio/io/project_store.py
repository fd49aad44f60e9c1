"""The project index: one SQLite database (``project.db``) in the project folder.

Why SQLite: changing one image's state is one small transaction instead of a rewrite of the whole
index, a 100k-image project opens without reading every entry, and several processes (the app, a
batch pre-label, an import) can work on one project at once. WAL mode lets readers go on while one
process writes; every write transaction starts with ``BEGIN IMMEDIATE``, so a writer waits for the
lock up front (``busy_timeout``) instead of failing when a read would have to be upgraded. Commits
are ``synchronous=FULL``: a state that says "labelled" must survive a power cut like the labels.

The schema version is ``PRAGMA user_version`` (schema 1 was the JSON manifest, see
``project_migration``); ``PRAGMA application_id`` marks the file as ours. An index of an older
SQLite schema is upgraded in place on open, one ``_UPGRADES`` step per version, each in one
transaction that re-reads the version first (two processes opening at once upgrade it once).
Any SQLite error becomes a ProjectError naming the database file.

Schema 3 added ``predictions``: which model (name and a digest of its weights) made each image's
prediction file, so a dataset-wide pre-label run skips images already done by the same model.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from segstudio.io.leftovers import owner_token

INDEX_NAME = "project.db"
SCHEMA_VERSION = 3
APPLICATION_ID = 0x53675374  # "SgSt"
BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another process's transaction before the user hears of it."""

IMAGE_COLUMNS = ("id", "file", "width", "height", "state", "depth", "source")
INSERT_IMAGE = (
    "INSERT INTO images (id, key, file, width, height, state, depth, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

_PREDICTIONS = """
CREATE TABLE predictions (
    image_id TEXT PRIMARY KEY,        -- images.id whose predictions/<id>.npz this model wrote
    model TEXT NOT NULL,              -- the registered model name
    weights TEXT NOT NULL             -- digest of its weights file ("sha256:...")
) WITHOUT ROWID;
"""
_SCHEMA = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE images (
    seq INTEGER PRIMARY KEY,          -- list order: the order images were added
    id TEXT NOT NULL,                 -- unique (index below)
    key TEXT NOT NULL,                -- id.casefold(): ids are unique ignoring case
    file TEXT NOT NULL,               -- relative (POSIX) to the root when inside it, else absolute
    width INTEGER NOT NULL CHECK (width > 0),
    height INTEGER NOT NULL CHECK (height > 0),
    state TEXT NOT NULL CHECK (state IN ('unlabelled', 'prelabelled', 'edited', 'reviewed')),
    depth TEXT,
    source TEXT,                      -- the dataset entry (JSON object) or NULL
    pending_state TEXT,               -- a labels save in flight: the state it will record ...
    pending_revision TEXT             -- ... once the labels file carries this revision
);
"""
    + _PREDICTIONS
)
_UPGRADES = {2: _PREDICTIONS}
"""SQL taking an index from the key's schema version to the next."""
_INDEXES = """
CREATE UNIQUE INDEX images_by_id ON images (id);
CREATE UNIQUE INDEX images_by_key ON images (key);
CREATE INDEX images_by_state ON images (state, seq);
CREATE INDEX images_by_file ON images (file);
CREATE INDEX images_pending ON images (seq) WHERE pending_state IS NOT NULL;
"""


def insert_values(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``INSERT_IMAGE``'s values for an ``IMAGE_COLUMNS`` row (the case-folded id added)."""
    return (row[0], row[0].casefold(), *row[1:])


class StoreError(Exception):
    """The index cannot be used; the message names the database file and the problem."""


def _describe(path: Path, error: sqlite3.Error) -> str:
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and "locked" in text:
        return (
            f"{path}: the project is busy: another process has held it for more than "
            f"{BUSY_TIMEOUT_S:.0f} s; try again"
        )
    if "not a database" in text or "malformed" in text or type(error) is sqlite3.DatabaseError:
        return f"{path}: corrupt project index ({text})"
    return f"{path}: project index: {text}"


@contextlib.contextmanager
def _translated(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        raise StoreError(_describe(path, error)) from error


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return connection


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def build_index(path: Path, meta: dict[str, str], rows: Iterable[tuple[Any, ...]]) -> None:
    """Write a complete index at ``path`` atomically: built under a temporary name, then linked
    into place, so it appears whole or not at all. ``rows`` are ``IMAGE_COLUMNS`` tuples.

    Raises FileExistsError when ``path`` exists (e.g. another process got there first). The
    temporary file is written without a journal (nobody sees it until it is complete and fsynced)
    and indexed after its rows are in, which makes migrating 100k images several times faster.
    """
    temporary = path.with_name(f".{path.name}{owner_token()}{uuid.uuid4().hex[:8]}.tmp")
    try:
        with _translated(temporary), contextlib.closing(_connect(temporary)) as connection:
            connection.execute("PRAGMA journal_mode = OFF")
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.executescript(_SCHEMA)
            connection.execute("BEGIN")
            connection.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            connection.executemany(INSERT_IMAGE, (insert_values(row) for row in rows))
            for statement in filter(str.strip, _INDEXES.split(";")):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
            connection.execute("PRAGMA journal_mode = WAL")  # kept in the file: every opener uses WAL
        _fsync(temporary)
        _link_into_place(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync(path.parent)


def _link_into_place(temporary: Path, path: Path) -> None:
    """Give ``temporary`` the name ``path`` unless that exists (a link never replaces a file)."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system: a rename, after a check
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(temporary, path)


class Store:
    """An open index. Reads run in autocommit (each sees the latest commit of every process);
    writes are ``write()`` blocks, and ``batch()`` joins many of them into one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()  # the connection may be shared by threads: one at a time
        self._depth = 0
        with _translated(path):
            self._connection = _connect(path)
            try:
                self._check()
            except BaseException:
                self._connection.close()
                raise

    def _check(self) -> None:
        application_id = self.scalar("PRAGMA application_id")
        version = self.scalar("PRAGMA user_version")
        if application_id != APPLICATION_ID:
            raise StoreError(f"{self.path}: not a segstudio project index")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer segstudio (schema version {version}; this one reads "
                f"up to {SCHEMA_VERSION}); upgrade segstudio to open it"
            )
        if version < min(_UPGRADES, default=SCHEMA_VERSION):
            raise StoreError(f"{self.path}: unknown schema version {version}")
        if self.scalar("PRAGMA journal_mode") != "wal":
            self.scalar("PRAGMA journal_mode = WAL")
        self._connection.execute("PRAGMA synchronous = FULL")
        if version < SCHEMA_VERSION:
            self._upgrade()

    def _upgrade(self) -> None:
        """Bring an older index up to ``SCHEMA_VERSION``, one step per transaction; the version is
        read again inside each, so a process that lost the race to upgrade does nothing."""
        while True:
            with self.write() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    return
                for statement in filter(str.strip, _UPGRADES[version].split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # -- reading ---------------------------------------------------------------------------------

    def rows(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, _translated(self.path):
            return self._connection.execute(sql, tuple(parameters)).fetchall()

    def row(self, sql: str, parameters: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock, _translated(self.path):
            return self._connection.execute(sql, tuple(parameters)).fetchone()

    def scalar(self, sql: str, parameters: Iterable[Any] = ()) -> Any:
        found = self.row(sql, parameters)
        return None if found is None else found[0]

    def data_version(self) -> int:
        """Changes whenever another connection (another process) commits: a cheap "anything new?"."""
        return self.scalar("PRAGMA data_version")

    # -- writing ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (joined into the enclosing ``batch()`` when there is one)."""
        with self._lock, _translated(self.path):
            if self._depth:
                yield self._connection
                return
            self._connection.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._connection
            except BaseException:
                self._depth = 0
                with contextlib.suppress(sqlite3.Error):
                    self._connection.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self._connection.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._connection.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Many writes as one transaction: one commit (and one fsync) for a whole import."""
        with self._lock, self.write():
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1

    @property
    def in_batch(self) -> bool:
        return self._depth > 1
