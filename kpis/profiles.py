"""Profile views: the profile table (every profile, every figure the risk unit tunes with, and
the underperformance flags) and one profile's detail (trend, breakdowns, overlaps, changes).

A profile's figures count every declaration on which it fired (cube_profiles); a declaration
hit by several profiles counts for each. The random baseline is the whole period's random hit
rate in the same office scope.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import polars as pl

from kpis.additive import wilson_expressions
from kpis.cube import CubeFrames, Filters
from kpis.flags import FlagConfig, ProfileFigures, evaluate
from kpis.grain import (
    Period,
    add_months,
    month_floor,
    month_range,
    period_conditions,
    period_end_day,
    restrict,
)
from kpis.lift import p_values, random_baseline, with_baseline
from kpis.register import default_today, register_at
from kpis.stats import compare_proportions

UNREGISTERED = "unregistered"
_SUMS = (
    "declarations",
    "controlled",
    "irregular",
    "seizure",
    "revenue",
    "sole_declarations",
    "sole_controlled",
    "sole_irregular",
    "sole_revenue",
)


def default_window(cube: CubeFrames, months: int, today: date | None = None) -> Period:
    """The last ``months`` months ending with the latest month of data (or today's month)."""
    observed = cube.months()
    last = observed[-1] if observed else month_floor(today or date(1970, 1, 1))
    return add_months(last, -(months - 1)), period_end_day(last)


def _per_profile(cube: CubeFrames, period: Period, filters: Filters) -> pl.DataFrame:
    return (
        restrict(cube.profiles, period_conditions(period), filters.conditions(with_profiles=True))
        .group_by("profile_id")
        .agg([pl.col(c).sum() for c in _SUMS])
    )


def profile_table(
    cube: CubeFrames,
    period: Period | None = None,
    flag_config: FlagConfig | None = None,
    today: date | None = None,
    filters: Filters | None = None,
) -> pl.DataFrame:
    """One row per profile, registered or not (sorted by profile_id), over ``period`` (default:
    the last ``flag_config.window_months`` months of data).

    Columns: ``profile_id``, ``name``, ``risk_area``, ``target_channel``, ``status`` (register
    status at ``today``, or ``unregistered``), ``in_force``, ``declarations`` (volume),
    ``controlled``, ``irregular`` (hits), ``seizures``, ``hit_rate``, ``ci_low``, ``ci_high``
    (Wilson 95 %), ``sufficient`` (controls ≥ n_min), ``random_hit_rate``, ``random_controls``,
    ``lift``, ``p_value`` and ``test`` (vs random), ``seizure_rate``, ``revenue``,
    ``revenue_per_control``, what-if of retiring it: ``sole_declarations``,
    ``sole_controlled`` (inspections saved), ``sole_irregular`` (detections at risk),
    ``sole_revenue`` (revenue at risk); ``review_due``, ``review_overdue``, ``flags`` (list of
    rule names) and ``flag_reasons`` (list of sentences with the numbers). With
    ``filters.profiles``, only those profiles' rows (same values as in the full table)."""
    config = flag_config or FlagConfig()
    filters = filters or Filters()
    period = period or default_window(cube, config.window_months, today)
    today = today or default_today(cube, period)
    sums = _per_profile(cube, period, filters)
    register = cube.register.select("profile_id", "name", "risk_area", "target_channel")
    status = register_at(cube, today).select(
        "profile_id", "status", "valid_to", "in_force", "review_due", "review_overdue"
    )
    if filters.profiles:  # only these rows (the random baseline never depends on profiles)
        register = register.filter(pl.col("profile_id").is_in(list(filters.profiles)))
    ids = pl.concat(
        [sums.select("profile_id"), register.select("profile_id")], how="vertical"
    ).unique()
    table = (
        ids.join(register, on="profile_id", how="left")
        .join(status, on="profile_id", how="left")
        .join(sums, on="profile_id", how="left")
        .with_columns([pl.col(c).fill_null(0) for c in _SUMS])
        .with_columns(
            pl.col("status").fill_null(UNREGISTERED),
            pl.col("in_force").fill_null(False),
            pl.col("review_overdue").fill_null(False),
        )
    )
    table = table.with_columns(
        pl.col("irregular").alias("numerator"), pl.col("controlled").alias("denominator")
    )
    table = p_values(with_baseline(table, cube, (), filters, period))
    low, high = wilson_expressions(pl.col("irregular"), pl.col("controlled"))
    per_control = pl.when(pl.col("controlled") > 0)
    table = table.with_columns(
        low.alias("ci_low"),
        high.alias("ci_high"),
        (pl.col("controlled") >= config.n_min).alias("sufficient"),
        per_control.then(pl.col("seizure") / pl.col("controlled")).alias("seizure_rate"),
        per_control.then(pl.col("revenue") / pl.col("controlled")).alias("revenue_per_control"),
    )
    flags, reasons = [], []
    for row in table.iter_rows(named=True):
        fired = evaluate(_figures(row), config, today)
        flags.append([f.rule.value for f in fired])
        reasons.append([f.message for f in fired])
    table = table.with_columns(
        pl.Series("flags", flags, dtype=pl.List(pl.String)),
        pl.Series("flag_reasons", reasons, dtype=pl.List(pl.String)),
    )
    return table.select(
        "profile_id", "name", "risk_area", "target_channel", "status", "in_force",
        "declarations", "controlled", "irregular", pl.col("seizure").alias("seizures"),
        "hit_rate", "ci_low", "ci_high", "sufficient",
        pl.col("baseline_rate").alias("random_hit_rate"),
        pl.col("baseline_denominator").alias("random_controls"),
        "lift", "p_value", "test", "seizure_rate", "revenue", "revenue_per_control",
        "sole_declarations", "sole_controlled", "sole_irregular", "sole_revenue",
        "review_due", "review_overdue", "flags", "flag_reasons",
    ).sort("profile_id")  # fmt: skip


def _figures(row: dict[str, Any]) -> ProfileFigures:
    """The rule inputs from a profile-table row (polars rows are untyped dicts)."""
    status = row["status"]
    return ProfileFigures(
        profile_id=str(row["profile_id"]),
        controlled=int(row["controlled"]),
        irregular=int(row["irregular"]),
        hit_rate=row["hit_rate"],
        ci_high=row["ci_high"],
        random_hit_rate=row["baseline_rate"],
        revenue_per_control=row["revenue_per_control"],
        declarations=int(row["declarations"]),
        status=None if status == UNREGISTERED else str(status),
        valid_to=row["valid_to"],
        review_due=row["review_due"],
        review_overdue=bool(row["review_overdue"]),
    )


@dataclass(frozen=True)
class ProfileDetail:
    """Everything the profile page shows for one profile."""

    summary: pl.DataFrame  # the profile's row of profile_table
    monthly: pl.DataFrame  # profile_monthly
    by_channel: pl.DataFrame  # profile_breakdown(..., "channel")
    by_office: pl.DataFrame  # profile_breakdown(..., "office")
    overlaps: pl.DataFrame  # profile_overlaps
    changes: pl.DataFrame  # change_impact


def profile_detail(
    cube: CubeFrames,
    profile_id: str,
    period: Period | None = None,
    flag_config: FlagConfig | None = None,
    today: date | None = None,
    filters: Filters | None = None,
) -> ProfileDetail:
    """One profile: its profile-table row over ``period`` (default window), its monthly trend
    over the whole data span (or period), breakdowns by channel and office, overlaps with other
    profiles, and the before/after of each change-log event."""
    config = flag_config or FlagConfig()
    filters = filters or Filters()
    window = period or default_window(cube, config.window_months, today)
    only = replace(filters, profiles=(profile_id,))
    summary = profile_table(cube, window, config, today, only).filter(
        pl.col("profile_id") == profile_id
    )
    trend_period = period or cube.span()
    return ProfileDetail(
        summary=summary,
        monthly=profile_monthly(cube, profile_id, trend_period, filters),
        by_channel=profile_breakdown(cube, profile_id, "channel", window, filters),
        by_office=profile_breakdown(cube, profile_id, "office_code", window, filters),
        overlaps=profile_overlaps(cube, profile_id, window),
        changes=change_impact(cube, profile_id, filters=filters),
    )


def _profile_rows(
    cube: CubeFrames, profile_id: str, period: Period | None, filters: Filters
) -> pl.DataFrame:
    return restrict(
        cube.profiles,
        pl.col("profile_id") == profile_id,
        period_conditions(period),
        filters.conditions(with_profiles=False),
    )


def _rates(frame: pl.DataFrame) -> pl.DataFrame:
    low, high = wilson_expressions(pl.col("irregular"), pl.col("controlled"))
    per_control = pl.when(pl.col("controlled") > 0)
    return frame.with_columns(
        per_control.then(pl.col("irregular") / pl.col("controlled")).alias("hit_rate"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        per_control.then(pl.col("revenue") / pl.col("controlled")).alias("revenue_per_control"),
    )


def profile_monthly(
    cube: CubeFrames, profile_id: str, period: Period | None, filters: Filters | None = None
) -> pl.DataFrame:
    """Per month of the period (calendar spine): ``month``, ``declarations``, ``controlled``,
    ``irregular``, ``revenue``, ``hit_rate``, ``ci_low``, ``ci_high``, ``random_hit_rate``
    (same month and office scope) and ``lift``."""
    filters = filters or Filters()
    rows = _profile_rows(cube, profile_id, period, filters)
    sums = rows.group_by(pl.col("lodged_month").alias("month")).agg(
        [pl.col(c).sum() for c in ("declarations", "controlled", "irregular", "revenue")]
    )
    months = month_range(*period) if period else []
    calendar = pl.DataFrame({"month": months}, schema={"month": pl.Date})
    frame = calendar.join(sums, on="month", how="left").with_columns(
        pl.col(c).fill_null(0) for c in ("declarations", "controlled", "irregular", "revenue")
    )
    baseline = random_baseline(cube, ["month"], filters, period)
    frame = _rates(frame).join(baseline, on="month", how="left")
    base = pl.when(pl.col("baseline_denominator") > 0).then(
        pl.col("baseline_numerator") / pl.col("baseline_denominator")
    )
    frame = frame.with_columns(base.alias("random_hit_rate"))
    lift = pl.when(pl.col("random_hit_rate") > 0).then(
        pl.col("hit_rate") / pl.col("random_hit_rate")
    )
    return (
        frame.with_columns(lift.alias("lift"))
        .drop("baseline_numerator", "baseline_denominator")
        .sort("month")
    )


def profile_breakdown(
    cube: CubeFrames,
    profile_id: str,
    column: str,
    period: Period | None,
    filters: Filters | None = None,
) -> pl.DataFrame:
    """The profile's figures per value of a cube column (``channel``, ``office_code``,
    ``selection_source``): declarations, controls, hits, revenue, hit rate with interval."""
    rows = _profile_rows(cube, profile_id, period, filters or Filters())
    sums = rows.group_by(column).agg(
        [pl.col(c).sum() for c in ("declarations", "controlled", "irregular", "revenue")]
    )
    return _rates(sums).sort(column)


def profile_overlaps(cube: CubeFrames, profile_id: str, period: Period | None) -> pl.DataFrame:
    """Profiles that fired together with this one: ``other_profile``, ``declarations``,
    ``controlled``, ``irregular`` in common, and ``overlap_share`` = shared declarations /
    this profile's declarations. Sorted by shared declarations, most first."""
    pairs = restrict(cube.profile_pairs, period_conditions(period))
    mine = pairs.filter((pl.col("profile_a") == profile_id) | (pl.col("profile_b") == profile_id))
    other = pl.when(pl.col("profile_a") == profile_id).then("profile_b").otherwise("profile_a")
    shared = mine.group_by(other.alias("other_profile")).agg(
        [pl.col(c).sum() for c in ("declarations", "controlled", "irregular")]
    )
    own = _profile_rows(cube, profile_id, period, Filters())["declarations"].sum()
    share = pl.col("declarations") / own if own else pl.lit(None, dtype=pl.Float64)
    return shared.with_columns(share.alias("overlap_share")).sort(
        ["declarations", "other_profile"], descending=[True, False]
    )


def change_impact(
    cube: CubeFrames,
    profile_id: str,
    months: int = 3,
    filters: Filters | None = None,
) -> pl.DataFrame:
    """Before/after of each change-log event of the profile: ``changed_at``, ``change_type``,
    ``summary``, then controls, hits and hit rate over the ``months`` full months before the
    change's month and the ``months`` after it (the change month itself is left out: it mixes
    both), ``delta`` (after − before) and ``p_value`` of the difference."""
    filters = filters or Filters()
    events = cube.changes.filter(pl.col("profile_id") == profile_id).sort("changed_at")
    rows = []
    for changed_at, change_type, summary in events.select(
        "changed_at", "change_type", "summary"
    ).iter_rows():
        changed = changed_at.date() if isinstance(changed_at, datetime) else changed_at
        month = month_floor(changed)
        before = _window_sums(cube, profile_id, add_months(month, -months), months, filters)
        after = _window_sums(cube, profile_id, add_months(month, 1), months, filters)
        rate_b = before[0] / before[1] if before[1] else None
        rate_a = after[0] / after[1] if after[1] else None
        test = compare_proportions(after[0], after[1], before[0], before[1])
        rows.append(
            {
                "changed_at": changed_at,
                "change_type": change_type,
                "summary": summary,
                "controlled_before": before[1],
                "irregular_before": before[0],
                "hit_rate_before": rate_b,
                "controlled_after": after[1],
                "irregular_after": after[0],
                "hit_rate_after": rate_a,
                "delta": rate_a - rate_b if rate_a is not None and rate_b is not None else None,
                "p_value": test.p_value,
            }
        )
    schema: dict[str, pl.DataType] = {
        "changed_at": pl.Datetime("us"), "change_type": pl.String(), "summary": pl.String(),
        "controlled_before": pl.Int64(), "irregular_before": pl.Int64(),
        "hit_rate_before": pl.Float64(), "controlled_after": pl.Int64(),
        "irregular_after": pl.Int64(), "hit_rate_after": pl.Float64(), "delta": pl.Float64(),
        "p_value": pl.Float64(),
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def _window_sums(
    cube: CubeFrames, profile_id: str, start: date, months: int, filters: Filters
) -> tuple[int, int]:
    period = (start, period_end_day(start, months))
    rows = _profile_rows(cube, profile_id, period, filters)
    return int(rows["irregular"].sum()), int(rows["controlled"].sum())


__all__ = [
    "ProfileDetail",
    "change_impact",
    "default_window",
    "profile_breakdown",
    "profile_detail",
    "profile_monthly",
    "profile_overlaps",
    "profile_table",
]
