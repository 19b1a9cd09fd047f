"""Before / after of every recorded change: did the change to a profile improve what it finds?

For each event (change-log entry or review decision) the profile's completed controls, hits,
hit rate (Wilson 95 %), revenue per control and volume over the ``months`` full months before
the event's month and the ``months`` after it. The event's own month is left out: it mixes
both regimes. The hit rates are compared with a two-proportion test (Fisher's exact test when
counts are small) and each event gets a verdict: improved, worsened, no significant change,
insufficient data (fewer than ``min_sample`` controls on either side), stopped selecting (a
retirement or suspension after which the profile selected nothing: its effect is on the
national figures, which the what-if estimates), or too early to tell (no month of data after
the change's month yet: a decision taken this month). :func:`verdict` is the one function that
decides; every surface shows its answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import polars as pl

from kpis.cube import CubeFrames, Filters
from kpis.domain import ChangeType
from kpis.formatting import INSUFFICIENT
from kpis.grain import add_months, month_floor, restrict
from kpis.stats import compare_proportions, wilson_interval

# Change-log events that alter what a profile selects ("reviewed" and "created" have no
# before-and-after of the same rule).
DEFAULT_CHANGE_TYPES: tuple[str, ...] = (
    ChangeType.MODIFIED.value,
    ChangeType.SUSPENDED.value,
    ChangeType.REACTIVATED.value,
    ChangeType.RETIRED.value,
)
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "profile_id": pl.String(),
    "changed_at": pl.Datetime("us"),
    "change_type": pl.String(),
    "summary": pl.String(),
    "changed_by": pl.String(),
    "source": pl.String(),  # "change_log" or "decision"
}


_STOPPING = frozenset({ChangeType.RETIRED.value, ChangeType.SUSPENDED.value, "retire", "suspend"})


class Verdict(StrEnum):
    IMPROVED = "improved"
    WORSENED = "worsened"
    NO_CHANGE = "no_significant_change"
    INSUFFICIENT = "insufficient_data"
    STOPPED = "stopped_selecting"  # retired or suspended: nothing to compare after
    TOO_EARLY = "too_early"  # no data after the change's month yet


# The words every surface shows for a verdict (pages, downloads, the monthly report).
VERDICT_LABELS: dict[Verdict, str] = {
    Verdict.IMPROVED: "improved",
    Verdict.WORSENED: "worsened",
    Verdict.NO_CHANGE: "no significant change",
    Verdict.INSUFFICIENT: INSUFFICIENT,
    Verdict.STOPPED: "stopped selecting",
    Verdict.TOO_EARLY: "too early to tell",
}


def verdict_label(value: Verdict | str) -> str:
    """The words of a verdict (its value or the enum)."""
    return VERDICT_LABELS[Verdict(value)]


@dataclass(frozen=True)
class Window:
    months: int = 3  # full months each side
    min_sample: int = 30  # controls needed on each side for a verdict
    alpha: float = 0.05  # significance level of the test

    def __post_init__(self) -> None:
        if self.months < 1:
            raise ValueError("the window is at least one month on each side")
        if not 0 < self.alpha < 1:
            raise ValueError("alpha is a probability")


def change_log_events(
    cube: CubeFrames, change_types: Sequence[str] = DEFAULT_CHANGE_TYPES
) -> pl.DataFrame:
    """The change log as events (:data:`EVENT_SCHEMA`, ``source`` = change_log)."""
    changes = cube.changes.filter(pl.col("change_type").is_in(list(change_types)))
    return changes.select(
        "profile_id",
        pl.col("changed_at").cast(pl.Datetime("us")),
        "change_type",
        "summary",
        "changed_by",
        pl.lit("change_log").alias("source"),
    )


def _monthly(cube: CubeFrames, profiles: list[str], filters: Filters) -> pl.DataFrame:
    """Per profile and month: declarations, controls, hits, revenue (one pass over the cube)."""
    rows = restrict(
        cube.profiles,
        pl.col("profile_id").is_in(profiles),
        Filters(offices=filters.offices, channels=filters.channels,
                selection_sources=filters.selection_sources).conditions(with_profiles=False),
    )  # fmt: skip
    return rows.group_by("profile_id", "lodged_month").agg(
        pl.col("declarations").sum(),
        pl.col("controlled").sum(),
        pl.col("irregular").sum(),
        pl.col("revenue").sum(),
    )


def _sums(monthly: pl.DataFrame, profile_id: str, first: date, last: date) -> dict[str, Any]:
    part = monthly.filter(
        (pl.col("profile_id") == profile_id) & pl.col("lodged_month").is_between(first, last)
    )
    return {
        "declarations": int(part["declarations"].sum()),
        "controlled": int(part["controlled"].sum()),
        "irregular": int(part["irregular"].sum()),
        "revenue": float(part["revenue"].sum()),
    }


def _side(prefix: str, s: dict[str, Any]) -> dict[str, Any]:
    ci = wilson_interval(s["irregular"], s["controlled"])
    n = s["controlled"]
    return {
        f"declarations_{prefix}": s["declarations"],
        f"controlled_{prefix}": n,
        f"irregular_{prefix}": s["irregular"],
        f"hit_rate_{prefix}": s["irregular"] / n if n else None,
        f"ci_low_{prefix}": ci[0] if ci else None,
        f"ci_high_{prefix}": ci[1] if ci else None,
        f"revenue_{prefix}": s["revenue"],
        f"revenue_per_control_{prefix}": s["revenue"] / n if n else None,
    }


def verdict(
    before: tuple[int, int],
    after: tuple[int, int],
    window: Window,
    *,
    data_after: bool = True,
    stopped: bool = False,
) -> tuple[Verdict, float | None, str]:
    """(verdict, p-value, test name) for (hits, controls) before and after.

    ``data_after``: the data reaches at least the first month of the after-window (otherwise
    it is too early to tell, whatever the counts); ``stopped``: the change retired or suspended
    the profile and it selected nothing afterwards."""
    (hb, nb), (ha, na) = before, after
    test = compare_proportions(ha, na, hb, nb)
    if not data_after:
        return Verdict.TOO_EARLY, None, test.test
    if stopped:
        return Verdict.STOPPED, test.p_value, test.test
    if nb < window.min_sample or na < window.min_sample:
        return Verdict.INSUFFICIENT, test.p_value, test.test
    delta = ha / na - hb / nb
    if test.p_value is not None and test.p_value < window.alpha and delta != 0:
        return (Verdict.IMPROVED if delta > 0 else Verdict.WORSENED), test.p_value, test.test
    return Verdict.NO_CHANGE, test.p_value, test.test


RESULT_SCHEMA: dict[str, pl.DataType] = {
    **EVENT_SCHEMA,
    "before_from": pl.Date(),
    "before_to": pl.Date(),
    "after_from": pl.Date(),
    "after_to": pl.Date(),
    **{
        f"{name}_{side}": dtype
        for side in ("before", "after")
        for name, dtype in (
            ("declarations", pl.Int64()),
            ("controlled", pl.Int64()),
            ("irregular", pl.Int64()),
            ("hit_rate", pl.Float64()),
            ("ci_low", pl.Float64()),
            ("ci_high", pl.Float64()),
            ("revenue", pl.Float64()),
            ("revenue_per_control", pl.Float64()),
        )
    },
    "hit_rate_delta": pl.Float64(),
    "revenue_per_control_delta": pl.Float64(),
    "p_value": pl.Float64(),
    "test": pl.String(),
    "verdict": pl.String(),
    "complete": pl.Boolean(),
}


def before_after(
    cube: CubeFrames,
    events: pl.DataFrame,
    window: Window | None = None,
    filters: Filters | None = None,
    monthly: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per event (:data:`RESULT_SCHEMA`), latest first. ``complete`` is False when the
    after-window reaches past the latest month of data (the verdict may still move).

    ``monthly``: the events' profiles' sums per ``profile_id`` and ``lodged_month``
    (declarations, controlled, irregular, revenue) in the filters' scope, when the caller has
    them already (the profile table); default: computed from the cube."""
    window = window or Window()
    filters = filters or Filters()
    if events.is_empty():
        return pl.DataFrame(schema=RESULT_SCHEMA)
    if monthly is None:
        monthly = _monthly(cube, sorted(set(events["profile_id"].to_list())), filters)
    months = cube.months()
    last_month = months[-1] if months else None
    rows = []
    for event in events.select(list(EVENT_SCHEMA)).iter_rows(named=True):
        moment = event["changed_at"]
        month = month_floor(moment.date() if isinstance(moment, datetime) else moment)
        b_from, b_to = add_months(month, -window.months), add_months(month, -1)
        a_from, a_to = add_months(month, 1), add_months(month, window.months)
        before = _sums(monthly, event["profile_id"], b_from, b_to)
        after = _sums(monthly, event["profile_id"], a_from, a_to)
        outcome, p_value, test = verdict(
            (before["irregular"], before["controlled"]),
            (after["irregular"], after["controlled"]),
            window,
            # Data after the change: the profile selected something after it, or the data
            # reaches the after-window (a stopped profile selects nothing).
            data_after=after["declarations"] > 0
            or (last_month is not None and a_from <= last_month),
            stopped=after["declarations"] == 0 and event["change_type"] in _STOPPING,
        )
        row = {
            **event,
            "before_from": b_from,
            "before_to": b_to,
            "after_from": a_from,
            "after_to": a_to,
            **_side("before", before),
            **_side("after", after),
            "p_value": p_value,
            "test": test,
            "verdict": outcome.value,
            "complete": last_month is not None and a_to <= last_month,
        }
        row["hit_rate_delta"] = _difference(row["hit_rate_after"], row["hit_rate_before"])
        row["revenue_per_control_delta"] = _difference(
            row["revenue_per_control_after"], row["revenue_per_control_before"]
        )
        rows.append(row)
    frame = pl.DataFrame(rows, schema=RESULT_SCHEMA)
    return frame.sort(["changed_at", "profile_id"], descending=[True, False])


def _difference(after: float | None, before: float | None) -> float | None:
    return after - before if after is not None and before is not None else None


def summary(results: pl.DataFrame) -> pl.DataFrame:
    """How many changes improved results and how many did not, per kind of change:
    ``change_type``, ``source``, ``changes``, then one count per verdict, sorted."""
    verdicts = [v.value for v in Verdict]
    if results.is_empty():
        schema = {"change_type": pl.String, "source": pl.String, "changes": pl.Int64}
        return pl.DataFrame(schema={**schema, **{v: pl.Int64 for v in verdicts}})
    return (
        results.group_by("change_type", "source")
        .agg(
            pl.len().cast(pl.Int64).alias("changes"),
            *((pl.col("verdict") == v).sum().cast(pl.Int64).alias(v) for v in verdicts),
        )
        .sort("change_type", "source")
    )


__all__ = [
    "DEFAULT_CHANGE_TYPES",
    "EVENT_SCHEMA",
    "RESULT_SCHEMA",
    "VERDICT_LABELS",
    "Verdict",
    "Window",
    "before_after",
    "change_log_events",
    "summary",
    "verdict",
    "verdict_label",
]
