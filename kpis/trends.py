"""Trend figures of a monthly series: month-on-month and year-on-year deltas, 6-month slope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from kpis.grain import add_months, month_floor
from kpis.stats import delta, least_squares_slope

SLOPE_MONTHS = 6


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def trend_columns(
    monthly: pl.DataFrame, group_by: Sequence[str] = (), as_of: date | None = None
) -> pl.DataFrame:
    """One row per group of a monthly KPI frame (columns ``month``, ``value`` and the group
    columns; ``sufficient`` is honoured when present: insufficient values are not trended).

    Columns: group columns, ``month`` (the as-of month, default the latest month of the frame),
    ``value``, ``previous_value`` and ``mom_delta`` / ``mom_change`` (absolute / relative, vs
    the month before), ``year_ago_value`` and ``yoy_delta`` / ``yoy_change`` (vs 12 months
    before), ``slope_6m`` (least-squares change per month over the last 6 months that have a
    value, as-of month included) and ``slope_points`` (how many months the slope used)."""
    keys = list(group_by)
    if as_of is None:
        latest = monthly.get_column("month").max()
        as_of = latest if isinstance(latest, date) else None
    if as_of is None:
        return pl.DataFrame()
    as_of = month_floor(as_of)
    usable = monthly
    if "sufficient" in monthly.columns:
        usable = monthly.with_columns(pl.when(pl.col("sufficient")).then(pl.col("value")))
    groups = usable.select(keys).unique().sort(keys).iter_rows() if keys else [()]
    rows = []
    for key in groups:
        part = usable
        for column, value in zip(keys, key, strict=True):
            part = part.filter(pl.col(column) == value)
        values = {m: v for m, v in part.select("month", "value").iter_rows() if v is not None}
        current = values.get(as_of)
        previous = values.get(add_months(as_of, -1))
        year_ago = values.get(add_months(as_of, -12))
        window = [
            (float(_month_index(m)), float(v))
            for m, v in values.items()
            if add_months(as_of, -(SLOPE_MONTHS - 1)) <= m <= as_of
        ]
        mom = delta(current, previous)
        yoy = delta(current, year_ago)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "month": as_of,
                "value": current,
                "previous_value": previous,
                "mom_delta": mom[0],
                "mom_change": mom[1],
                "year_ago_value": year_ago,
                "yoy_delta": yoy[0],
                "yoy_change": yoy[1],
                "slope_6m": least_squares_slope(window),
                "slope_points": len(window),
            }
        )
    schema = {c: monthly.schema[c] for c in keys}
    schema.update(
        {
            "month": pl.Date(),
            **{
                c: pl.Float64()
                for c in (
                    "value",
                    "previous_value",
                    "mom_delta",
                    "mom_change",
                    "year_ago_value",
                    "yoy_delta",
                    "yoy_change",
                    "slope_6m",
                )
            },
            "slope_points": pl.Int64(),
        }
    )
    return pl.DataFrame(rows, schema=schema)
