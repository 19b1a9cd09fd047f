"""The app-state database ``HOME/app.db`` (SQLite, WAL), shared by the web side, the CLI and the
worker: users and the user-admin rules (``users``), roles (``roles``), password hashing
(``passwords``), sessions (``sessions``), sign-in throttling (``throttle``), the audit trail and
its retention (``audit``), the review workflow (``review``), saved views per user
(``saved_views``); the file, its transactions and the one migration list in ``db``.

Imports the core (``customs_kpi``) and ``kpis`` only, never ``dashboard``, ``etl``, ``worker``
or ``monthly_report``.
"""

from __future__ import annotations

from pathlib import Path

from appstate.audit import AuditTrail
from appstate.sessions import SessionStore
from appstate.throttle import ThrottlePolicy, ThrottleStore
from appstate.users import UserStore


class AppState(UserStore, SessionStore, ThrottleStore, AuditTrail):
    """Access to the app-state database; cheap to create, safe to share between threads.

    Opening it migrates the file to the current schema (``appstate.db.MIGRATIONS``)."""

    def __init__(self, path: Path | str, policy: ThrottlePolicy | None = None) -> None:
        super().__init__(path, policy)


__all__ = ["AppState"]
