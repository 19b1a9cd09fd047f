"""Time stamps: stored in UTC, shown in the administration's zone (CUSTOMS_KPI_TIMEZONE).

Every stamp the product writes (run log, loaded files, published versions, reports, the
app-state database) is UTC. DuckDB and Parquet ``TIMESTAMP`` columns hold them as naive UTC
(:func:`utc_naive`); readers attach UTC (:func:`as_utc`) and pages, reports and the CLI show them
in the administration's zone (:func:`local_text`). Delivered business times (lodged_at, …) are
different: they are the administration's local wall-clock times (see ``etl.validate``).
Months are named ``YYYY-MM`` (:func:`parse_month`, :func:`month_label`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


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


def parse_month(text: str) -> date:
    """``YYYY-MM`` → first day of that month; ValueError with a readable message otherwise."""
    m = MONTH_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a month: {text!r} (expected YYYY-MM, e.g. 2026-10)")
    return date(int(m.group(1)), int(m.group(2)), 1)


def month_label(month: date) -> str:
    """A month as ``YYYY-MM`` (monthly-report folders, requests, the month pickers)."""
    return f"{month.year:04d}-{month.month:02d}"
