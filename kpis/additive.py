"""Additive KPIs: sum the numerator and denominator measures at the grain, divide at the end.

Because only sums are carried, any roll-up (offices → national, months → year) of the parts
gives exactly the figure computed directly at the coarser grain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from kpis.cube import CubeFrames, Filters
from kpis.definitions import KPI, CubeTable, DimFilter, Kind
from kpis.grain import Period, grain_expression, period_conditions, restrict, spine
from kpis.stats import Z_95


def dim_filter_conditions(filters: Sequence[DimFilter]) -> list[pl.Expr]:
    conditions = []
    for f in filters:
        column = "profile_id" if f.dimension == "profile" else f.dimension
        conditions.append(pl.col(column).is_in(list(f.values)))
    return conditions


def source_table(kpi: KPI, grain: Sequence[str], filters: Filters) -> CubeTable:
    """The cube table a KPI reads at this grain (see :class:`CubeTable`)."""
    if kpi.table is CubeTable.AUTO:
        wants_profile = "profile" in grain or bool(filters.profiles)
        return CubeTable.PROFILES if wants_profile else CubeTable.DECLARATIONS
    return kpi.table


def scoped_frame(
    cube: CubeFrames, kpi: KPI, grain: Sequence[str], filters: Filters, period: Period | None
) -> pl.DataFrame:
    """The cube rows in scope (period, user filters, the KPI's own filters) with the grain
    columns added."""
    table = source_table(kpi, grain, filters)
    if table is CubeTable.PROFILES:
        frame, with_profiles = cube.profiles, True
    elif table is CubeTable.DECLARATIONS:
        frame, with_profiles = cube.declarations, False
    elif table is CubeTable.TIME_HIST:
        frame = cube.time_hist.filter(pl.col("metric") == kpi.hist_metric)
        with_profiles = False
    else:
        raise ValueError(f"{kpi.id} does not read a cube table")
    frame = restrict(
        frame,
        period_conditions(period),
        filters.conditions(with_profiles=with_profiles),
        dim_filter_conditions(kpi.filters),
    )
    extra = [grain_expression(g) for g in grain if g not in frame.columns]
    return frame.with_columns(extra) if extra else frame


def sum_parts(
    frame: pl.DataFrame, kpi: KPI, grain: Sequence[str], period: Period | None
) -> pl.DataFrame:
    """Grain columns, ``numerator``, ``denominator`` (null for counts and sums) and
    ``has_data``, on the full spine (missing keys get zero parts and has_data false)."""
    assert kpi.numerator is not None
    numerator = pl.col(kpi.numerator)
    if kpi.numerator_subtract is not None:
        numerator = numerator - pl.col(kpi.numerator_subtract)
    if kpi.numerator_filters:
        condition = pl.all_horizontal(dim_filter_conditions(kpi.numerator_filters))
        numerator = pl.when(condition).then(numerator)
        numerator = numerator.otherwise(0)
    aggregations = [numerator.sum().alias("numerator"), pl.len().alias("_rows")]
    if kpi.denominator is not None:
        aggregations.append(pl.col(kpi.denominator).sum().alias("denominator"))
    if "open" in kpi.extra_columns:
        # Undelivered releases are open, not dropped: declarations without released_at.
        aggregations.append((pl.col("declarations") - pl.col("released")).sum().alias("open"))
    if grain:
        sums = frame.group_by(list(grain)).agg(aggregations)
        keys = spine(frame, grain, period)
        sums = keys.join(sums, on=list(grain), how="left")
    else:
        sums = frame.select(aggregations)
    sums = sums.with_columns(
        (pl.col("_rows").fill_null(0) > 0).alias("has_data"),
        pl.col("numerator").fill_null(0),
    ).drop("_rows")
    fills = [pl.col(c).fill_null(0) for c in ("denominator", "open") if c in sums.columns]
    sums = sums.with_columns(fills)
    if kpi.kind is Kind.SHARE:
        assert kpi.share_dimension is not None
        rest = [g for g in grain if g != kpi.share_dimension]
        total = pl.col("numerator").sum()
        sums = sums.with_columns((total.over(rest) if rest else total).alias("denominator"))
    if "denominator" not in sums.columns:
        sums = sums.with_columns(pl.lit(None, dtype=pl.Int64).alias("denominator"))
    return sums


def wilson_expressions(numerator: pl.Expr, denominator: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Vectorised :func:`kpis.stats.wilson_interval` (null where the denominator is 0)."""
    n = denominator.cast(pl.Float64)
    p = numerator.cast(pl.Float64) / n
    z2 = Z_95 * Z_95
    centre = p + z2 / (2 * n)
    half = Z_95 * (p * (1 - p) / n + z2 / (4 * n * n)).sqrt()
    scale = 1 + z2 / n
    valid = denominator > 0
    # Exact bounds at 0 and n hits (the formula gives them only up to rounding).
    low = (
        pl.when(~valid)
        .then(None)
        .when(numerator == 0)
        .then(0.0)
        .otherwise(((centre - half) / scale).clip(0.0, 1.0))
    )
    high = (
        pl.when(~valid)
        .then(None)
        .when(numerator == denominator)
        .then(1.0)
        .otherwise(((centre + half) / scale).clip(0.0, 1.0))
    )
    return low, high


def finish(sums: pl.DataFrame, kpi: KPI, grain: Sequence[str], min_sample: int) -> pl.DataFrame:
    """Value, interval and sufficiency from the summed parts, in the output column order."""
    numerator, denominator = pl.col("numerator"), pl.col("denominator")
    if kpi.kind in (Kind.COUNT, Kind.SUM):
        value = pl.when(pl.col("has_data")).then(numerator.cast(pl.Float64))
    else:
        value = pl.when(denominator > 0).then(
            numerator.cast(pl.Float64) / denominator.cast(pl.Float64)
        )
    columns: list[pl.Expr] = [pl.col(g) for g in grain]
    columns += [value.alias("value"), numerator, denominator]
    if kpi.is_rate:
        low, high = wilson_expressions(numerator, denominator)
        columns += [low.alias("ci_low"), high.alias("ci_high")]
    if kpi.is_quotient:
        columns.append((denominator.fill_null(0) >= min_sample).alias("sufficient"))
    columns += [pl.col(c) for c in kpi.extra_columns]
    result = sums.select(columns)
    return result.sort(list(grain)) if grain else result


def quotient_parts(kpi: KPI) -> tuple[str, str]:
    """(numerator, denominator) measures of a quotient entry computed row by row from summed
    measure columns: no filter of its own (the rows are already its scope)."""
    if kpi.numerator is None or kpi.denominator is None or kpi.kind is Kind.SHARE:
        raise ValueError(f"{kpi.id} is not a quotient of two measures")
    if kpi.filters or kpi.numerator_filters or kpi.numerator_subtract:
        raise ValueError(f"{kpi.id} has filters of its own: compute it with the engine")
    return kpi.numerator, kpi.denominator


def quotient_expression(kpi: KPI) -> pl.Expr:
    """A quotient entry (hit rate, seizure rate, revenue per control...) over a frame whose
    columns are summed measures named like the entry's: numerator / denominator, null where
    the denominator is 0. For tables that carry the sums themselves (the profile table)."""
    numerator, denominator = quotient_parts(kpi)
    return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))


def quotient_value(kpi: KPI, sums: Mapping[str, float]) -> float | None:
    """:func:`quotient_expression` for one set of sums (``{measure: sum}``)."""
    numerator, denominator = quotient_parts(kpi)
    return float(sums[numerator]) / sums[denominator] if sums[denominator] else None


def interval_expressions(kpi: KPI) -> tuple[pl.Expr, pl.Expr]:
    """Wilson 95 % bounds of a proportion entry over summed measure columns."""
    numerator, denominator = quotient_parts(kpi)
    return wilson_expressions(pl.col(numerator), pl.col(denominator))


def compute_additive(
    cube: CubeFrames,
    kpi: KPI,
    grain: Sequence[str],
    filters: Filters,
    period: Period | None,
    min_sample: int,
) -> pl.DataFrame:
    frame = scoped_frame(cube, kpi, grain, filters, period)
    return finish(sum_parts(frame, kpi, grain, period), kpi, grain, min_sample)
