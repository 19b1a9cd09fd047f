"""The app-state database: users, office scopes, sessions, login throttling and the audit trail.

SQLite in WAL mode at ``settings.app_db_path``: several web processes (and the CLI) read and
write it at once, so every write is a short transaction, read-modify-write sequences use
``BEGIN IMMEDIATE`` (taking the write lock before reading), and timestamps always come from
Python (never SQLite's clock) so tests can move time. The warehouse is never touched here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dashboard.roles import Role, parse_role

SCHEMA_VERSION = 3

# Each entry upgrades the schema from version i to i + 1. Append, never edit a shipped entry.
_MIGRATIONS: list[str] = [
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
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
OFFICE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


class AppStateError(ValueError):
    """A request the app state refuses (unknown user, duplicate name, invalid value)."""


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    role: Role
    offices: tuple[str, ...]  # empty = every office
    is_disabled: bool
    created_at: str
    last_login_at: str | None
    password_hash: str
    must_change_password: bool = False  # set by an administrator: replace it at next sign-in

    @property
    def scope(self) -> frozenset[str] | None:
        """Offices this user may see; None = all."""
        return frozenset(self.offices) if self.offices else None


@dataclass(frozen=True)
class SessionRecord:
    session_hash: str
    user_id: int
    csrf_token: str
    created_at: float
    last_seen_at: float
    ended_at: float | None


THROTTLE_KINDS = ("pair", "account", "address")
UNKNOWN_NAME_PREFIX = "?"  # account keys of unknown names ('?' is never part of a user name)


def pair_key(address: str, account_key: str) -> str:
    """The throttle key of one account tried from one address."""
    return f"{address}|{account_key}"


@dataclass(frozen=True)
class ThrottleState:
    kind: str  # 'pair' (address|account), 'account' or 'address'
    key: str
    failures: int
    last_failure_at: float
    next_allowed_at: float
    locked_at: float | None
    locked_until: float | None = None

    def is_locked_at(self, now: float) -> bool:
        return self.locked_until is not None and now < self.locked_until

    @property
    def is_locked(self) -> bool:
        """Locked now (a lock ends by itself at ``locked_until``)."""
        return self.is_locked_at(time.time())

    @property
    def account(self) -> str | None:
        """The account key of a 'pair' or 'account' row."""
        if self.kind == "account":
            return self.key
        if self.kind == "pair":
            return self.key.split("|", 1)[1]
        return None

    @property
    def address(self) -> str | None:
        if self.kind == "address":
            return self.key
        if self.kind == "pair":
            return self.key.split("|", 1)[0]
        return None


@dataclass(frozen=True)
class ThrottlePolicy:
    """Sign-in throttling (OWASP ASVS 2.2): slows guessing, never locks a user out for good.

    * Per (address, account): no delay for the first ``free_failures`` failures, then
      ``base_delay_seconds`` doubling (2, 4, 8 … s) up to ``max_delay_seconds``; at
      ``lockout_after`` failures the pair is locked for ``lock_seconds`` (it ends by itself;
      each further failure locks it again). Other accounts from that address are not affected.
    * Per account (every address together, against guessing from many addresses): delays after
      ``account_free_failures`` failures, capped at ``account_max_delay_seconds``, so a real user
      waits a minute at most; administrators are told at ``account_alert_after`` failures.
    * Per address (every account together, against spraying one password over many names):
      delays after ``address_free_failures`` failures, capped at ``address_max_delay_seconds``
      (colleagues behind one NAT wait a minute at most), and a lock of ``lock_seconds`` at
      ``address_lockout_after`` — a ceiling well above what an office mistypes in an hour.
    * Failures are forgotten ``forget_after_seconds`` after the last one; a successful sign-in
      clears the pair and the account (never the address ceiling).
    * Unknown user names share ``unknown_name_buckets`` salted buckets, so guessing names adds
      a bounded number of rows.
    """

    free_failures: int = 3
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 900.0
    lockout_after: int = 10
    lock_seconds: float = 900.0
    account_free_failures: int = 10
    account_max_delay_seconds: float = 60.0
    account_alert_after: int = 20
    address_free_failures: int = 30
    address_max_delay_seconds: float = 60.0
    address_lockout_after: int = 100
    forget_after_seconds: float = 3600.0
    unknown_name_buckets: int = 64

    def delay_after(self, failures: int, kind: str = "pair") -> float:
        """Seconds to wait after the ``failures``-th failure: for a pair 0, 0, 2, 4, 8 …"""
        free, cap = {
            "pair": (self.free_failures, self.max_delay_seconds),
            "account": (self.account_free_failures, self.account_max_delay_seconds),
            "address": (self.address_free_failures, self.address_max_delay_seconds),
        }[kind]
        if failures < free:
            return 0.0
        exponent = min(failures - free, 30)
        return min(cap, self.base_delay_seconds * 2.0**exponent)

    def lockout_after_for(self, kind: str) -> int | None:
        """Failures that lock the key for ``lock_seconds`` (None: this kind is never locked)."""
        return {"pair": self.lockout_after, "address": self.address_lockout_after}.get(kind)


@dataclass(frozen=True)
class PasswordReset:
    user: User
    sessions_ended: int
    lockout_cleared: bool


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    at: str
    user_name: str | None
    role: str | None
    remote_addr: str | None
    action: str
    target: str | None
    details: dict[str, Any]


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_name(name: str) -> str:
    return name.strip().lower()


def state_label(user: User, locked_accounts: Collection[str]) -> str:
    """'active', 'disabled, locked out', 'active, must change password' … (lists and the UI)."""
    parts = ["disabled" if user.is_disabled else "active"]
    if normalise_name(user.name) in locked_accounts:
        parts.append("locked out")
    if user.must_change_password:
        parts.append("must change password")
    return ", ".join(parts)


def validate_name(name: str) -> str:
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise AppStateError(
            f"invalid user name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    return name


def validate_offices(offices: Iterable[str]) -> tuple[str, ...]:
    cleaned = sorted({o.strip() for o in offices if o.strip()})
    for code in cleaned:
        if not OFFICE_PATTERN.match(code):
            raise AppStateError(f"invalid office code {code!r}")
    return tuple(cleaned)


class AppState:
    """Access to the app-state database; cheap to create, safe to share between threads."""

    def __init__(self, path: Path, policy: ThrottlePolicy | None = None) -> None:
        self.path = Path(path)
        self.policy = policy or ThrottlePolicy()
        self._meta_cache: dict[str, str] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(self.path)
        self._migrate()

    # --- plumbing -----------------------------------------------------------------------------
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
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _migrate(self) -> None:
        con = self._connect()
        try:
            # WAL lets readers in other processes proceed while one process writes.
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("BEGIN IMMEDIATE")
            try:
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise AppStateError(
                        f"{self.path} has schema version {version}, newer than this program "
                        f"({SCHEMA_VERSION}); upgrade customs-kpi"
                    )
                for target in range(version, SCHEMA_VERSION):
                    for statement in _split_sql(_MIGRATIONS[target]):
                        con.execute(statement)
                    con.execute(f"PRAGMA user_version = {target + 1}")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def schema_version(self) -> int:
        with self._read() as con:
            return int(con.execute("PRAGMA user_version").fetchone()[0])

    # --- users --------------------------------------------------------------------------------
    def _user_from_row(self, con: sqlite3.Connection, row: sqlite3.Row) -> User:
        offices = tuple(
            r[0]
            for r in con.execute(
                "SELECT office_code FROM user_offices WHERE user_id = ? ORDER BY office_code",
                (row["user_id"],),
            )
        )
        return User(
            user_id=row["user_id"],
            name=row["name"],
            role=Role(row["role"]),
            offices=offices,
            is_disabled=bool(row["is_disabled"]),
            created_at=row["created_at"],
            last_login_at=row["last_login_at"],
            password_hash=row["password_hash"],
            must_change_password=bool(row["must_change_password"]),
        )

    def add_user(
        self,
        name: str,
        role: Role | str,
        password_hash: str,
        offices: Iterable[str] = (),
        *,
        must_change_password: bool = False,
    ) -> User:
        """A new user. ``must_change_password``: the password was handed out by an administrator
        (the user must replace it at their next sign-in)."""
        name = validate_name(name)
        role = parse_role(role)
        office_codes = validate_offices(offices)
        now = utc_now_iso()
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AppStateError(f"user {name!r} already exists")
            cur = con.execute(
                "INSERT INTO users (name, role, password_hash, created_at, updated_at, "
                "password_changed_at, must_change_password) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, role.value, password_hash, now, now, now, int(must_change_password)),
            )
            con.executemany(
                "INSERT INTO user_offices (user_id, office_code) VALUES (?, ?)",
                [(cur.lastrowid, code) for code in office_codes],
            )
        user = self.find_user(name)
        assert user is not None
        return user

    def find_user(self, name: str) -> User | None:
        with self._read() as con:
            row = con.execute("SELECT * FROM users WHERE name = ?", (name.strip(),)).fetchone()
            return self._user_from_row(con, row) if row else None

    def get_user(self, name: str) -> User:
        user = self.find_user(name)
        if user is None:
            raise AppStateError(f"no user named {name!r}")
        return user

    def user_by_id(self, user_id: int) -> User | None:
        with self._read() as con:
            row = con.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone()
            return self._user_from_row(con, row) if row else None

    def list_users(self) -> list[User]:
        with self._read() as con:
            rows = con.execute("SELECT * FROM users ORDER BY name COLLATE NOCASE").fetchall()
            return [self._user_from_row(con, row) for row in rows]

    def _update_user(self, name: str, assignments: str, params: tuple[Any, ...]) -> User:
        with self._write() as con:
            cur = con.execute(
                f"UPDATE users SET {assignments}, updated_at = ? WHERE name = ?",
                (*params, utc_now_iso(), name.strip()),
            )
            if cur.rowcount == 0:
                raise AppStateError(f"no user named {name!r}")
        return self.get_user(name)

    def set_role(self, name: str, role: Role | str) -> User:
        return self._update_user(name, "role = ?", (parse_role(role).value,))

    def set_disabled(self, name: str, disabled: bool) -> User:
        user = self._update_user(name, "is_disabled = ?", (1 if disabled else 0,))
        if disabled:
            self.end_user_sessions(user.user_id, "user disabled")
        return user

    def set_password_hash(
        self, name: str, password_hash: str, *, must_change_password: bool
    ) -> User:
        """A new password hash (the user's own change, or a rehash at sign-in; an administrator's
        reset is :meth:`reset_password`); ``must_change_password`` as for :meth:`add_user`."""
        return self._update_user(
            name,
            "password_hash = ?, password_changed_at = ?, must_change_password = ?",
            (password_hash, utc_now_iso(), int(must_change_password)),
        )

    def reset_password(
        self, name: str, password_hash: str, *, must_change_password: bool
    ) -> PasswordReset:
        """An administrator's reset, in one transaction: the new hash, every session of the
        user ended, the account's sign-in lock-out lifted."""
        user = self.get_user(name)
        now = utc_now_iso()
        with self._write() as con:
            con.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ?, "
                "must_change_password = ? WHERE user_id = ?",
                (password_hash, now, now, int(must_change_password), user.user_id),
            )
            ended = con.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = 'password reset' "
                "WHERE user_id = ? AND ended_at IS NULL",
                (time.time(), user.user_id),
            ).rowcount
            unlocked = _clear_account(con, normalise_name(user.name), time.time())
        return PasswordReset(self.get_user(user.name), ended, unlocked)

    def set_offices(self, name: str, offices: Iterable[str]) -> User:
        codes = validate_offices(offices)
        user = self.get_user(name)
        with self._write() as con:
            con.execute("DELETE FROM user_offices WHERE user_id = ?", (user.user_id,))
            con.executemany(
                "INSERT INTO user_offices (user_id, office_code) VALUES (?, ?)",
                [(user.user_id, code) for code in codes],
            )
            con.execute(
                "UPDATE users SET updated_at = ? WHERE user_id = ?", (utc_now_iso(), user.user_id)
            )
        return self.get_user(name)

    def record_login(self, user_id: int) -> None:
        with self._write() as con:
            con.execute(
                "UPDATE users SET last_login_at = ? WHERE user_id = ?", (utc_now_iso(), user_id)
            )

    # --- sessions -----------------------------------------------------------------------------
    def create_session(
        self, user_id: int, remote_addr: str | None, user_agent: str | None
    ) -> tuple[str, SessionRecord]:
        """A new session; returns the token for the cookie (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = time.time()
        session_hash = hash_session_token(token)
        with self._write() as con:
            con.execute(
                "INSERT INTO sessions (session_hash, user_id, csrf_token, created_at, "
                "last_seen_at, remote_addr, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session_hash,
                    user_id,
                    csrf_token,
                    now,
                    now,
                    remote_addr,
                    (user_agent or "")[:300],
                ),
            )
        return token, SessionRecord(session_hash, user_id, csrf_token, now, now, None)

    def get_session(self, token: str) -> SessionRecord | None:
        with self._read() as con:
            row = con.execute(
                "SELECT session_hash, user_id, csrf_token, created_at, last_seen_at, ended_at "
                "FROM sessions WHERE session_hash = ?",
                (hash_session_token(token),),
            ).fetchone()
        return SessionRecord(*row) if row else None

    def touch_session(self, session_hash: str, now: float) -> None:
        with self._write() as con:
            con.execute(
                "UPDATE sessions SET last_seen_at = ? WHERE session_hash = ? AND ended_at IS NULL",
                (now, session_hash),
            )

    def end_session(self, session_hash: str, reason: str) -> bool:
        """Ends a live session; False when it had already ended (so it is reported once)."""
        with self._write() as con:
            cur = con.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ? "
                "WHERE session_hash = ? AND ended_at IS NULL",
                (time.time(), reason, session_hash),
            )
            return cur.rowcount > 0

    def end_user_sessions(self, user_id: int, reason: str) -> int:
        with self._write() as con:
            cur = con.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ? "
                "WHERE user_id = ? AND ended_at IS NULL",
                (time.time(), reason, user_id),
            )
            return cur.rowcount

    def end_other_sessions(self, user_id: int, keep_hash: str, reason: str) -> int:
        """End every live session of the user except ``keep_hash`` (their current one)."""
        with self._write() as con:
            cur = con.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ? "
                "WHERE user_id = ? AND ended_at IS NULL AND session_hash != ?",
                (time.time(), reason, user_id, keep_hash),
            )
            return cur.rowcount

    def purge_sessions(self, older_than: float) -> int:
        """Forget sessions that ended, or were last used, before ``older_than`` (epoch)."""
        with self._write() as con:
            cur = con.execute(
                "DELETE FROM sessions WHERE coalesce(ended_at, last_seen_at) < ?", (older_than,)
            )
            return cur.rowcount

    def active_session_count(self, user_id: int) -> int:
        with self._read() as con:
            return int(
                con.execute(
                    "SELECT count(*) FROM sessions WHERE user_id = ? AND ended_at IS NULL",
                    (user_id,),
                ).fetchone()[0]
            )

    # --- login throttling ---------------------------------------------------------------------
    def unknown_name_key(self, name: str) -> str:
        """The shared account key of an unknown user name: one of the policy's buckets, salted
        per database so nobody can tell from outside which names share one."""
        salt = self._meta("throttle_salt")
        digest = hashlib.sha256(f"{salt}:{normalise_name(name)}".encode()).digest()
        bucket = int.from_bytes(digest[:8], "big") % max(1, self.policy.unknown_name_buckets)
        return f"{UNKNOWN_NAME_PREFIX}{bucket}"

    def _meta(self, key: str) -> str:
        cached = self._meta_cache.get(key)
        if cached is None:
            with self._read() as con:
                row = con.execute("SELECT value FROM app_meta WHERE key = ?", (key,)).fetchone()
            cached = str(row[0]) if row else ""
            self._meta_cache[key] = cached
        return cached

    def throttle_state(self, kind: str, key: str, now: float | None = None) -> ThrottleState | None:
        """The key's failures on record; None when there are none, or when they are older than
        the policy forgets (``now`` defaults to the clock)."""
        now = time.time() if now is None else now
        with self._read() as con:
            row = con.execute(
                "SELECT * FROM login_throttle WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        if row is None:
            return None
        state = ThrottleState(**dict(row))
        return None if self._forgotten(state, now) else state

    def _forgotten(self, state: ThrottleState, now: float) -> bool:
        return now - state.last_failure_at > self.policy.forget_after_seconds and not (
            state.is_locked_at(now)
        )

    def record_login_failure(self, kind: str, key: str, now: float) -> tuple[ThrottleState, bool]:
        """Count one more failure; returns the new state and whether it just locked the key
        (for 'account': whether it just reached the alert threshold)."""
        policy = self.policy
        with self._write() as con:
            # Forgotten failures go (and with them the rows of one-off typos and name guesses).
            con.execute(
                "DELETE FROM login_throttle WHERE last_failure_at < ? "
                "AND (locked_until IS NULL OR locked_until <= ?)",
                (now - policy.forget_after_seconds, now),
            )
            row = con.execute(
                "SELECT failures, locked_at, locked_until FROM login_throttle "
                "WHERE kind = ? AND key = ?",
                (kind, key),
            ).fetchone()
            failures = (row["failures"] if row else 0) + 1
            locked_at = row["locked_at"] if row else None
            locked_until = row["locked_until"] if row else None
            next_allowed = now + policy.delay_after(failures, kind)
            threshold = policy.lockout_after_for(kind)
            just_locked = False
            if threshold is not None and failures >= threshold:
                if locked_until is None or locked_until <= now:
                    locked_at, just_locked = now, True
                locked_until = max(locked_until or 0.0, now + policy.lock_seconds)
                next_allowed = max(next_allowed, locked_until)
            elif kind == "account":
                just_locked = failures == policy.account_alert_after
            con.execute(
                "INSERT INTO login_throttle (kind, key, failures, last_failure_at, "
                "next_allowed_at, locked_at, locked_until) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET failures = excluded.failures, "
                "last_failure_at = excluded.last_failure_at, "
                "next_allowed_at = excluded.next_allowed_at, locked_at = excluded.locked_at, "
                "locked_until = excluded.locked_until",
                (kind, key, failures, now, next_allowed, locked_at, locked_until),
            )
        state = ThrottleState(kind, key, failures, now, next_allowed, locked_at, locked_until)
        return state, just_locked

    def clear_login_failures(self, kind: str, key: str) -> bool:
        """Forget one key's failures and lift its lock (a successful sign-in, an admin)."""
        with self._write() as con:
            cur = con.execute("DELETE FROM login_throttle WHERE kind = ? AND key = ?", (kind, key))
            return cur.rowcount > 0

    def unlock_account(self, account_key: str) -> bool:
        """An administrator's unlock of an account: its own delays and those of every address
        it was tried from; True when it was locked or delayed."""
        with self._write() as con:
            return _clear_account(con, account_key, time.time())

    def unlock_address(self, address: str) -> bool:
        """An administrator's unlock of an address: its ceiling and its pairs."""
        now = time.time()
        with self._write() as con:
            live = _live_rows(
                con,
                "(kind = 'address' AND key = ?) OR (kind = 'pair' AND "
                "substr(key, 1, instr(key, '|') - 1) = ?)",
                (address, address),
                now,
            )
            con.execute(
                "DELETE FROM login_throttle WHERE (kind = 'address' AND key = ?) OR "
                "(kind = 'pair' AND substr(key, 1, instr(key, '|') - 1) = ?)",
                (address, address),
            )
        return live

    def locked_accounts(self, now: float | None = None) -> frozenset[str]:
        """Normalised names of the accounts locked now from some address (the lock ends by
        itself, or when an administrator lifts it)."""
        now = time.time() if now is None else now
        return frozenset(
            t.account
            for t in self.throttled_keys(now)
            if t.kind == "pair" and t.is_locked_at(now) and t.account
        )

    def throttled_keys(self, now: float | None = None) -> list[ThrottleState]:
        """Every key with failures the policy still remembers, locked ones first."""
        now = time.time() if now is None else now
        with self._read() as con:
            rows = con.execute(
                "SELECT * FROM login_throttle "
                "ORDER BY coalesce(locked_until, 0) <= ?, last_failure_at DESC",
                (now,),
            ).fetchall()
        states = [ThrottleState(**dict(r)) for r in rows]
        return [t for t in states if not self._forgotten(t, now)]

    # --- audit trail --------------------------------------------------------------------------
    def record_audit(
        self,
        action: str,
        *,
        user_name: str | None,
        role: str | None,
        remote_addr: str | None,
        target: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        with self._write() as con:
            cur = con.execute(
                "INSERT INTO audit (at, user_name, role, remote_addr, action, target, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    utc_now_iso(),
                    user_name,
                    role,
                    remote_addr,
                    action,
                    target,
                    json.dumps(details or {}, sort_keys=True, default=str),
                ),
            )
            return int(cur.lastrowid or 0)

    def audit_entries(
        self,
        *,
        since: str | None = None,
        user_name: str | None = None,
        action_prefix: str | None = None,
        limit: int = 200,
    ) -> list[AuditEntry]:
        """Newest first. ``since`` is an ISO date or timestamp (UTC) compared as text."""
        clauses: list[str] = []
        params: list[str] = []
        if since:
            clauses.append("at >= ?")
            params.append(since)
        if user_name:
            clauses.append("user_name = ? COLLATE NOCASE")
            params.append(user_name)
        if action_prefix:
            clauses.append("action LIKE ? ESCAPE '\\'")
            params.append(action_prefix.replace("%", "\\%").replace("_", "\\_") + "%")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._read() as con:
            rows = con.execute(
                f"SELECT * FROM audit {where} ORDER BY audit_id DESC LIMIT ?",
                (*params, max(1, int(limit))),
            ).fetchall()
        return [
            AuditEntry(
                audit_id=r["audit_id"],
                at=r["at"],
                user_name=r["user_name"],
                role=r["role"],
                remote_addr=r["remote_addr"],
                action=r["action"],
                target=r["target"],
                details=json.loads(r["details"] or "{}"),
            )
            for r in rows
        ]

    def prune_audit(self, older_than_iso: str) -> int:
        """Delete audit rows recorded before ``older_than_iso`` (an ISO date or timestamp; no
        offset = UTC); returns how many were deleted."""
        cutoff = _utc_iso(older_than_iso)
        with self._write() as con:
            return con.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount


_ACCOUNT_ROWS = (
    "(kind = 'account' AND key = ?) OR (kind = 'pair' AND substr(key, instr(key, '|') + 1) = ?)"
)


def _live_rows(con: sqlite3.Connection, where: str, params: tuple[Any, ...], now: float) -> bool:
    """Whether the rows ``where`` selects hold a lock or a delay that is still running."""
    row = con.execute(
        f"SELECT count(*) FROM login_throttle WHERE ({where}) "
        "AND (next_allowed_at > ? OR coalesce(locked_until, 0) > ?)",
        (*params, now, now),
    ).fetchone()
    return bool(row[0])


def _clear_account(con: sqlite3.Connection, account_key: str, now: float) -> bool:
    """Delete an account's throttle rows (its own and its pairs); True when one was live."""
    live = _live_rows(con, _ACCOUNT_ROWS, (account_key, account_key), now)
    con.execute(f"DELETE FROM login_throttle WHERE {_ACCOUNT_ROWS}", (account_key, account_key))
    return live


def _utc_iso(stamp: str) -> str:
    """``stamp`` written like the audit's own timestamps, so they compare as text."""
    try:
        moment = datetime.fromisoformat(stamp.strip())
    except ValueError:
        raise AppStateError(f"not an ISO date or timestamp: {stamp!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


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


def _split_sql(script: str) -> list[str]:
    """Statements of a migration (no semicolons inside literals in our migrations)."""
    statements = []
    for chunk in script.split(";"):
        lines = [ln for ln in chunk.splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            statements.append(text)
    return statements
