"""Server-side sign-in sessions: the browser keeps a random token, the database its hash."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass

from appstate.db import Database


@dataclass(frozen=True)
class SessionRecord:
    session_hash: str
    user_id: int
    csrf_token: str
    created_at: float
    last_seen_at: float
    ended_at: float | None


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def end_user_sessions_in(con: sqlite3.Connection, user_id: int, reason: str) -> int:
    """End every live session of a user inside the caller's transaction; how many."""
    return con.execute(
        "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE user_id = ? AND ended_at IS NULL",
        (time.time(), reason, user_id),
    ).rowcount


class SessionStore(Database):
    """The ``sessions`` table (a part of :class:`appstate.AppState`)."""

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
            return end_user_sessions_in(con, user_id, reason)

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
