"""What a monthly report contains: every table computed once, by the KPI engine.

Every number here comes from :func:`kpis.engine.compute` (or the engine's helpers) on the cube of
the published version, exactly as the dashboard computes it; this module only chooses which
KPIs, grains and periods to show and lays the results out. The workbook, the CSV files and the
PDF are then written from these same frames, so they cannot disagree with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import polars as pl

from kpis import catalogue
from kpis.cube import CubeFrames
from kpis.definitions import KPI
from kpis.durations import DURATIONS
from kpis.engine import compute, profile_table, release_time_stats
from kpis.flags import FlagConfig
from kpis.grain import Period, add_months, period_end_day
from kpis.stats import delta
from kpis.summary import Summary
from kpis.surfaces import REPORT_SHEETS
from kpis.targets import kpi_status, status_label

# The KPIs of each sheet are declared in kpis.surfaces (and listed in docs/kpis.md).
BY_CHANNEL: tuple[str, ...] = REPORT_SHEETS["kpis_by_channel"]
BY_OFFICE: tuple[str, ...] = REPORT_SHEETS["kpis_by_office"]
TREND_KPIS: tuple[str, ...] = REPORT_SHEETS["trend_12_months"]
TREND_MONTHS = 12
RELEASED_WITHIN: tuple[str, ...] = tuple(
    part for kpi_id in REPORT_SHEETS["released_within"] for part in catalogue.get(kpi_id).parts
)


@dataclass
class ReportContent:
    """Everything written into one report version."""

    month: date
    period: Period
    generated_at: datetime
    data_as_of: datetime | None
    published_version: str
    pending_controls: int
    headline: pl.DataFrame
    flags: FlagConfig  # the underperformance rule set applied (settings)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)  # name → frame (sheet/CSV)
    zone: tzinfo = UTC  # the administration's zone, in which the report shows its stamps
    kpis: dict[str, KPI] = field(default_factory=dict)  # every KPI shown, for definitions
    summary: Summary | None = None  # the month's facts (kpis.summary): the cover paragraph
    # The committee's review decisions taken in the month (DECISION_COLUMNS), passed in by the
    # worker or the CLI: the report never reads the app state itself.
    decisions: pl.DataFrame | None = None

    @property
    def min_sample(self) -> int:
        """Controls below which a rate is "insufficient data" (the settings' minimum sample)."""
        return self.flags.n_min

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"


# What the report lists of each decision (the app state's decisions_frame columns).
DECISION_COLUMNS: dict[str, pl.DataType] = {
    "profile_id": pl.String(),
    "changed_at": pl.Datetime("us"),
    "change_type": pl.String(),
    "summary": pl.String(),
    "changed_by": pl.String(),
}


# The report's names for them (sheet and CSV ``review_decisions``).
DECISION_NAMES: dict[str, str] = {
    "changed_at": "decided_at",
    "change_type": "decision",
    "summary": "rationale",
    "changed_by": "decided_by",
}


def month_decisions(decisions: pl.DataFrame | None, period: Period) -> pl.DataFrame:
    """The decisions taken within ``period`` (by ``changed_at``, UTC), oldest first, as
    ``profile_id``, ``decided_at``, ``decision``, ``rationale``, ``decided_by``."""
    if decisions is None or decisions.is_empty():
        return pl.DataFrame(schema=DECISION_COLUMNS).rename(DECISION_NAMES)
    frame = decisions.select(
        pl.col(name).cast(dtype) if name in decisions.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in DECISION_COLUMNS.items()
    )
    day = pl.col("changed_at").dt.date()
    return (
        frame.filter((day >= period[0]) & (day <= period[1]))
        .sort("changed_at")
        .rename(DECISION_NAMES)
    )


def month_period(month: date) -> Period:
    first = month.replace(day=1)
    return first, period_end_day(first)


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    return (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)


def _key(frame: pl.DataFrame, name: str) -> pl.Expr:
    # Months stay dates (a date cell in the workbook, ISO in the CSV); other keys are text.
    if frame.schema[name] == pl.Date():
        return pl.col(name)
    return pl.col(name).cast(pl.String)


def long_rows(
    cube: CubeFrames,
    kpi_ids: Sequence[str],
    dims: Sequence[str],
    period: Period,
    min_sample: int,
    used: dict[str, KPI],
) -> pl.DataFrame:
    """One row per (grain key, KPI) with value, parts, interval and the sample rule."""
    frames = []
    for kpi_id in kpi_ids:
        kpi = catalogue.get(kpi_id)
        if any(d not in kpi.allowed_dimensions for d in dims if d not in kpi.required_dimensions):
            continue
        used[kpi.id] = kpi
        out = compute(kpi, cube, by=dims, period=period, min_sample=min_sample)
        keys = [d for d in (*dims, *kpi.required_dimensions) if d in out.columns]
        frames.append(
            out.select(
                *[_key(out, k) for k in dict.fromkeys(keys)],
                pl.lit(kpi.id).alias("kpi_id"),
                pl.lit(kpi.label).alias("kpi"),
                pl.lit(kpi.unit.value).alias("unit"),
                _col(out, "value", pl.Float64()),
                _col(out, "numerator", pl.Float64()),
                _col(out, "denominator", pl.Float64()),
                _col(out, "ci_low", pl.Float64()),
                _col(out, "ci_high", pl.Float64()),
                _col(out, "sufficient", pl.Boolean()),
            )
        )
    return pl.concat(frames, how="diagonal")


def _scalar(cube: CubeFrames, kpi: KPI, period: Period, min_sample: int) -> dict[str, Any]:
    rows = compute(kpi, cube, by=(), period=period, min_sample=min_sample).to_dicts()
    return rows[0] if rows else {}


def headline_rows(
    cube: CubeFrames, month: date, min_sample: int, used: dict[str, KPI]
) -> pl.DataFrame:
    """National figures of the headline KPIs (:data:`kpis.catalogue.HEADLINE_KPIS`, the
    Overview's cards) for the month with target, status (:func:`kpis.targets.kpi_status`, in
    words), month-on-month and year-on-year."""
    period = month_period(month)
    prev = month_period(add_months(month, -1))
    last_year = month_period(add_months(month, -12))
    rows = []
    for kpi_id in catalogue.HEADLINE_KPIS:
        kpi = catalogue.get(kpi_id)
        used[kpi.id] = kpi
        cur = _scalar(cube, kpi, period, min_sample)
        before = _scalar(cube, kpi, prev, min_sample).get("value")
        year_ago = _scalar(cube, kpi, last_year, min_sample).get("value")
        value = cur.get("value")
        mom, _ = delta(value, before)
        yoy, _ = delta(value, year_ago)
        rows.append(
            {
                "kpi_id": kpi.id,
                "kpi": kpi.label,
                "unit": kpi.unit.value,
                "value": value,
                "numerator": cur.get("numerator"),
                "denominator": cur.get("denominator"),
                "ci_low": cur.get("ci_low"),
                "ci_high": cur.get("ci_high"),
                "sufficient": cur.get("sufficient"),
                "target": kpi.default_target,
                "status": status_label(kpi_status(kpi, value, cur.get("sufficient"))),
                "previous_month": before,
                "change_vs_previous_month": mom,
                "same_month_last_year": year_ago,
                "change_vs_last_year": yoy,
                "definition_version": kpi.version,
            }
        )
    schema = {
        "kpi_id": pl.String(),
        "kpi": pl.String(),
        "unit": pl.String(),
        **{c: pl.Float64() for c in ("value", "numerator", "denominator", "ci_low", "ci_high")},
        "sufficient": pl.Boolean(),
        "target": pl.Float64(),
        "status": pl.String(),
        **{
            c: pl.Float64()
            for c in (
                "previous_month",
                "change_vs_previous_month",
                "same_month_last_year",
                "change_vs_last_year",
            )
        },
        "definition_version": pl.Int64(),
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def clearance_rows(cube: CubeFrames, period: Period, min_sample: int) -> pl.DataFrame:
    """Mean, median and 90th percentile per channel for each duration the cube measures."""
    frames = []
    for d in DURATIONS:
        out = release_time_stats(cube, by=(), period=period, metric=d.name, min_sample=min_sample)
        frames.append(
            out.select(
                pl.lit(d.name).alias("metric"),
                pl.lit(d.interval).alias("interval"),
                pl.col("channel").cast(pl.String),
                _col(out, "count", pl.Int64()),
                _col(out, "mean_hours", pl.Float64()),
                _col(out, "median_hours", pl.Float64()),
                _col(out, "p90_hours", pl.Float64()),
                _col(out, "open", pl.Int64()),
                _col(out, "sufficient", pl.Boolean()),
            )
        )
    return pl.concat(frames, how="vertical")


# KPIs whose per-profile values the profile table carries (listed in the definitions sheet).
PROFILE_KPIS: tuple[str, ...] = REPORT_SHEETS["profiles"]
# Profile-table columns written to the report (the flags go to their own sheet, judged on
# the rules' window rather than on one month).
PROFILE_COLUMNS: tuple[str, ...] = (
    "profile_id", "name", "risk_area", "target_channel", "status", "in_force",
    "declarations", "controlled", "irregular", "seizures", "hit_rate", "ci_low", "ci_high",
    "sufficient", "random_hit_rate", "random_controls", "lift", "p_value", "test",
    "seizure_rate", "revenue", "revenue_per_control", "sole_declarations", "sole_controlled",
    "sole_irregular", "sole_revenue", "review_due", "review_overdue",
)  # fmt: skip


def profile_rows(
    cube: CubeFrames, period: Period, flags: FlagConfig, used: dict[str, KPI]
) -> pl.DataFrame:
    """The Profiles page's table for the month: every profile that fired in it or was in force
    at its end, figures from :func:`kpis.profiles.profile_table` (status as of month end)."""
    for kpi_id in PROFILE_KPIS:
        kpi = catalogue.get(kpi_id)
        used[kpi.id] = kpi
    table = profile_table(cube, period=period, flag_config=flags, today=period[1])
    return (
        table.filter((pl.col("declarations") > 0) | pl.col("in_force"))
        .select(PROFILE_COLUMNS)
        .sort("profile_id")
    )


def trend_rows(
    cube: CubeFrames, month: date, min_sample: int, used: dict[str, KPI]
) -> pl.DataFrame:
    """The last 12 months of the trend KPIs (month grain, explicit calendar)."""
    period = (add_months(month, -(TREND_MONTHS - 1)), period_end_day(month))
    return long_rows(cube, TREND_KPIS, ("month",), period, min_sample, used)


def definition_rows(kpis: dict[str, KPI]) -> pl.DataFrame:
    """Each KPI shown, with formula, unit, target, source and definition version."""
    rows = []
    for kpi in sorted(kpis.values(), key=lambda k: (k.category.value, k.id)):
        rows.append(
            {
                "kpi_id": kpi.id,
                "kpi": kpi.label,
                "category": kpi.category.value,
                "description": kpi.description,
                "formula": kpi.formula,
                "unit": kpi.unit.value,
                "better": kpi.direction.value,
                "kind": kpi.kind.value,
                "target": kpi.default_target,
                "target_note": kpi.target_note,
                "source": kpi.source,
                "reference": kpi.reference,
                "definition_version": kpi.version,
            }
        )
    return pl.DataFrame(rows, orient="row")
