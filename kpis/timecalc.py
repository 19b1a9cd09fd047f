"""Durations: percentiles from the mergeable histogram ``cube_time_hist``, means from sums.

The histogram stores, per cube cell, how many durations fell in each log bucket
(:func:`kpis.measures.hist_bin`). Buckets of any set of cells add up, so a percentile at any
grain is read from the merged counts, within ``HIST_RELATIVE_ERROR`` of the exact value.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from kpis import catalogue
from kpis.additive import compute_additive, scoped_frame
from kpis.cube import CubeFrames, Filters
from kpis.definitions import KPI
from kpis.durations import duration
from kpis.grain import Period, spine
from kpis.measures import HIST_GAMMA, HIST_ZERO_BIN


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
    d = duration(metric)
    filters = filters or Filters()
    grain = [*by, "channel"] if "channel" not in by else list(by)
    # The catalogue's mean entry (exact, from sums); its median entry locates the histogram.
    means = compute_additive(cube, catalogue.get(d.mean_kpi), grain, filters, period, min_sample)
    hist_kpi = catalogue.get(d.median_kpi)
    frame = scoped_frame(cube, hist_kpi, grain, filters, period)
    percentiles = hist_percentiles(frame, grain, [0.5, 0.9])
    result = means.join(percentiles.drop("n"), on=grain, how="left")
    extra = ["open"] if d.counts_open else []
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


# Duration bands of a distribution (hours, upper bound inclusive), as the Clearance page shows it.
DURATION_BANDS: tuple[tuple[float, str], ...] = (
    (1, "≤ 1 h"), (3, "1–3 h"), (6, "3–6 h"), (12, "6–12 h"), (24, "12–24 h"),
    (48, "1–2 d"), (72, "2–3 d"), (168, "3–7 d"), (float("inf"), "> 7 d"),
)  # fmt: skip


def duration_distribution(
    cube: CubeFrames,
    metric: str,
    filters: Filters | None = None,
    period: Period | None = None,
    bands: Sequence[tuple[float, str]] = DURATION_BANDS,
) -> pl.DataFrame:
    """Share of a duration's timed declarations in each band, per channel, from the merged
    histogram of its catalogue entry: columns ``channel``, ``bucket`` (band label), ``count``,
    ``total`` (the channel's count), ``share``, ``bucket_order``; sorted by channel and band.
    Bands without any duration are left out."""
    d = duration(metric)
    filters = filters or Filters()
    frame = scoped_frame(cube, catalogue.get(d.median_kpi), ["channel"], filters, period)
    hours = bin_value_expression(pl.col("bin"))
    bucket = pl.lit(bands[-1][1])
    for bound, label in reversed(bands[:-1]):
        bucket = pl.when(hours <= bound).then(pl.lit(label)).otherwise(bucket)
    counts = frame.group_by("channel", bucket.alias("bucket")).agg(pl.col("count").sum())
    totals = counts.group_by("channel").agg(pl.col("count").sum().alias("total"))
    order = {label: i for i, (_b, label) in enumerate(bands)}
    return (
        counts.join(totals, on="channel")
        .with_columns(
            (pl.col("count") / pl.col("total")).alias("share"),
            pl.col("bucket").replace_strict(order, return_dtype=pl.Int32).alias("bucket_order"),
        )
        .sort("channel", "bucket_order")
    )
