"""Durations: percentiles from the mergeable histogram ``cube_time_hist``, means from sums.

The histogram stores, per cube cell, how many durations fell in each log bucket
(:func:`kpis.measures.hist_bin`). Buckets of any set of cells add up, so a percentile at any
grain is read from the merged counts, within ``HIST_RELATIVE_ERROR`` of the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from kpis.additive import compute_additive, scoped_frame
from kpis.cube import CubeFrames, Filters
from kpis.definitions import KPI, Category, CubeTable, Direction, Kind, Unit
from kpis.grain import Period, spine
from kpis.measures import HIST_GAMMA, HIST_METRICS, HIST_ZERO_BIN

# Mean = sum of hours / count, from the additive measures of cube_declarations.
METRIC_MEASURES: dict[str, tuple[str, str]] = {
    "release": ("release_hours", "released"),
    "release_from_arrival": ("release_from_arrival_hours", "released_from_arrival"),
    "inspection": ("inspection_hours", "inspections_timed"),
}


def bin_value_expression(bin_column: pl.Expr) -> pl.Expr:
    """Vectorised :func:`kpis.measures.hist_value`."""
    gamma = HIST_GAMMA
    value = 2 * pl.lit(gamma).pow(bin_column.cast(pl.Float64)) / (gamma + 1)
    return pl.when(bin_column == HIST_ZERO_BIN).then(0.0).otherwise(value)


def _column_name(q: float) -> str:
    return f"p{round(q * 100):d}" if q != 0.5 else "median"


def hist_percentiles(
    frame: pl.DataFrame, grain: Sequence[str], quantiles: Sequence[float]
) -> pl.DataFrame:
    """Grain columns, ``n`` and one column per quantile (``median``, ``p90``...) from histogram
    rows (columns ``bin``, ``count`` plus the grain). Nearest rank: the q-quantile is the value
    of the first bucket where the cumulative count reaches ceil(q × n)."""
    keys = list(grain)
    merged = frame.group_by([*keys, "bin"]).agg(pl.col("count").sum()).filter(pl.col("count") > 0)
    merged = merged.sort([*keys, "bin"])
    cumulative = pl.col("count").cum_sum()
    total = pl.col("count").sum()
    merged = merged.with_columns(
        (cumulative.over(keys) if keys else cumulative).alias("_cum"),
        (total.over(keys) if keys else total).alias("n"),
    )
    result = (
        merged.group_by(keys).agg(pl.col("n").first())
        if keys
        else merged.select(pl.col("n").first())
    )
    for q in quantiles:
        if not 0 < q < 1:
            raise ValueError(f"quantile {q} outside (0, 1)")
        rank = (pl.col("n").cast(pl.Float64) * q).ceil().clip(lower_bound=1)
        hit = merged.filter(pl.col("_cum") >= rank)
        name = _column_name(q)
        picked = (
            hit.group_by(keys).agg(pl.col("bin").min().alias(name))
            if keys
            else hit.select(pl.col("bin").min().alias(name))
        )
        picked = picked.with_columns(bin_value_expression(pl.col(name)).alias(name))
        result = (
            result.join(picked, on=keys, how="left")
            if keys
            else pl.concat([result, picked], how="horizontal")
        )
    if not keys and result.height == 0:
        result = pl.DataFrame(
            {"n": [0], **{_column_name(q): [None] for q in quantiles}},
            schema={"n": pl.Int64, **{_column_name(q): pl.Float64 for q in quantiles}},
        )
    return result


def compute_percentile(
    cube: CubeFrames,
    kpi: KPI,
    grain: Sequence[str],
    filters: Filters,
    period: Period | None,
    min_sample: int,
) -> pl.DataFrame:
    """A PERCENTILE catalogue entry: ``value`` = the quantile, ``denominator`` = number of
    durations, ``numerator`` null (a percentile has no numerator)."""
    assert kpi.quantile is not None
    if filters.profiles:
        raise ValueError(f"{kpi.id}: durations are not kept per profile (no profile filter)")
    frame = scoped_frame(cube, kpi, grain, filters, period)
    table = hist_percentiles(frame, grain, [kpi.quantile])
    table = table.rename({_column_name(kpi.quantile): "value", "n": "denominator"})
    if grain:
        table = spine(frame, grain, period).join(table, on=list(grain), how="left")
    table = table.with_columns(
        pl.col("denominator").fill_null(0).cast(pl.Int64),
        pl.lit(None, dtype=pl.Float64).alias("numerator"),
    ).with_columns((pl.col("denominator") >= min_sample).alias("sufficient"))
    table = table.select([*grain, "value", "numerator", "denominator", "sufficient"])
    return table.sort(list(grain)) if grain else table


def _mean_kpi(metric: str) -> KPI:
    hours, count = METRIC_MEASURES[metric]
    return KPI(
        id=f"_{metric}_mean",
        label=metric,
        description="",
        formula="",
        category=Category.TIME,
        unit=Unit.HOURS,
        direction=Direction.LOWER,
        kind=Kind.MEAN,
        source="",
        numerator=hours,
        denominator=count,
        extra_columns=("open",) if metric == "release" else (),
    )


def time_summary(
    cube: CubeFrames,
    metric: str,
    by: Sequence[str] = (),
    filters: Filters | None = None,
    period: Period | None = None,
    min_sample: int = 30,
) -> pl.DataFrame:
    """Grain columns (always including ``channel``), ``count``, ``mean_hours`` (exact, from
    sums), ``median_hours`` and ``p90_hours`` (histogram), ``sufficient``; for the release
    metric also ``open`` (declarations not yet released, counted, not dropped)."""
    if metric not in HIST_METRICS:
        raise ValueError(f"unknown duration metric {metric!r}; one of {', '.join(HIST_METRICS)}")
    filters = filters or Filters()
    grain = [*by, "channel"] if "channel" not in by else list(by)
    means = compute_additive(cube, _mean_kpi(metric), grain, filters, period, min_sample)
    hist_kpi = KPI(
        id=f"_{metric}_hist",
        label=metric,
        description="",
        formula="",
        category=Category.TIME,
        unit=Unit.HOURS,
        direction=Direction.LOWER,
        kind=Kind.PERCENTILE,
        source="",
        table=CubeTable.TIME_HIST,
        hist_metric=metric,
        quantile=0.5,
    )
    frame = scoped_frame(cube, hist_kpi, grain, filters, period)
    percentiles = hist_percentiles(frame, grain, [0.5, 0.9])
    result = means.join(percentiles.drop("n"), on=grain, how="left")
    extra = ["open"] if metric == "release" else []
    result = result.select(
        *grain,
        pl.col("denominator").alias("count"),
        pl.col("value").alias("mean_hours"),
        pl.col("median").alias("median_hours"),
        pl.col("p90").alias("p90_hours"),
        "sufficient",
        *extra,
    )
    return result.sort(grain)


def quantile_from_counts(bins: Sequence[int], counts: Sequence[int], q: float) -> float | None:
    """Reference (pure Python) nearest-rank quantile of a histogram; used by tests and docs."""
    pairs = sorted((b, c) for b, c in zip(bins, counts, strict=True) if c > 0)
    total = sum(c for _, c in pairs)
    if total == 0:
        return None
    rank, cumulative = max(1, math.ceil(q * total)), 0
    for b, c in pairs:
        cumulative += c
        if cumulative >= rank:
            return 0.0 if b == HIST_ZERO_BIN else 2 * HIST_GAMMA**b / (HIST_GAMMA + 1)
    return None
