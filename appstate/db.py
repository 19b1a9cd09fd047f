"""The app-state database file: connections, transactions and the ONE ordered migration list.

SQLite in WAL mode at ``settings.app_db_path``: several web processes, the CLI and the worker
read and write it at once, so every write is a short transaction, read-modify-write sequences
use ``BEGIN IMMEDIATE`` (taking the write lock before reading), and timestamps always come from
Python (never SQLite's clock) so tests can move time. The warehouse is never touched here.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

# Each entry upgrades the schema from version i to i + 1. Append, never edit a shipped entry.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE users (
        user_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
        password_hash TEXT NOT NULL,
        is_disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        password_changed_at TEXT NOT NULL,
        last_login_at TEXT
    );
    CREATE TABLE user_offices (
        user_id INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        office_code TEXT NOT NULL,
        PRIMARY KEY (user_id, office_code)
    );
    -- session_hash = sha256 of the token kept in the (signed) browser cookie, so a copy of
    -- this database does not let anyone take over a live session.
    CREATE TABLE sessions (
        session_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,
        remote_addr TEXT,
        user_agent TEXT,
        ended_at REAL,
        end_reason TEXT
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    -- One row per throttled key: kind 'account' (normalised user name, whether or not the
    -- user exists, so responses do not reveal which names exist) or 'address' (remote addr).
    CREATE TABLE login_throttle (
        kind TEXT NOT NULL CHECK (kind IN ('account', 'address')),
        key TEXT NOT NULL,
        failures INTEGER NOT NULL,
        last_failure_at REAL NOT NULL,
        next_allowed_at REAL NOT NULL,
        locked_at REAL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE audit (
        audit_id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user_name TEXT,
        role TEXT,
        remote_addr TEXT,
        action TEXT NOT NULL,
        target TEXT,
        details TEXT
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE INDEX audit_user ON audit(user_name, at);
    """,
    # 1 → 2: a password an administrator set (new user, reset) must be replaced at next sign-in.
    """
    ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
    """,
    # 2 → 3: sign-in throttling per (address, account) pair as well, locks that expire by
    # themselves (locked_until), and a random salt for the buckets unknown user names share.
    # Locks of the old model (until an administrator lifted them) are not carried over.
    """
    CREATE TABLE login_throttle_v3 (
        kind TEXT NOT NULL CHECK (kind IN ('pair', 'account', 'address')),
        key TEXT NOT NULL,
        failures INTEGER NOT NULL,
        last_failure_at REAL NOT NULL,
        next_allowed_at REAL NOT NULL,
        locked_at REAL,
        locked_until REAL,
        PRIMARY KEY (kind, key)
    );
    INSERT INTO login_throttle_v3 (kind, key, failures, last_failure_at, next_allowed_at)
        SELECT kind, key, failures, last_failure_at, next_allowed_at FROM login_throttle;
    DROP TABLE login_throttle;
    ALTER TABLE login_throttle_v3 RENAME TO login_throttle;
    CREATE INDEX login_throttle_last ON login_throttle(last_failure_at);
    CREATE TABLE app_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO app_meta (key, value) VALUES ('throttle_salt', lower(hex(randomblob(16))));
    """,
    # 3 → 4: the review workflow (appstate/review.py): each profile's state and the history of
    # its transitions. Until version 3 the review module created these tables itself, with this
    # very DDL, so a version-3 database may have them already ("IF NOT EXISTS").
    """
    CREATE TABLE IF NOT EXISTS review_state (
        profile_id TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('flagged', 'under_review', 'decided')),
        decision TEXT CHECK (decision IN ('keep', 'modify', 'suspend', 'retire')),
        rationale TEXT,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS review_events (
        event_id INTEGER PRIMARY KEY,
        profile_id TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        decision TEXT,
        rationale TEXT,
        user_name TEXT NOT NULL,
        role TEXT,
        at TEXT NOT NULL,
        audit_id INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS review_events_profile ON review_events(profile_id, event_id);
    """,
    # 4 → 5: saved views (appstate/saved_views.py): a user's named links to a view of the
    # dashboard (path and query string), removed with the user.
    """
    CREATE TABLE saved_views (
        view_id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (user_id, name)
    );
    CREATE INDEX saved_views_user ON saved_views(user_id, name);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class AppStateError(ValueError):
    """A request the app state refuses (unknown user, duplicate name, invalid value)."""


def utc_now_iso() -> str:
    """Now, as every text timestamp of the database is written (UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def utc_iso(stamp: str) -> str:
    """``stamp`` (an ISO date or timestamp; no offset = UTC) written like :func:`utc_now_iso`,
    so the two compare as text."""
    try:
        moment = datetime.fromisoformat(stamp.strip())
    except ValueError:
        raise AppStateError(f"not an ISO date or timestamp: {stamp!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class Database:
    """One app-state database file, migrated to :data:`SCHEMA_VERSION` when opened; cheap to
    create, safe to share between threads (a connection per operation)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(self.path)
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) where they matter.
        con = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA busy_timeout = 10000")
        return con

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction that holds the write lock from its first statement."""
        with self._read() as con, _immediate(con):
            yield con

    def _migrate(self) -> None:
        with self._read() as con:
            # WAL lets readers in other processes proceed while one process writes.
            con.execute("PRAGMA journal_mode = WAL")
            with _immediate(con):
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise AppStateError(
                        f"{self.path} has schema version {version}, newer than this program "
                        f"({SCHEMA_VERSION}); upgrade customs-kpi"
                    )
                for target in range(version, SCHEMA_VERSION):
                    for statement in split_sql(MIGRATIONS[target]):
                        con.execute(statement)
                    con.execute(f"PRAGMA user_version = {target + 1}")

    def schema_version(self) -> int:
        with self._read() as con:
            return int(con.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def _immediate(con: sqlite3.Connection) -> Iterator[None]:
    """A transaction that takes the write lock at once, committed unless the body raises."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (password and session hashes).

    SQLite gives the -wal and -shm files the permissions of the database file, so creating
    it 0600 before SQLite does keeps all three private.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def split_sql(script: str) -> list[str]:
    """Statements of a migration (no semicolons inside literals in our migrations)."""
    statements = []
    for chunk in script.split(";"):
        lines = [ln for ln in chunk.splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            statements.append(text)
    return statements


_Store = TypeVar("_Store")


def per_database(factory: Callable[[Path], _Store]) -> Callable[[Path], _Store]:
    """``factory(path)`` made once per app-state database and process (its migration check
    runs on first use, not on every callback): ``store_for = per_database(ReviewStore)``."""
    stores: dict[Path, _Store] = {}
    lock = threading.Lock()

    def store_for(path: Path) -> _Store:
        key = Path(path).resolve()
        with lock:
            store = stores.get(key)
            if store is None:
                store = stores[key] = factory(key)
            return store

    return store_for
