"""The review queue of the risk unit's monthly meeting: which profiles need a decision, and why.

A profile is in the queue when at least one of these holds at ``today``:

* the underperformance rules flag it over the window (:mod:`kpis.flags`, via
  :func:`kpis.profiles.profile_table`);
* it is stale: in force, but no hit in the last ``stale_months`` months (dormant when it did
  not even select anything);
* its validity ends within ``validity_days`` days;
* its periodic review is overdue.

Rows are ranked by what they cost (:func:`kpis.profiles.by_severity`): the severity of the
underperformance flags (inspections the profile alone spent beyond what its findings needed,
:func:`kpis.flags.severity`) first, then profiles in the queue for other reasons (stale,
validity, review dates) by their controls without a finding. A good profile whose review is
merely overdue thus sits below one that wastes inspections. Each
row carries its evidence: the numbers, the interval, lift, a 12-month hit-rate series and its
6-month slope, and one sentence per reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import polars as pl

from kpis.cube import CubeFrames, Filters
from kpis.flags import FlagConfig, FlagRule
from kpis.grain import Period, add_months, month_floor, month_range, period_conditions, restrict
from kpis.profiles import UNREGISTERED, default_window, profile_table
from kpis.register import default_today, register_at
from kpis.stats import least_squares_slope


class Reason(StrEnum):
    NO_BETTER_THAN_RANDOM = FlagRule.NO_BETTER_THAN_RANDOM.value
    BELOW_TARGET = FlagRule.BELOW_TARGET.value
    ZERO_HITS = FlagRule.ZERO_HITS.value
    LOW_YIELD = FlagRule.LOW_YIELD.value
    EXPIRED_OR_REVIEW_OVERDUE = FlagRule.EXPIRED_OR_REVIEW_OVERDUE.value
    STALE = "stale"
    VALIDITY_ENDING = "validity_ending"
    REVIEW_OVERDUE = "review_overdue"


@dataclass(frozen=True)
class QueueConfig:
    """What puts a profile in the queue. ``flags``: the underperformance rule set;
    ``stale_months``: months without a hit after which an in-force profile is stale;
    ``validity_days``: horizon of "validity ending soon"; ``trend_months``: months of the
    hit-rate series shown as evidence (rolling 3-month hit rates; the slope uses the last 6)."""

    flags: FlagConfig = field(default_factory=FlagConfig)
    stale_months: int = 6
    validity_days: int = 30
    trend_months: int = 12

    def __post_init__(self) -> None:
        if self.stale_months < 1 or self.validity_days < 0 or self.trend_months < 2:
            raise ValueError("stale_months ≥ 1, validity_days ≥ 0, trend_months ≥ 2")


SLOPE_MONTHS = 6
ROLLING_MONTHS = 3
QUEUE_SCHEMA: dict[str, pl.DataType] = {
    "profile_id": pl.String(),
    "name": pl.String(),
    "risk_area": pl.String(),
    "status": pl.String(),
    "declarations": pl.Int64(),
    "controlled": pl.Int64(),
    "irregular": pl.Int64(),
    "not_paid_off": pl.Int64(),
    "severity": pl.Float64(),
    "controls_to_decide": pl.Int64(),
    "hit_rate": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "sufficient": pl.Boolean(),
    "random_hit_rate": pl.Float64(),
    "lift": pl.Float64(),
    "p_value": pl.Float64(),
    "revenue": pl.Float64(),
    "revenue_per_control": pl.Float64(),
    "sole_controlled": pl.Int64(),
    "sole_irregular": pl.Int64(),
    "last_hit_month": pl.Date(),
    "valid_to": pl.Date(),
    "review_due": pl.Date(),
    "trend": pl.List(pl.Float64()),
    "trend_slope": pl.Float64(),
    "reasons": pl.List(pl.String()),
    "evidence": pl.List(pl.String()),
    "notices": pl.List(pl.String()),
}


def _monthly_hits(cube: CubeFrames, first: date, last: date, filters: Filters) -> pl.DataFrame:
    rows = restrict(
        cube.profiles,
        period_conditions((first, last)),
        Filters(offices=filters.offices, channels=filters.channels).conditions(with_profiles=False),
    )
    return rows.group_by("profile_id", "lodged_month").agg(
        pl.col("declarations").sum(), pl.col("controlled").sum(), pl.col("irregular").sum()
    )


def _last_hit(cube: CubeFrames, last: date, filters: Filters) -> dict[str, date]:
    rows = restrict(
        cube.profiles,
        pl.col("irregular") > 0,
        pl.col("lodged_month") <= last,
        Filters(offices=filters.offices, channels=filters.channels).conditions(with_profiles=False),
    )
    agg = rows.group_by("profile_id").agg(pl.col("lodged_month").max())
    return dict(agg.iter_rows())


def _trend(
    monthly: pl.DataFrame, profile_id: str, months: list[date], min_sample: int
) -> tuple[list[float | None], float | None]:
    """Hit rate over the 3 months ending with each month (monthly samples of one profile are
    too small to read), None below ``min_sample`` controls; and the slope of the last 6 of
    those values (fraction points per month)."""
    mine = {
        m: (c, h)
        for _, m, _, c, h in monthly.filter(pl.col("profile_id") == profile_id).iter_rows()
    }
    series: list[float | None] = []
    for m in months:
        window = [mine.get(add_months(m, -k), (0, 0)) for k in range(ROLLING_MONTHS)]
        controls, hits = sum(c for c, _ in window), sum(h for _, h in window)
        series.append(hits / controls if controls >= min_sample else None)
    recent = [(float(i), v) for i, v in enumerate(series[-SLOPE_MONTHS:]) if v is not None]
    return series, least_squares_slope(recent)


def review_queue(
    cube: CubeFrames,
    config: QueueConfig | None = None,
    period: Period | None = None,
    today: date | None = None,
    filters: Filters | None = None,
    include: Sequence[str] = (),
) -> pl.DataFrame:
    """Profiles needing a decision (:data:`QUEUE_SCHEMA`), the costliest first.

    ``include``: profiles listed even when no reason holds any more (those under review, so
    they do not vanish from the meeting's list; their ``reasons`` are empty).

    ``period``: window of the rules and the numbers (default: the last
    ``config.flags.window_months`` months of data); ``today``: evaluation date of the register
    (default: the period's last day)."""
    config = config or QueueConfig()
    filters = filters or Filters()
    period = period or default_window(cube, config.flags.window_months, today)
    today = today or default_today(cube, period)
    table = profile_table(cube, period, config.flags, today, filters)
    table = table.join(
        register_at(cube, today).select("profile_id", "valid_to"), on="profile_id", how="left"
    )
    end_month = month_floor(period[1])
    trend_months = month_range(add_months(end_month, -(config.trend_months - 1)), end_month)
    stale_from = add_months(end_month, -(config.stale_months - 1))
    first = add_months(min(trend_months[0], stale_from), -(ROLLING_MONTHS - 1))
    monthly = _monthly_hits(cube, first, end_month, filters)
    last_hits = _last_hit(cube, end_month, filters)
    recent = (
        monthly.filter(pl.col("lodged_month") >= stale_from)
        .group_by("profile_id")
        .agg(pl.col("declarations").sum(), pl.col("controlled").sum(), pl.col("irregular").sum())
    )
    recent_by_id = {r[0]: r[1:] for r in recent.iter_rows()}
    rows: list[dict[str, Any]] = []
    wanted = set(include)
    for row in table.iter_rows(named=True):
        reasons, evidence = _reasons(row, config, today, recent_by_id, last_hits, stale_from)
        if not reasons and row["profile_id"] not in wanted:
            continue
        series, slope = _trend(monthly, row["profile_id"], trend_months, config.flags.n_min)
        rows.append(
            {
                **{k: row.get(k) for k in QUEUE_SCHEMA if k in row},
                "status": row["status"],
                "not_paid_off": int(row["controlled"]) - int(row["irregular"]),
                "last_hit_month": last_hits.get(row["profile_id"]),
                "trend": series,
                "trend_slope": slope,
                "reasons": reasons,
                "evidence": evidence,
            }
        )
    queue = pl.DataFrame(rows, schema=QUEUE_SCHEMA)
    return queue.sort(
        ["severity", "not_paid_off", "profile_id"], descending=[True, True, False], nulls_last=True
    )


def _reasons(
    row: dict[str, Any],
    config: QueueConfig,
    today: date,
    recent: dict[str, tuple[int, int, int]],
    last_hits: dict[str, date],
    stale_from: date,
) -> tuple[list[str], list[str]]:
    reasons: list[str] = list(row["flags"] or [])
    evidence: list[str] = list(row["flag_reasons"] or [])
    pid, status = row["profile_id"], row["status"]
    in_force = bool(row.get("in_force"))
    if in_force:
        declarations, controlled, irregular = recent.get(pid, (0, 0, 0))
        if irregular == 0:
            last = last_hits.get(pid)
            since = f"last hit {last:%b %Y}" if last else "no hit on record"
            if declarations == 0:
                text = f"dormant: in force but selected nothing since {stale_from:%b %Y} ({since})"
            else:
                text = (
                    f"stale: no hit in the last {config.stale_months} months ({since}; "
                    f"{controlled} controls and {declarations} selections since {stale_from:%b %Y})"
                )
            reasons.append(Reason.STALE.value)
            evidence.append(text)
        valid_to = row.get("valid_to")
        if valid_to is not None and today < valid_to <= today + timedelta(
            days=config.validity_days
        ):
            reasons.append(Reason.VALIDITY_ENDING.value)
            evidence.append(
                f"validity ends {valid_to.isoformat()} ({(valid_to - today).days} days): "
                "extend, revise or let it expire"
            )
    overdue_flagged = FlagRule.EXPIRED_OR_REVIEW_OVERDUE.value in reasons
    if row.get("review_overdue") and not overdue_flagged and status != UNREGISTERED:
        due = row.get("review_due")
        reasons.append(Reason.REVIEW_OVERDUE.value)
        evidence.append(f"periodic review overdue since {due.isoformat() if due else 'unknown'}")
    return reasons, evidence


__all__ = ["QUEUE_SCHEMA", "QueueConfig", "Reason", "review_queue"]
