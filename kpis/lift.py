"""Lift over the random baseline, and its test.

The baseline is the hit rate of randomly selected controls in the same period and the same
office scope (the subject's channel or profile does not restrict it: random selection is the
population estimate those are compared with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import polars as pl

from kpis import catalogue
from kpis.additive import scoped_frame, sum_parts, wilson_expressions
from kpis.cube import CubeFrames, Filters
from kpis.definitions import KPI, TIME_GRAINS, CubeTable
from kpis.grain import Period
from kpis.stats import compare_proportions

# The catalogue's random hit rate, always read from the declaration cube: the baseline is the
# population estimate, never restricted to a profile.
RANDOM_BASELINE = replace(catalogue.get("random_hit_rate"), table=CubeTable.DECLARATIONS)


def baseline_grain(grain: Sequence[str]) -> list[str]:
    """The part of a grain the random baseline follows: time and office."""
    return [g for g in grain if g in TIME_GRAINS or g == "office"]


def random_baseline(
    cube: CubeFrames, grain: Sequence[str], filters: Filters, period: Period | None
) -> pl.DataFrame:
    """``baseline_grain(grain)`` columns, ``baseline_numerator``, ``baseline_denominator``."""
    keys = baseline_grain(grain)
    scope = filters.office_scope()
    frame = scoped_frame(cube, RANDOM_BASELINE, keys, scope, period)
    sums = sum_parts(frame, RANDOM_BASELINE, keys, period)
    return sums.select(
        *keys,
        pl.col("numerator").alias("baseline_numerator"),
        pl.col("denominator").alias("baseline_denominator"),
    )


def with_baseline(
    subject: pl.DataFrame,
    cube: CubeFrames,
    grain: Sequence[str],
    filters: Filters,
    period: Period | None,
) -> pl.DataFrame:
    """``subject`` (grain, numerator = hits, denominator = controls) with the baseline parts,
    ``hit_rate``, ``baseline_rate`` and ``lift`` added. Lift is null when either rate is
    undefined, and when the baseline rate is 0 (no finite ratio)."""
    keys = baseline_grain(grain)
    baseline = random_baseline(cube, grain, filters, period)
    if keys:
        joined = subject.join(baseline, on=keys, how="left")
    else:
        joined = subject.join(baseline, how="cross")
    joined = joined.with_columns(
        pl.col("baseline_numerator").fill_null(0), pl.col("baseline_denominator").fill_null(0)
    )
    rate = pl.when(pl.col("denominator") > 0).then(pl.col("numerator") / pl.col("denominator"))
    base = pl.when(pl.col("baseline_denominator") > 0).then(
        pl.col("baseline_numerator") / pl.col("baseline_denominator")
    )
    joined = joined.with_columns(rate.alias("hit_rate"), base.alias("baseline_rate"))
    lift = pl.when(pl.col("baseline_rate") > 0).then(pl.col("hit_rate") / pl.col("baseline_rate"))
    return joined.with_columns(lift.alias("lift"))


def p_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``p_value`` and ``test`` (``z`` or ``fisher``) comparing numerator/denominator with
    baseline_numerator/baseline_denominator, row by row (one row per profile: cheap)."""
    results = [
        compare_proportions(int(x1), int(n1), int(x2), int(n2))
        for x1, n1, x2, n2 in frame.select(
            "numerator", "denominator", "baseline_numerator", "baseline_denominator"
        ).iter_rows()
    ]
    return frame.with_columns(
        pl.Series("p_value", [r.p_value for r in results], dtype=pl.Float64),
        pl.Series("test", [r.test for r in results], dtype=pl.String),
    )


def compute_lift(
    cube: CubeFrames,
    kpi: KPI,
    grain: Sequence[str],
    filters: Filters,
    period: Period | None,
    min_sample: int,
) -> pl.DataFrame:
    """A LIFT entry. Columns: grain, ``value`` (lift), ``numerator`` (hits), ``denominator``
    (controls), ``hit_rate`` with ``hit_rate_ci_low``/``hit_rate_ci_high`` (Wilson 95 %),
    ``baseline_numerator``, ``baseline_denominator``, ``baseline_rate``, ``p_value``, ``test``
    and ``sufficient`` (both the subject and the baseline have ≥ min_sample controls)."""
    frame = scoped_frame(cube, kpi, grain, filters, period)
    subject = sum_parts(frame, kpi, grain, period)
    joined = p_values(with_baseline(subject, cube, grain, filters, period))
    low, high = wilson_expressions(pl.col("numerator"), pl.col("denominator"))
    sufficient = (pl.col("denominator") >= min_sample) & (
        pl.col("baseline_denominator") >= min_sample
    )
    result = joined.select(
        *grain,
        pl.col("lift").alias("value"),
        "numerator",
        "denominator",
        "hit_rate",
        low.alias("hit_rate_ci_low"),
        high.alias("hit_rate_ci_high"),
        "baseline_numerator",
        "baseline_denominator",
        "baseline_rate",
        "p_value",
        "test",
        sufficient.alias("sufficient"),
    )
    return result.sort(list(grain)) if grain else result
