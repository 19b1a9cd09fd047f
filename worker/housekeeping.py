"""The nightly housekeeping tasks of the worker (the ``housekeeping`` job of
:mod:`worker.scheduler`): each ``(settings, now) -> message`` for the job's log line.

Imports of the ETL and the app state are lazy, keeping ``customs-kpi --help`` fast.
"""

from __future__ import annotations

import logging
from datetime import datetime

from customs_kpi.clock import as_utc
from customs_kpi.settings import Settings

log = logging.getLogger(__name__)


def remove_superseded_versions(settings: Settings, now: datetime) -> str:
    """Published versions superseded longer ago than the grace period (etl.publish)."""
    from etl.publish import housekeeping

    removed = housekeeping(settings, now)
    return f"removed {len(removed)} superseded published version(s)" + (
        f" ({', '.join(removed)})" if removed else ""
    )


def prune_audit(settings: Settings, now: datetime) -> str:
    """The audit trail's retention (``CUSTOMS_KPI_AUDIT_RETENTION_DAYS``)."""
    from appstate.audit import prune_audit_trail

    return prune_audit_trail(settings, now)


def freshness_message(settings: Settings, last: datetime | None, now: datetime) -> str:
    """The Data page's freshness verdict on the last successful load, logged as a warning when
    the data is stale (naive published times are UTC)."""
    from customs_kpi.published import freshness

    if last is None:
        log.warning("freshness: no successful load yet")
        return "freshness: no successful load yet"
    fresh = freshness(last, settings.freshness_hours, as_utc(now))
    if not fresh.stale:
        return f"freshness: ok, last successful load {last:%Y-%m-%d %H:%M}"
    msg = (
        f"freshness: STALE, last successful load {last:%Y-%m-%d %H:%M} is "
        f"{fresh.age_text} h old (limit {settings.freshness_hours} h)"
    )
    log.warning(msg)
    return msg
