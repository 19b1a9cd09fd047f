"""Page-only formats (counts, durations, deltas, p-values, stamps). A KPI value and its interval
read as kpis.formatting.format_value / format_interval make them, on every surface."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from flask import has_app_context

from customs_kpi.clock import local_text
from kpis.definitions import Unit
from kpis.formatting import NO_DATA, compact_number, is_missing, with_currency


def format_count(value: float | int | None, *, compact: bool = False) -> str:
    if is_missing(value):
        return NO_DATA
    assert value is not None
    return compact_number(value) if compact else f"{round(value):,}"


def format_hours(value: float | None) -> str:
    """Durations: minutes under an hour, hours under three days, then days."""
    if is_missing(value):
        return NO_DATA
    assert value is not None
    if abs(value) < 1:
        return f"{value * 60:.0f} min"
    if abs(value) < 72:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} d"


def format_delta(delta: float | None, unit: Unit) -> str:
    """Signed change; for percentages the change is in percentage points."""
    if is_missing(delta):
        return NO_DATA
    assert delta is not None
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    magnitude = abs(delta)
    match unit:
        case Unit.PERCENT:
            return f"{sign}{magnitude * 100:.1f} pp"
        case Unit.COUNT:
            return f"{sign}{format_count(magnitude, compact=True)}"
        case Unit.CURRENCY:
            return with_currency(f"{sign}{format_count(magnitude, compact=True)}")
        case Unit.HOURS:
            return f"{sign}{format_hours(magnitude)}"
        case Unit.RATIO:
            return f"{sign}{magnitude:.2f}"


def format_p_value(p: float | None) -> str:
    if is_missing(p):
        return NO_DATA
    assert p is not None
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def format_month(month: date | datetime | None) -> str:
    return NO_DATA if month is None else month.strftime("%b %Y")


def format_timestamp(moment: datetime | date | None) -> str:
    if moment is None:
        return NO_DATA
    if isinstance(moment, datetime):
        return moment.strftime("%d %b %Y %H:%M")
    return moment.strftime("%d %b %Y")


def format_stamp(moment: datetime | str | float | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """A stamp the product wrote (stored in UTC: data as of, run log, reports) in the
    administration's zone (CUSTOMS_KPI_TIMEZONE of the serving app; UTC outside one), with
    the zone's abbreviation. Delivered business times (lodged_at, change-log dates) are local
    already: :func:`format_timestamp`. ``moment``: a datetime (naive = UTC), an ISO text or
    epoch seconds."""
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
    zone: tzinfo = UTC
    if has_app_context():
        from dashboard.context import current_settings

        zone = current_settings().zone
    return local_text(moment, zone, fmt) if moment is not None else NO_DATA


def axis_tickformat(unit: Unit) -> str:
    """Plotly d3 tick format for an axis in this unit."""
    match unit:
        case Unit.PERCENT:
            return ".1%"
        case Unit.COUNT | Unit.CURRENCY:
            return ",.0f"
        case Unit.HOURS:
            return ",.1f"
        case Unit.RATIO:
            return ".2f"
