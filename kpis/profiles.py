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

from kpis import catalogue
from kpis.additive import (
    interval_expressions,
    quotient_expression,
    quotient_parts,
    quotient_value,
)
from kpis.beforeafter import EVENT_SCHEMA, Window, before_after, change_log_events
from kpis.cube import CubeFrames, Filters
from kpis.domain import ChangeType
from kpis.flags import Assessment, ChangeOutcome, FlagConfig, ProfileFigures, assess
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


def evidence_window(period: Period, config: FlagConfig) -> Period:
    """The months the rules judge: ``config.window_months`` ending with the period's month."""
    last = month_floor(period[1])
    return add_months(last, -(config.window_months - 1)), period_end_day(last)


def _monthly_sums(cube: CubeFrames, span: Period, filters: Filters) -> pl.DataFrame:
    """Per profile and lodgement month of ``span``: every summed measure of the table."""
    return (
        restrict(cube.profiles, period_conditions(span), filters.conditions(with_profiles=True))
        .group_by("profile_id", "lodged_month")
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
    ``sole_revenue`` (revenue at risk); ``review_due``, ``review_overdue``; then the rule
    set's judgement over the evidence window ending with the period's month
    (:func:`evidence_window`, whatever the period's start: every surface judges alike):
    ``flags`` (rule ids), ``flag_reasons`` (one sentence each, with the numbers),
    ``severity`` (inspections wasted, :func:`kpis.flags.severity`; null when not flagged for
    performance), ``controls_to_decide`` (further controls before "beats random?" is decided)
    and ``notices`` (undecided evidence in words). With ``filters.profiles``, only those
    profiles' rows (same values as in the full table)."""
    config = flag_config or FlagConfig()
    filters = filters or Filters()
    period = period or default_window(cube, config.window_months, today)
    today = today or default_today(cube, period)
    # One pass over the profile cube: every month the table, the rules and the before/after of
    # the latest modifications need, per profile and month.
    window = evidence_window(period, config)
    history = (add_months(window[0], config.window_months - config.history_months), window[1])
    latest = _latest_modifications(cube, filters.profiles)
    first = min(month_floor(period[0]), history[0])
    if not latest.is_empty():
        earliest = month_floor(latest["changed_at"].min().date())  # type: ignore[union-attr]
        first = min(first, add_months(earliest, -config.change_window_months))
    span = (first, window[1])
    monthly = cube.memoised(
        ("profile monthly sums", span, filters), lambda: _monthly_sums(cube, span, filters)
    )
    sums = (
        monthly.filter(
            pl.col("lodged_month").is_between(month_floor(period[0]), month_floor(period[1]))
        )
        .group_by("profile_id")
        .agg([pl.col(c).sum() for c in _SUMS])
    )
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
    # The figures are the catalogue's entries over each profile's sums (hit_rate via the lift).
    hit_rate = catalogue.get("hit_rate")
    hits, controls = quotient_parts(hit_rate)
    table = table.with_columns(
        pl.col(hits).alias("numerator"), pl.col(controls).alias("denominator")
    )
    table = p_values(with_baseline(table, cube, (), filters, period))
    low, high = interval_expressions(hit_rate)
    table = table.with_columns(
        low.alias("ci_low"),
        high.alias("ci_high"),
        (pl.col("controlled") >= config.n_min).alias("sufficient"),
        quotient_expression(catalogue.get("seizure_rate")).alias("seizure_rate"),
        quotient_expression(catalogue.get("revenue_per_control")).alias("revenue_per_control"),
    )
    table = table.sort("profile_id")
    # The judgement depends on nothing else: kept with the cube for the next page or export.
    key = ("profile judgements", history, config, today, filters, tuple(table["profile_id"]))
    judged = cube.memoised(
        key,
        lambda: _judged_columns(
            _judge(cube, table, monthly, latest, history, config, today, filters)
        ),
    )
    table = table.hstack(judged)
    return table.select(
        "profile_id", "name", "risk_area", "target_channel", "status", "in_force",
        "declarations", "controlled", "irregular", pl.col("seizure").alias("seizures"),
        "hit_rate", "ci_low", "ci_high", "sufficient",
        pl.col("baseline_rate").alias("random_hit_rate"),
        pl.col("baseline_denominator").alias("random_controls"),
        "lift", "p_value", "test", "seizure_rate", "revenue", "revenue_per_control",
        "sole_declarations", "sole_controlled", "sole_irregular", "sole_revenue",
        "review_due", "review_overdue", "flags", "flag_reasons", "severity",
        "controls_to_decide", "notices",
    )  # fmt: skip


def _judged_columns(assessments: list[Assessment]) -> pl.DataFrame:
    """The rule set's columns of the profile table, one row per assessment (in table order)."""
    return pl.DataFrame(
        {
            "flags": [[f.rule.value for f in a.flags] for a in assessments],
            "flag_reasons": [[f.message for f in a.flags] for a in assessments],
            "severity": [a.severity for a in assessments],
            "controls_to_decide": [a.controls_to_decide for a in assessments],
            "notices": [list(a.notices) for a in assessments],
        },
        schema={
            "flags": pl.List(pl.String),
            "flag_reasons": pl.List(pl.String),
            "severity": pl.Float64,
            "controls_to_decide": pl.Int64,
            "notices": pl.List(pl.String),
        },
    )


def by_severity(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows ranked by what they cost: severity (inspections wasted) first, unflagged rows
    after, then by controls and profile id (the order of the Profiles grid, the review queue
    and the report's underperforming list)."""
    return frame.sort(
        ["severity", "controlled", "profile_id"],
        descending=[True, True, False],
        nulls_last=True,
    )


_MONTHLY = (
    "declarations", "controlled", "irregular", "sole_controlled", "sole_irregular", "revenue"
)  # fmt: skip


def _judge(
    cube: CubeFrames,
    table: pl.DataFrame,
    monthly: pl.DataFrame,
    latest: pl.DataFrame,
    history: Period,
    config: FlagConfig,
    today: date,
    filters: Filters,
) -> list[Assessment]:
    """The rule set's assessment of every row of ``table`` (sorted by profile_id) over the
    evidence window (the last ``window_months`` of ``history``) and the history before it;
    ``monthly``: :func:`_monthly_sums` covering ``history`` and the latest modifications'
    before/after windows."""
    ids = table["profile_id"].to_list()
    months = month_range(*history)
    window_months = months[-config.window_months :]
    per: dict[str, dict[date, tuple[Any, ...]]] = {}
    for pid, month, *values in (
        monthly.filter(pl.col("lodged_month") >= history[0])
        .select("profile_id", "lodged_month", *_MONTHLY)
        .iter_rows()
    ):
        per.setdefault(pid, {})[month] = tuple(values)
    baseline = {
        m: (int(x), int(n))
        for m, x, n in random_baseline(cube, ["month"], filters, history)
        .select("month", "baseline_numerator", "baseline_denominator")
        .iter_rows()
    }
    random_series = tuple(baseline.get(m, (0, 0)) for m in months)
    x0 = sum(x for x, _ in random_series[-config.window_months :])
    n0 = sum(n for _, n in random_series[-config.window_months :])
    changes = _change_outcomes(cube, latest.filter(pl.col("profile_id").is_in(ids)), monthly,
                               config, filters)  # fmt: skip
    ends = _ended_on(cube, today)
    zero = (0,) * len(_MONTHLY)
    out = []
    for row in table.iter_rows(named=True):
        pid = str(row["profile_id"])
        series = [per.get(pid, {}).get(m, zero) for m in months]
        recent = series[-config.window_months :]
        total = [sum(v[i] for v in recent) for i in range(len(_MONTHLY))]
        sums = dict(zip(_MONTHLY, total, strict=True))
        status = row["status"]
        end = ends.get(pid) if status != "active" else None
        if row["valid_to"] is not None and row["valid_to"] <= today:
            end = min(end, row["valid_to"]) if end else row["valid_to"]
        after_end = None
        if end is not None:
            stopped = month_floor(end)
            after_end = sum(
                int(v[0]) for m, v in zip(window_months, recent, strict=True) if m > stopped
            )
        change = changes.get(pid)
        since = None
        if change is not None:
            since = sum(1 for m in months if m > month_floor(change.changed_at))
        figures = ProfileFigures(
            profile_id=pid,
            controlled=int(total[1]),
            irregular=int(total[2]),
            hit_rate=quotient_value(catalogue.get("hit_rate"), sums),
            random_hit_rate=x0 / n0 if n0 else None,
            revenue_per_control=quotient_value(catalogue.get("revenue_per_control"), sums),
            declarations=int(total[0]),
            declarations_after_end=after_end,
            status=None if status == UNREGISTERED else str(status),
            valid_to=row["valid_to"],
            review_due=row["review_due"],
            review_overdue=bool(row["review_overdue"]),
            sole_controlled=int(total[3]),
            sole_irregular=int(total[4]),
            monthly=tuple((int(v[2]), int(v[1])) for v in series),
            monthly_sole=tuple((int(v[4]), int(v[3])) for v in series),
            monthly_random=random_series,
            latest_change=change,
            months_since_change=since,
        )
        out.append(assess(figures, config, today))
    return out


def _latest_modifications(cube: CubeFrames, profiles: tuple[str, ...]) -> pl.DataFrame:
    """Each profile's latest modification (the change that alters what it selects: a
    reactivation restores the same rule, so its before/after is no test of it), as events."""
    events = change_log_events(cube, (ChangeType.MODIFIED.value,))
    if profiles:
        events = events.filter(pl.col("profile_id").is_in(list(profiles)))
    if events.is_empty():
        return events
    return events.sort("changed_at").group_by("profile_id", maintain_order=True).last()


def _change_outcomes(
    cube: CubeFrames,
    latest: pl.DataFrame,
    monthly: pl.DataFrame,
    config: FlagConfig,
    filters: Filters,
) -> dict[str, ChangeOutcome]:
    """The before/after verdict of each latest modification (the rule set's window), from the
    table's monthly sums: data up to the evaluation month only."""
    if latest.is_empty():
        return {}
    window = Window(months=config.change_window_months, min_sample=config.n_min)
    results = before_after(cube, latest, window, filters, monthly=monthly)
    out = {}
    for r in results.iter_rows(named=True):
        out[str(r["profile_id"])] = ChangeOutcome(
            changed_at=r["changed_at"].date(),
            change_type=str(r["change_type"]),
            verdict=str(r["verdict"]),
            irregular_before=int(r["irregular_before"]),
            controlled_before=int(r["controlled_before"]),
            irregular_after=int(r["irregular_after"]),
            controlled_after=int(r["controlled_after"]),
            p_value=r["p_value"],
        )
    return out


def _ended_on(cube: CubeFrames, today: date) -> dict[str, date]:
    """When each profile last stopped selecting by a recorded event (retired or suspended),
    on or before ``today``."""
    stops = cube.changes.filter(
        pl.col("change_type").is_in([ChangeType.RETIRED.value, ChangeType.SUSPENDED.value])
    )
    out: dict[str, date] = {}
    for pid, changed_at in stops.select("profile_id", "changed_at").iter_rows():
        day = changed_at.date() if isinstance(changed_at, datetime) else changed_at
        if day is not None and day <= today and (pid not in out or day > out[pid]):
            out[pid] = day
    return out


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
        changes=change_impact(
            cube, profile_id, config.change_window_months, filters, min_sample=config.n_min
        ),
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
    hit_rate = catalogue.get("hit_rate")
    low, high = interval_expressions(hit_rate)
    return frame.with_columns(
        quotient_expression(hit_rate).alias("hit_rate"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        quotient_expression(catalogue.get("revenue_per_control")).alias("revenue_per_control"),
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
    months: int = Window.months,
    filters: Filters | None = None,
    min_sample: int = Window.min_sample,
    decisions: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Before/after of each change-log event of the profile (and of each review decision in
    ``decisions``, :data:`kpis.beforeafter.EVENT_SCHEMA` rows), oldest first:
    :func:`kpis.beforeafter.before_after` (the one before/after test and verdict) over the
    ``months`` full months before the change's month and the ``months`` after it (the change
    month itself is left out: it mixes both). Columns: ``changed_at``, ``change_type``,
    ``summary``, controls, hits and hit rate before and after, ``delta`` (after − before),
    ``p_value``, ``verdict`` and ``source`` (change_log or decision)."""
    every_type = tuple(cube.changes["change_type"].unique().to_list())
    events = change_log_events(cube, every_type).filter(pl.col("profile_id") == profile_id)
    if decisions is not None and not decisions.is_empty():
        own = decisions.filter(pl.col("profile_id") == profile_id).select(list(EVENT_SCHEMA))
        events = pl.concat([events.select(list(EVENT_SCHEMA)), own])
    results = before_after(cube, events, Window(months=months, min_sample=min_sample), filters)
    return results.sort("changed_at").select(
        "changed_at", "change_type", "summary", "controlled_before", "irregular_before",
        "hit_rate_before", "controlled_after", "irregular_after", "hit_rate_after",
        pl.col("hit_rate_delta").alias("delta"), "p_value", "verdict", "source",
    )  # fmt: skip


__all__ = [
    "ProfileDetail",
    "by_severity",
    "change_impact",
    "default_window",
    "evidence_window",
    "profile_breakdown",
    "profile_detail",
    "profile_monthly",
    "profile_overlaps",
    "profile_table",
]
