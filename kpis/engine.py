"""The KPI engine: any catalogue entry at any grain, from the cube frames. Pure polars.

Pages, exports, the CLI and the tests all call :func:`compute`, so screen, file and terminal
cannot disagree. See :func:`compute` for the output contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from kpis import catalogue
from kpis.additive import compute_additive
from kpis.cube import CubeFrames, Filters
from kpis.definitions import GRAINS, KPI, TIME_GRAINS, CubeTable, Kind
from kpis.grain import Period, add_months, month_floor, period_end_day
from kpis.lift import compute_lift
from kpis.profiles import ProfileDetail, profile_detail, profile_table
from kpis.register import compute_register
from kpis.timecalc import compute_percentile, time_summary
from kpis.trends import trend_columns

__all__ = [
    "CubeFrames",
    "Filters",
    "ProfileDetail",
    "compute",
    "lift",
    "profile_detail",
    "profile_table",
    "release_time_stats",
    "resolve",
    "trend_stats",
]


def resolve(kpi_id_or_def: str | KPI) -> KPI:
    """The catalogue entry for an id (``UnknownKPI`` if none), or the definition itself."""
    return kpi_id_or_def if isinstance(kpi_id_or_def, KPI) else catalogue.get(kpi_id_or_def)


def output_grain(kpi: KPI, by: Sequence[str]) -> list[str]:
    """``by`` plus the KPI's required dimensions, checked against its allowed dimensions."""
    grain = list(dict.fromkeys(by))
    unknown = [g for g in grain if g not in GRAINS]
    if unknown:
        raise ValueError(f"unknown dimension {', '.join(unknown)}; one of {', '.join(GRAINS)}")
    refused = [g for g in grain if g not in kpi.allowed_dimensions]
    if refused:
        allowed = ", ".join(kpi.allowed_dimensions) or "none"
        raise ValueError(
            f"{kpi.id} cannot be broken down by {', '.join(refused)} (allowed: {allowed})"
        )
    grain += [d for d in kpi.required_dimensions if d not in grain]
    return grain


def compute(
    kpi_id_or_def: str | KPI,
    cube: CubeFrames,
    by: Sequence[str] = (),
    filters: Filters | None = None,
    period: Period | None = None,
    min_sample: int = 30,
    *,
    today: date | None = None,
) -> pl.DataFrame:
    """Compute one KPI at the grain ``by``.

    Parameters:
        kpi_id_or_def: a catalogue id (``"hit_rate_red"``) or a :class:`KPI`.
        by: grain, among ``month``, ``quarter``, ``year``, ``office``, ``channel``,
            ``selection_source``, ``profile`` (only those the KPI allows; its required
            dimensions, e.g. ``channel`` for ``channel_rates``, are always added after ``by``).
        filters: offices / channels / selection sources / profiles to keep (the profile
            register has no office: active_profiles, review_overdue and profile_changes are
            national and ignore them).
        period: (first day, last day), inclusive, by lodgement month; None = all months.
        min_sample: minimum denominator for ``sufficient`` (and n_min of zero_hit_profiles).
        today: the date profile-management KPIs are evaluated at (default: the period's
            last day, else the last day of the cube's latest month).

    Returns one row per grain key, sorted by the grain columns, with columns:
        * the grain columns: ``month`` (Date, first day), ``quarter`` (str ``2026-Q1``),
          ``year`` (Int32), ``office``, ``channel``, ``selection_source``, ``profile`` (str);
          COMPOSITE entries add ``component`` (the part's id) after them, ``profile_changes``
          adds ``change_type``;
        * ``value``: the KPI (percent units as fractions); null when there is nothing to
          compute it from (zero denominator, or a spine key without data);
        * ``numerator``, ``denominator``: the summed parts (denominator null for counts and
          sums, numerator null for percentiles);
        * rates (proportions, shares): ``ci_low``, ``ci_high``, the Wilson 95 % interval;
        * quotients (rates, ratios, means, percentiles, lift): ``sufficient`` =
          denominator ≥ min_sample. Insufficient values stay computed: pages show
          "insufficient data" instead of the number;
        * LIFT entries: see :func:`kpis.lift.compute_lift` (hit rate, baseline, p-value);
          mean release time: ``open`` (not yet released).
    With a time grain the rows follow an explicit calendar: every month (quarter, year) of the
    period, or of the cube's first to last month without a period, crossed with the other
    dimensions' observed values (every value for channel and selection source): keys without
    data have value null and counts 0. Without a grain: exactly one row.
    """
    kpi = resolve(kpi_id_or_def)
    filters = filters or Filters()
    if kpi.kind is Kind.COMPOSITE:
        return _compute_composite(kpi, cube, by, filters, period, min_sample, today)
    grain = output_grain(kpi, by)
    if filters.profiles and kpi.table is CubeTable.DECLARATIONS:
        # Silently ignoring the profile filter would show national figures as a profile's.
        raise ValueError(f"{kpi.id} is not available per profile (no profile filter)")
    if kpi.kind is Kind.REGISTER:
        return compute_register(cube, kpi, grain, filters, period, min_sample, today)
    if period is None and any(g in TIME_GRAINS for g in grain):
        # The calendar spans the data's months, not only the months this KPI's filter keeps.
        period = cube.span()
    if kpi.kind is Kind.PERCENTILE:
        return compute_percentile(cube, kpi, grain, filters, period, min_sample)
    if kpi.kind is Kind.LIFT:
        return compute_lift(cube, kpi, grain, filters, period, min_sample)
    return compute_additive(cube, kpi, grain, filters, period, min_sample)


def _compute_composite(
    kpi: KPI,
    cube: CubeFrames,
    by: Sequence[str],
    filters: Filters,
    period: Period | None,
    min_sample: int,
    today: date | None,
) -> pl.DataFrame:
    """Parts stacked, column ``component`` after the grain, rows in the parts' order within
    each grain key."""
    frames = []
    grain: list[str] = []
    for order, part_id in enumerate(kpi.parts):
        part = catalogue.get(part_id)
        frame = compute(part, cube, by, filters, period, min_sample, today=today)
        grain = output_grain(part, by)
        frames.append(
            frame.with_columns(
                pl.lit(part_id).alias("component"), pl.lit(order).alias("_order")
            ).select(*grain, "component", pl.exclude([*grain, "component"]))
        )
    stacked = pl.concat(frames, how="vertical")
    return stacked.sort([*grain, "_order"]).drop("_order")


def lift(
    cube: CubeFrames,
    by: Sequence[str] = ("profile",),
    filters: Filters | None = None,
    period: Period | None = None,
    min_sample: int = 30,
) -> pl.DataFrame:
    """Lift of each profile over the random baseline (``compute("lift", ...)``)."""
    return compute("lift", cube, by, filters, period, min_sample)


def release_time_stats(
    cube: CubeFrames,
    by: Sequence[str] = (),
    period: Period | None = None,
    filters: Filters | None = None,
    metric: str = "release",
    min_sample: int = 30,
) -> pl.DataFrame:
    """Mean (exact, from sums), median and 90th percentile (histogram, within 1 %) of a
    duration per ``by`` + channel: columns grain, ``count``, ``mean_hours``,
    ``median_hours``, ``p90_hours``, ``sufficient`` and, for ``release``, ``open``.
    ``metric``: ``release`` (lodgement → release), ``release_from_arrival``, ``inspection``."""
    return time_summary(cube, metric, by, filters, period, min_sample)


def trend_stats(
    kpi_id_or_def: str | KPI,
    cube: CubeFrames,
    by: Sequence[str] = (),
    filters: Filters | None = None,
    as_of: date | None = None,
    min_sample: int = 30,
) -> pl.DataFrame:
    """Month-on-month and year-on-year deltas and the 6-month least-squares slope of a KPI,
    one row per ``by`` key (no time grain in ``by``), as of a month (default: the cube's latest
    month). Columns: see :func:`kpis.trends.trend_columns`. Insufficient monthly values (rates
    below min_sample) are left out of the trend."""
    kpi = resolve(kpi_id_or_def)
    if any(g in ("month", "quarter", "year") for g in by):
        raise ValueError("trend_stats is monthly: leave month/quarter/year out of by")
    if as_of is None:
        months = cube.months()
        if not months:
            return pl.DataFrame()
        as_of = months[-1]
    assert as_of is not None
    start = add_months(month_floor(as_of), -12)
    period = (start, period_end_day(month_floor(as_of)))
    monthly = compute(kpi, cube, ["month", *by], filters, period, min_sample)
    keys = [c for c in monthly.columns if c in (*by, *kpi.required_dimensions)]
    return trend_columns(monthly, keys, as_of)
