"""Grains, periods and the calendar spine shared by every computation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from kpis.definitions import GRAIN_COLUMNS, TIME_GRAINS
from kpis.domain import Channel, SelectionSource

Period = tuple[date, date]

# Dimensions whose every value is listed (a channel with no declaration shows a 0 % share).
ENUMERATED: dict[str, tuple[str, ...]] = {
    "channel": tuple(c.value for c in Channel),
    "selection_source": tuple(s.value for s in SelectionSource),
}


def month_floor(d: date) -> date:
    return d.replace(day=1)


def add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_range(start: date, end: date) -> list[date]:
    """First days of every month from start's month to end's month, inclusive."""
    months, current, last = [], month_floor(start), month_floor(end)
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return months


def period_end_day(month: date, months: int = 1) -> date:
    """Last day of the ``months``-month period starting at ``month``."""
    return date.fromordinal(add_months(month, months).toordinal() - 1)


def grain_expression(grain: str) -> pl.Expr:
    """Output column ``grain`` computed from the cube's columns."""
    month = pl.col("lodged_month")
    if grain == "month":
        return month.alias("month")
    if grain == "quarter":
        return pl.format("{}-Q{}", month.dt.year(), month.dt.quarter()).alias("quarter")
    if grain == "year":
        return month.dt.year().cast(pl.Int32).alias("year")
    return pl.col(GRAIN_COLUMNS[grain]).alias(grain)


def period_conditions(period: Period | None) -> list[pl.Expr]:
    """Rows of the period's lodgement months (no condition without a period)."""
    if period is None:
        return []
    start, end = month_floor(period[0]), month_floor(period[1])
    return [pl.col("lodged_month").is_between(pl.lit(start), pl.lit(end))]


def restrict(frame: pl.DataFrame, *conditions: pl.Expr | list[pl.Expr]) -> pl.DataFrame:
    """``frame`` filtered by every condition. Only real conditions reach polars: several
    always-true literal predicates in one filter trip a polars 2.1 bug (ShapeError)."""
    flat: list[pl.Expr] = []
    for c in conditions:
        flat.extend(c if isinstance(c, list) else [c])
    return frame.filter(*flat) if flat else frame


def spine(observed: pl.DataFrame, grain: Sequence[str], period: Period | None) -> pl.DataFrame:
    """Every key the output must show: the calendar of the period (or of the observed months)
    for the time grains, every value of enumerated dimensions, the observed values of the
    others, crossed. ``observed`` holds the grain columns of the filtered data plus
    ``lodged_month``. With an empty grain: one row and no columns."""
    time_grains = [g for g in grain if g in TIME_GRAINS]
    others = [g for g in grain if g not in TIME_GRAINS]
    result = pl.DataFrame({"_one": [1]})
    if time_grains:
        if period is not None:
            months = month_range(*period)
        elif observed.height:
            first, last = observed["lodged_month"].min(), observed["lodged_month"].max()
            assert isinstance(first, date) and isinstance(last, date)
            months = month_range(first, last)
        else:
            months = []
        calendar = pl.DataFrame({"lodged_month": months}, schema={"lodged_month": pl.Date})
        keys = calendar.select([grain_expression(g) for g in time_grains]).unique()
        result = result.join(keys, how="cross")
    plain = [g for g in others if g not in ENUMERATED]
    if plain:
        result = result.join(observed.select(plain).unique(), how="cross")
    for g in others:
        if g in ENUMERATED:
            values = pl.DataFrame({g: list(ENUMERATED[g])}, schema={g: pl.String})
            result = result.join(values, how="cross")
    return result.select(list(grain)) if grain else result.drop("_one")
