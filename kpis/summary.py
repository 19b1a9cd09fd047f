"""The month's summary: "is it working, what got worse?" in a handful of facts.

One function, :func:`month_summary`, computes the facts the Overview's summary band and the
monthly report's cover paragraph both show, so the two never disagree:

* how many headline KPIs (:data:`kpis.catalogue.HEADLINE_KPIS`) with a target are off (and
  near) target in the month, by :func:`kpis.targets.kpi_status`;
* the lift of profile selection over random in the month (catalogue ``selection_lift``) with
  its 95 % interval (:func:`kpis.stats.lift_interval`, Katz, the random lane's uncertainty
  included);
* the profiles flagged by the rule set (:func:`kpis.profiles.profile_table`, the Profiles
  page's and the report's judgement over the evidence window ending with the month), what they
  cost (the sum of :func:`kpis.flags.severity`: inspections wasted), and the significant
  deteriorations: the profiles the ``deteriorating`` rule flags.

:func:`summary_sentences` words them; both surfaces print those sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import polars as pl

from kpis import catalogue
from kpis.cube import CubeFrames, Filters
from kpis.engine import compute, profile_table
from kpis.flags import FlagConfig, FlagRule
from kpis.formatting import format_value
from kpis.grain import add_months, month_floor, period_end_day
from kpis.stats import lift_interval
from kpis.targets import TargetStatus, kpi_status


def ignores_channel(kpi_id: str) -> bool:
    """A share across channels ("% physically inspected" is 100 % of the red channel): a
    channel filter makes it meaningless, so it is computed over every channel."""
    return "channel" not in catalogue.get(kpi_id).allowed_dimensions


@dataclass(frozen=True)
class Summary:
    """The month's facts (see the module docstring)."""

    month: date
    judged: int  # headline KPIs with a target and enough data to judge
    off_target: tuple[str, ...]  # KPI ids off target
    near_target: tuple[str, ...]
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    lift_sufficient: bool
    flagged: tuple[str, ...]  # profile ids with at least one flag
    severity: float  # inspections wasted by the flagged profiles (sum of severities)
    deteriorating: tuple[str, ...]  # profile ids flagged ``deteriorating``
    recent_months: int = 3  # the months severity counts
    random_hits: int = 0  # the lift's baseline: random controls with a finding, and controls
    random_controls: int = 0
    min_sample: int = 30  # controls each side needs before the lift is shown

    @property
    def lift_significant(self) -> bool:
        """The interval lies wholly above 1: profile selection beats random."""
        return self.lift_low is not None and self.lift_low > 1


def month_summary(
    cube: CubeFrames,
    month: date,
    flags: FlagConfig,
    filters: Filters | None = None,
    min_sample: int | None = None,
) -> Summary:
    """The facts of ``month`` (any day of it) within ``filters`` (None = national)."""
    filters = filters or Filters()
    n_min = flags.n_min if min_sample is None else min_sample
    first = month_floor(month)
    period = (first, period_end_day(first))
    judged = 0
    off: list[str] = []
    near: list[str] = []
    for kpi_id in catalogue.HEADLINE_KPIS:
        kpi = catalogue.get(kpi_id)
        scope = replace(filters, channels=()) if ignores_channel(kpi_id) else filters
        row = _scalar(compute(kpi, cube, filters=scope, period=period, min_sample=n_min))
        status = kpi_status(kpi, row.get("value"), row.get("sufficient"))
        if status in (TargetStatus.ON, TargetStatus.NEAR, TargetStatus.OFF):
            judged += 1
        if status is TargetStatus.OFF:
            off.append(kpi_id)
        elif status is TargetStatus.NEAR:
            near.append(kpi_id)
    lift = _scalar(
        compute("selection_lift", cube, filters=filters, period=period, min_sample=n_min)
    )
    interval = None
    x1, n1 = lift.get("numerator"), lift.get("denominator")
    x0, n0 = lift.get("baseline_numerator"), lift.get("baseline_denominator")
    if None not in (x1, n1, x0, n0):
        interval = lift_interval(int(x1 or 0), int(n1 or 0), int(x0 or 0), int(n0 or 0))
    window = (add_months(first, -(flags.window_months - 1)), period[1])
    table = profile_table(
        cube, period=window, flag_config=flags, today=period[1], filters=filters
    ).filter(pl.col("flags").list.len() > 0)
    flagged = tuple(sorted(table["profile_id"].to_list()))
    worse = tuple(
        sorted(
            table.filter(pl.col("flags").list.contains(FlagRule.DETERIORATING.value))[
                "profile_id"
            ].to_list()
        )
    )
    cost = float(table["severity"].fill_null(0).sum() or 0.0)
    value = lift.get("value")
    return Summary(
        month=first,
        judged=judged,
        off_target=tuple(off),
        near_target=tuple(near),
        lift=None if value is None else float(value),
        lift_low=None if interval is None else interval.low,
        lift_high=None if interval is None else interval.high,
        lift_sufficient=bool(lift.get("sufficient", False)) and value is not None,
        flagged=flagged,
        severity=cost,
        deteriorating=worse,
        recent_months=flags.recent_months,
        random_hits=int(x0 or 0),
        random_controls=int(n0 or 0),
        min_sample=n_min,
    )


def _scalar(frame: pl.DataFrame) -> dict[str, Any]:
    return frame.row(0, named=True) if frame.height else {}


def _labels(ids: tuple[str, ...]) -> str:
    return ", ".join(catalogue.get(k).label for k in ids)


def lift_text(summary: Summary) -> str:
    """ "2.41 (95 % interval 2.05–2.83)", or why there is no lift."""
    if summary.lift is None:
        if summary.random_controls and not summary.random_hits:
            return (
                f"not defined: none of the {summary.random_controls:,} random controls found "
                "anything (no baseline to divide by)"
            )
        return "not defined: no random or no profile-selected controls"
    if not summary.lift_sufficient:
        return (
            f"insufficient data ({summary.random_controls:,} random controls this month, "
            f"{summary.min_sample:,} needed on each side)"
        )
    unit = catalogue.get("selection_lift").unit
    text = format_value(summary.lift, unit)
    if summary.lift_low is not None and summary.lift_high is not None:
        low, high = format_value(summary.lift_low, unit), format_value(summary.lift_high, unit)
        text += f" (95 % interval {low}–{high})"
    return text


def summary_sentences(summary: Summary) -> list[str]:
    """The facts in words, the same on the Overview's band and the report's cover."""
    total = len(catalogue.HEADLINE_KPIS)
    off, near = summary.off_target, summary.near_target
    targets = f"Of the {total} headline KPIs, {summary.judged} have a target to judge: "
    targets += f"{len(off)} off target ({_labels(off)})" if off else "none off target"
    if near:
        targets += f", {len(near)} near target ({_labels(near)})"
    targets += "."
    if summary.lift is None or not summary.lift_sufficient:
        verdict = ""
    elif summary.lift_significant:
        verdict = ": profile selection finds more than random selection"
    elif summary.lift_high is not None and summary.lift_high < 1:
        verdict = ": profile selection finds less than random selection"
    else:
        verdict = ": not shown to differ from random selection"
    lift = f"Lift of profile selection over random: {lift_text(summary)}{verdict}."
    n = len(summary.flagged)
    wasted = f"{summary.severity:,.0f}"
    flagged = (
        f"{n} profile{'s' if n != 1 else ''} flagged, costing {wasted} inspections wasted "
        f"over the last {summary.recent_months} months (severity)."
        if n
        else "No profile flagged."
    )
    d = len(summary.deteriorating)
    worse = (
        f"{d} significant deterioration{'s' if d != 1 else ''} (profiles whose hit rate fell "
        f"significantly): {', '.join(summary.deteriorating)}."
        if d
        else "No significant deterioration of a profile's hit rate."
    )
    return [targets, worse, lift, flagged]
