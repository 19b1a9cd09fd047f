"""Retention of the app state's audit trail: the worker's nightly housekeeping calls this
(:func:`worker.housekeeping.prune_audit`). The audit trail lives in the dashboard's app-state
database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from customs_kpi.settings import Settings


def prune_audit_trail(settings: Settings, now: datetime) -> str:
    """Delete audit rows older than ``audit_retention_days`` (0 keeps them); a log sentence."""
    days = settings.audit_retention_days
    if days == 0:
        return "audit: kept forever (CUSTOMS_KPI_AUDIT_RETENTION_DAYS=0)"
    if not settings.app_db_path.exists():
        return "audit: no app-state database yet"
    from dashboard.appstate import AppState

    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    cutoff = (moment.astimezone(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    removed = AppState(settings.app_db_path).prune_audit(cutoff)
    return f"audit: removed {removed} row(s) recorded before {cutoff[:10]} ({days}-day retention)"
