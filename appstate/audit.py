"""The audit trail: who did what, when, from where; and its retention.

Every writer names an :class:`Actor`: the web side takes it from the request
(``dashboard.audit``), the CLI is :func:`console_actor`. The worker's nightly housekeeping
calls :func:`prune_audit_trail`.
"""

from __future__ import annotations

import getpass
import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from appstate.db import Database, utc_iso, utc_now_iso

if TYPE_CHECKING:
    from customs_kpi.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who an audit row names: a signed-in user (with role and address), the console, or
    nobody known yet (``name`` None, or the name typed at a failed sign-in)."""

    name: str | None
    role: str | None = None
    remote_addr: str | None = None


def console_actor() -> Actor:
    """The operating-system account that runs a CLI command, as ``cli:NAME`` from ``cli`` (the
    ':' keeps it apart from every user name)."""
    try:
        name = f"cli:{getpass.getuser()}"
    except Exception:  # getuser raises when no user name can be found (containers)
        name = "cli"
    return Actor(name, None, "cli")


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


def insert_audit(
    con: sqlite3.Connection,
    action: str,
    actor: Actor,
    target: str | None,
    details: dict[str, Any] | None,
    at: str,
) -> int:
    """Write one audit row inside the caller's transaction; its id."""
    cur = con.execute(
        "INSERT INTO audit (at, user_name, role, remote_addr, action, target, details) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at, actor.name, actor.role, actor.remote_addr, action, target,
         json.dumps(details or {}, sort_keys=True, default=str)),
    )  # fmt: skip
    log.info("audit %s target=%s user=%s addr=%s", action, target, actor.name, actor.remote_addr)
    return int(cur.lastrowid or 0)


class AuditTrail(Database):
    """The ``audit`` table (a part of :class:`appstate.AppState`)."""

    def record_audit(
        self,
        action: str,
        actor: Actor,
        target: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Record ``action`` (dotted, e.g. ``"export.csv"``) by ``actor`` on ``target``; the
        row id."""
        with self._write() as con:
            return insert_audit(con, action, actor, target, details, utc_now_iso())

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
        cutoff = utc_iso(older_than_iso)
        with self._write() as con:
            return con.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount


def prune_audit_trail(settings: Settings, now: datetime) -> str:
    """Delete audit rows older than ``audit_retention_days`` (0 keeps them); a log sentence.
    The worker's nightly housekeeping runs it."""
    days = settings.audit_retention_days
    if days == 0:
        return "audit: kept forever (CUSTOMS_KPI_AUDIT_RETENTION_DAYS=0)"
    if not settings.app_db_path.exists():
        return "audit: no app-state database yet"
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    cutoff = (moment.astimezone(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    removed = AuditTrail(settings.app_db_path).prune_audit(cutoff)
    return f"audit: removed {removed} row(s) recorded before {cutoff[:10]} ({days}-day retention)"
