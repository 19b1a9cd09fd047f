"""Time stamps: stored in UTC, shown in the administration's zone (CUSTOMS_KPI_TIMEZONE).

Every stamp the product writes (run log, loaded files, published versions, snapshots, the
app-state database) is UTC. DuckDB and Parquet ``TIMESTAMP`` columns hold them as naive UTC
(:func:`utc_naive`); readers attach UTC (:func:`as_utc`) and pages, reports and the CLI show them
in the administration's zone (:func:`local_text`). Delivered business times (lodged_at, …) are
different: they are the administration's local wall-clock times (see ``etl.validate``).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def utc_now() -> datetime:
    """Now, time-zone-aware, in UTC."""
    return datetime.now(UTC)


def utc_naive(moment: datetime | None = None) -> datetime:
    """``moment`` (default: now) as naive UTC, the form of the warehouse's TIMESTAMP columns.
    A naive ``moment`` is taken as UTC already."""
    return as_utc(moment or utc_now()).replace(tzinfo=None)


def as_utc(moment: datetime) -> datetime:
    """A stored stamp (naive = UTC) as an aware UTC datetime."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_now(zone: tzinfo) -> datetime:
    """The administration's wall-clock time now, naive (to compare with delivered times)."""
    return utc_now().astimezone(zone).replace(tzinfo=None)


def local_text(moment: datetime | None, zone: tzinfo, fmt: str = "%d %b %Y %H:%M") -> str:
    """A stored stamp in the administration's zone with the zone's abbreviation
    ("04 Dec 2026 22:27 +03", "… UTC"); "–" for None."""
    if moment is None:
        return "–"
    shown = as_utc(moment).astimezone(zone)
    return f"{shown.strftime(fmt)} {shown.strftime('%Z') or 'UTC'}"
