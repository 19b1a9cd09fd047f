"""Profile-management KPIs: from the profile register and change log (plus the profile cube),
evaluated at a date.

The register holds each profile's *current* status. For a past date the status is rebuilt by
undoing, newest first, the change-log events after that date (before ``suspended`` or
``retired`` it was active, before ``reactivated`` suspended, before ``created`` it did not
exist); with no later events the register's status holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl

from kpis.additive import wilson_expressions
from kpis.cube import CubeFrames, Filters
from kpis.definitions import CHANGE_TYPE, KPI, TIME_GRAINS
from kpis.domain import ChangeType, ProfileStatus
from kpis.grain import (
    Period,
    grain_expression,
    month_range,
    period_conditions,
    period_end_day,
    restrict,
    spine,
)
from kpis.lift import with_baseline

# Status a profile had just before an event (walking back from its current status).
STATUS_BEFORE: dict[ChangeType, ProfileStatus | None] = {
    ChangeType.CREATED: None,  # did not exist
    ChangeType.SUSPENDED: ProfileStatus.ACTIVE,
    ChangeType.REACTIVATED: ProfileStatus.SUSPENDED,
    ChangeType.RETIRED: ProfileStatus.ACTIVE,
}
REVIEWABLE: frozenset[str] = frozenset({ProfileStatus.ACTIVE.value, ProfileStatus.SUSPENDED.value})


def _as_date(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def register_at(cube: CubeFrames, as_of: date) -> pl.DataFrame:
    """The register as of a date: ``profile_id``, ``status`` (rebuilt for past dates),
    ``valid_from``, ``valid_to``, ``review_period_days``, ``last_review`` (latest review on or
    before the date: review events or the register's last_reviewed_at), ``in_force`` (status
    active and valid_from ≤ date < valid_to) and ``review_overdue``."""
    events: dict[str, list[tuple[date, str]]] = {}
    for pid, changed_at, change_type in cube.changes.select(
        "profile_id", "changed_at", "change_type"
    ).iter_rows():
        changed = _as_date(changed_at)
        if changed is not None:  # the warehouse requires it; a hand-made frame might not
            events.setdefault(pid, []).append((changed, change_type))
    rows = []
    for record in cube.register.iter_rows(named=True):
        pid = record["profile_id"]
        history = sorted(events.get(pid, []))
        status: str | None = record["status"]
        # Undo, newest first, every event after the date; modified/reviewed keep the status.
        for changed, change_type in reversed(history):
            if changed <= as_of or status is None:
                break
            kind = ChangeType(change_type)
            if kind in STATUS_BEFORE:
                before = STATUS_BEFORE[kind]
                status = before.value if before is not None else None
        reviews = [d for d, t in history if t == ChangeType.REVIEWED and d <= as_of]
        if record["last_reviewed_at"] is not None and record["last_reviewed_at"] <= as_of:
            reviews.append(record["last_reviewed_at"])
        last_review = max(reviews) if reviews else None
        valid_from, valid_to = record["valid_from"], record["valid_to"]
        in_force = (
            status == ProfileStatus.ACTIVE.value
            and (valid_from is None or valid_from <= as_of)
            and (valid_to is None or as_of < valid_to)
        )
        period = record["review_period_days"]
        reference = last_review or (valid_from if valid_from and valid_from <= as_of else None)
        overdue = (
            status in REVIEWABLE
            and period is not None
            and reference is not None
            and reference + timedelta(days=int(period)) < as_of
        )
        rows.append(
            {
                "profile_id": pid,
                "status": status,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "review_period_days": period,
                "last_review": last_review,
                "review_due": reference + timedelta(days=int(period))
                if reference is not None and period is not None
                else None,
                "in_force": in_force,
                "review_overdue": overdue,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "profile_id": pl.String,
            "status": pl.String,
            "valid_from": pl.Date,
            "valid_to": pl.Date,
            "review_period_days": pl.Int64,
            "last_review": pl.Date,
            "review_due": pl.Date,
            "in_force": pl.Boolean,
            "review_overdue": pl.Boolean,
        },
    )


def default_today(cube: CubeFrames, period: Period | None) -> date:
    """Evaluation date when none is given: the period's last day, else the last day of the
    cube's latest month, else the latest change-log date."""
    if period is not None:
        return period[1]
    months = cube.months()
    if months:
        return period_end_day(months[-1])
    latest = cube.changes.get_column("changed_at").max()
    if isinstance(latest, datetime):
        return latest.date()
    raise ValueError("no date to evaluate the profile register at: pass today")


def _time_keys(grain: Sequence[str], cube: CubeFrames, period: Period | None) -> pl.DataFrame:
    """Time-grain keys of the period (or of the cube's months) with ``_as_of_month``: the
    last month of each key."""
    time_grains = [g for g in grain if g in TIME_GRAINS]
    if period is not None:
        months = month_range(*period)
    else:
        observed = cube.months()
        months = month_range(observed[0], observed[-1]) if observed else []
    calendar = pl.DataFrame({"lodged_month": months}, schema={"lodged_month": pl.Date})
    return (
        calendar.with_columns([grain_expression(g) for g in time_grains])
        .group_by(time_grains)
        .agg(pl.col("lodged_month").max().alias("_as_of_month"))
    )


def _count_at_dates(
    kpi: KPI, cube: CubeFrames, grain: Sequence[str], period: Period | None, today: date
) -> pl.DataFrame:
    column = "in_force" if kpi.id == "active_profiles" else "review_overdue"
    if not grain:
        count = int(register_at(cube, today).get_column(column).sum())
        return pl.DataFrame({"value": [float(count)], "numerator": [count]}).with_columns(
            pl.lit(None, dtype=pl.Int64).alias("denominator")
        )
    keys = _time_keys(grain, cube, period)
    counts = []
    for last_month in keys.get_column("_as_of_month").to_list():
        as_of = min(period_end_day(last_month), today)
        counts.append(int(register_at(cube, as_of).get_column(column).sum()))
    return (
        keys.with_columns(pl.Series("numerator", counts, dtype=pl.Int64))
        .select(
            *grain,
            pl.col("numerator").cast(pl.Float64).alias("value"),
            "numerator",
            pl.lit(None, dtype=pl.Int64).alias("denominator"),
        )
        .sort(list(grain))
    )


def _profile_sums(
    cube: CubeFrames, grain: Sequence[str], filters: Filters, period: Period | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows in scope with the grain columns, per grain key and profile: ``numerator`` =
    hits, ``denominator`` = controls)."""
    frame = restrict(
        cube.profiles, period_conditions(period), filters.conditions(with_profiles=True)
    ).with_columns([grain_expression(g) for g in grain])
    per_profile = frame.group_by([*grain, "profile_id"]).agg(
        pl.col("irregular").sum().alias("numerator"),
        pl.col("controlled").sum().alias("denominator"),
    )
    return frame, per_profile


def _on_spine(
    frame: pl.DataFrame,
    per_profile: pl.DataFrame,
    grain: Sequence[str],
    period: Period | None,
    aggregations: list[pl.Expr],
) -> pl.DataFrame:
    """Aggregate the per-profile rows to the grain, on the calendar spine (zeros where empty)."""
    if grain:
        sums = per_profile.group_by(list(grain)).agg(aggregations)
        sums = spine(frame, grain, period).join(sums, on=list(grain), how="left")
    else:
        sums = per_profile.select(aggregations)
    return sums.with_columns(pl.col(c).fill_null(0) for c in sums.columns if c not in grain)


def _zero_hit(
    cube: CubeFrames, grain: Sequence[str], filters: Filters, period: Period | None, n_min: int
) -> pl.DataFrame:
    frame, per_profile = _profile_sums(cube, grain, filters, period)
    eligible = pl.col("denominator") >= n_min
    aggregations = [
        (eligible & (pl.col("numerator") == 0)).sum().cast(pl.Int64).alias("numerator"),
        eligible.sum().cast(pl.Int64).alias("denominator"),
        pl.len().alias("_rows"),
    ]
    sums = _on_spine(frame, per_profile, grain, period, aggregations)
    value = pl.when(pl.col("_rows") > 0).then(pl.col("numerator").cast(pl.Float64))
    return sums.with_columns(value.alias("value"))


def _low_lift(
    cube: CubeFrames, grain: Sequence[str], filters: Filters, period: Period | None
) -> pl.DataFrame:
    frame, per_profile = _profile_sums(cube, grain, filters, period)
    lifted = with_baseline(per_profile, cube, grain, filters, period)
    low = pl.col("lift").is_not_null() & (pl.col("lift") <= 1)
    aggregations = [
        pl.when(low).then(pl.col("denominator")).otherwise(0).sum().alias("numerator"),
        pl.col("denominator").sum().alias("denominator"),
        pl.col("baseline_denominator").max().alias("_baseline"),
    ]
    sums = _on_spine(frame, lifted, grain, period, aggregations)
    # Without random controls there is no lift: the share is unknown, not 0 %.
    defined = (pl.col("denominator") > 0) & (pl.col("_baseline") > 0)
    value = pl.when(defined).then(pl.col("numerator") / pl.col("denominator"))
    return sums.with_columns(value.alias("value"))


def _changes(cube: CubeFrames, grain: Sequence[str], period: Period | None) -> pl.DataFrame:
    frame = restrict(
        cube.changes.with_columns(
            pl.col("changed_at").dt.truncate("1mo").cast(pl.Date).alias("lodged_month")
        ),
        period_conditions(period),
    )
    frame = frame.with_columns([grain_expression(g) for g in grain if g != CHANGE_TYPE])
    aggregations = [pl.len().cast(pl.Int64).alias("numerator")]
    sums = frame.group_by(list(grain)).agg(aggregations)
    types = pl.DataFrame({CHANGE_TYPE: [c.value for c in ChangeType]})
    time_grains = [g for g in grain if g != CHANGE_TYPE]
    keys = spine(frame, time_grains, period).join(types, how="cross") if time_grains else types
    sums = keys.join(sums, on=list(grain), how="left").with_columns(
        pl.col("numerator").fill_null(0)
    )
    return sums.select(
        *grain,
        pl.col("numerator").cast(pl.Float64).alias("value"),
        "numerator",
        pl.lit(None, dtype=pl.Int64).alias("denominator"),
    ).sort(list(grain))


def compute_register(
    cube: CubeFrames,
    kpi: KPI,
    grain: Sequence[str],
    filters: Filters,
    period: Period | None,
    min_sample: int,
    today: date | None,
) -> pl.DataFrame:
    """A REGISTER entry (output as :func:`kpis.engine.compute`). active_profiles and
    review_overdue count profiles at ``today`` (or, per time-grain key, at the key's last day
    when earlier); zero_hit_profiles (denominator: profiles with ≥ min_sample controls) and
    controls_low_lift use the profile cube of each key's window."""
    if kpi.id in ("active_profiles", "review_overdue"):
        return _count_at_dates(kpi, cube, grain, period, today or default_today(cube, period))
    if kpi.id == "profile_changes":
        return _changes(cube, grain, period)
    if period is None and any(g in TIME_GRAINS for g in grain):
        period = cube.span()  # the calendar spans the data's months
    if kpi.id == "zero_hit_profiles":
        sums = _zero_hit(cube, grain, filters, period, min_sample)
        return sums.select(*grain, "value", "numerator", "denominator").sort(list(grain))
    if kpi.id == "controls_low_lift":
        sums = _low_lift(cube, grain, filters, period)
        low, high = wilson_expressions(pl.col("numerator"), pl.col("denominator"))
        valid = pl.col("value").is_not_null()
        result = sums.select(
            *grain,
            "value",
            "numerator",
            "denominator",
            pl.when(valid).then(low).alias("ci_low"),
            pl.when(valid).then(high).alias("ci_high"),
            (pl.col("denominator") >= min_sample).alias("sufficient"),
        )
        return result.sort(list(grain)) if grain else result
    raise ValueError(f"{kpi.id}: no register computation")
