"""What-if of a tuning decision, estimated from history (docs/kpis.md, "Tuning levers").

Retiring or suspending one profile or a set, or lowering their selection percentage: how many
inspections would have been saved over a past period, how many detections and how much revenue
would have been at risk, and the national hit rate and inspection rates before and after.

The estimate replays the period without the profiles' selections:

* a declaration is affected only when no profile outside the set fired on it (the others
  would still have selected it) and it was not put in its channel by an independent selection
  (random lane, officer, intelligence: those controls happen whatever the profiles do);
* retiring and suspending drop every affected selection; lowering the selection percentage by
  a factor ``k`` (new % ÷ current %) keeps each profile's selection with probability ``k``, so
  a declaration selected by ``m`` profiles of the set is dropped with probability
  ``(1 - k) ** m`` and the figures are expectations;
* the findings, revenue and durations of the remaining controls are those observed.

One profile is answered from the cube's ``sole_*`` measures; a set needs the facts: the caller
runs :func:`hits_query` through the published version and passes the frame
(:data:`HITS_COLUMNS`) to :func:`what_if`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import polars as pl

from kpis.cube import CubeFrames, Filters
from kpis.domain import (
    CONTROL_CHANNELS,
    Channel,
    SelectionSource,
)
from kpis.grain import Period, month_floor, month_range, period_conditions, restrict
from kpis.measures import controlled_sql, irregular_sql
from kpis.stats import wilson_interval

# Controls that do not depend on the profiles: they would happen without them.
INDEPENDENT_SOURCES: frozenset[str] = frozenset(
    {
        SelectionSource.RANDOM.value,
        SelectionSource.OFFICER.value,
        SelectionSource.INTELLIGENCE.value,
    }
)
_CONTROL_CHANNELS = sorted(c.value for c in CONTROL_CHANNELS)

# The facts frame of a set what-if: one row per (declaration, profile that fired on it), for
# every declaration on which at least one profile of the set fired.
HITS_COLUMNS: dict[str, pl.DataType] = {
    "declaration_id": pl.String(),
    "profile_id": pl.String(),
    "channel": pl.String(),
    "selection_source": pl.String(),
    "controlled": pl.Boolean(),
    "irregular": pl.Boolean(),
    "revenue": pl.Float64(),
}


class Action(StrEnum):
    RETIRE = "retire"
    SUSPEND = "suspend"
    LOWER_SELECTION = "lower_selection"


@dataclass(frozen=True)
class Scenario:
    """What to simulate. ``selection_factor``: new selection % ÷ current % (only for
    LOWER_SELECTION, in [0, 1); retire and suspend are factor 0)."""

    profiles: tuple[str, ...]
    action: Action = Action.RETIRE
    selection_factor: float = 0.0

    def __post_init__(self) -> None:
        if not self.profiles:
            raise ValueError("a what-if needs at least one profile")
        if len(set(self.profiles)) != len(self.profiles):
            raise ValueError("a profile is listed twice")
        if self.action is Action.LOWER_SELECTION:
            if not 0 <= self.selection_factor < 1:
                raise ValueError("selection_factor is new % ÷ current %, in [0, 1)")
        elif self.selection_factor != 0:
            raise ValueError(f"{self.action.value} drops every selection: selection_factor is 0")

    @property
    def kept(self) -> float:
        """Share of each profile's selections that stays."""
        return self.selection_factor if self.action is Action.LOWER_SELECTION else 0.0


@dataclass(frozen=True)
class Assumption:
    id: str
    text: str


def assumptions(scenario: Scenario) -> tuple[Assumption, ...]:
    """The assumptions the estimate rests on, as the page states them."""
    items = [
        Assumption(
            "history",
            "The estimate replays the chosen past period: the same declarations, channels, "
            "findings and revenue, without the selections the decision removes.",
        ),
        Assumption(
            "other_profiles",
            "A declaration on which a profile outside the set also fired would still have "
            "been selected by that profile, with the same outcome.",
        ),
        Assumption(
            "independent_selection",
            "Controls selected at random, by an officer or by intelligence happen anyway: "
            "they are neither saved nor at risk.",
        ),
        Assumption(
            "no_behaviour_change",
            "Traders and officers do not react to the change (no displacement of fraud to "
            "other goods or routes, no reallocation of the freed inspection capacity).",
        ),
    ]
    if scenario.action is Action.LOWER_SELECTION:
        items.append(
            Assumption(
                "thinning",
                f"Each profile keeps {scenario.selection_factor:.0%} of its selections, drawn "
                "at random: the dropped selections find as much as the kept ones. A "
                "declaration selected by m profiles of the set is dropped with probability "
                f"(1 − {scenario.selection_factor:g})^m; figures are expected values.",
            )
        )
    elif scenario.action is Action.SUSPEND:
        items.append(
            Assumption(
                "suspension",
                "A suspension is costed like a retirement over the period; its effect lasts "
                "as long as the suspension.",
            )
        )
    return tuple(items)


@dataclass(frozen=True)
class NationalFigures:
    """Declarations, inspections (any control channel, pending included), physical
    inspections (red), completed controls, hits and revenue over the period and scope."""

    declarations: float
    inspections: float
    physical: float
    controlled: float
    irregular: float
    revenue: float

    @property
    def hit_rate(self) -> float | None:
        return self.irregular / self.controlled if self.controlled else None

    @property
    def hit_rate_ci(self) -> tuple[float, float] | None:
        return wilson_interval(self.irregular, self.controlled)

    @property
    def inspection_rate(self) -> float | None:
        return self.inspections / self.declarations if self.declarations else None

    @property
    def physical_inspection_rate(self) -> float | None:
        return self.physical / self.declarations if self.declarations else None

    @property
    def revenue_per_control(self) -> float | None:
        return self.revenue / self.controlled if self.controlled else None

    def minus(self, removed: Removed) -> NationalFigures:
        return NationalFigures(
            declarations=self.declarations,
            inspections=self.inspections - removed.inspections,
            physical=self.physical - removed.physical,
            controlled=self.controlled - removed.controlled,
            irregular=self.irregular - removed.irregular,
            revenue=self.revenue - removed.revenue,
        )


@dataclass(frozen=True)
class Removed:
    """What the decision removes (expected values for a lowered selection %)."""

    inspections: float  # inspections saved (control channels, pending included)
    physical: float  # physical inspections saved
    controlled: float  # completed controls saved
    irregular: float  # detections at risk
    revenue: float  # revenue at risk


@dataclass(frozen=True)
class SetFigures:
    """The set's own activity over the period: declarations it selected (distinct), their
    completed controls, hits and revenue (every selection source)."""

    declarations: int
    controlled: int
    irregular: int
    revenue: float


@dataclass(frozen=True)
class WhatIfResult:
    scenario: Scenario
    period: Period
    months: int
    method: str  # "cube" (sole_* measures) or "facts" (profile hits)
    own: SetFigures
    removed: Removed
    before: NationalFigures
    after: NationalFigures
    assumptions: tuple[Assumption, ...] = field(default=())

    @property
    def detections_kept(self) -> float:
        return self.own.irregular - self.removed.irregular

    def summary_frame(self) -> pl.DataFrame:
        """Tidy table (what the page shows and exports): ``measure``, ``unit``, ``before``,
        ``after``, ``change``, ``ci_low_before``/``ci_high_before`` and ``…_after`` (Wilson
        95 % for the hit rate only)."""
        b, a = self.before, self.after
        ci_b, ci_a = b.hit_rate_ci, a.hit_rate_ci
        rows: list[dict[str, Any]] = [
            _row("inspections", "count", b.inspections, a.inspections),
            _row("physical_inspections", "count", b.physical, a.physical),
            _row("controls", "count", b.controlled, a.controlled),
            _row("detections", "count", b.irregular, a.irregular),
            _row("revenue", "currency", b.revenue, a.revenue),
            _row("hit_rate", "percent", b.hit_rate, a.hit_rate, ci_b, ci_a),
            _row("inspection_rate", "percent", b.inspection_rate, a.inspection_rate),
            _row(
                "physical_inspection_rate",
                "percent",
                b.physical_inspection_rate,
                a.physical_inspection_rate,
            ),
            _row("revenue_per_control", "currency", b.revenue_per_control, a.revenue_per_control),
        ]
        return pl.DataFrame(rows, schema=SUMMARY_SCHEMA)


SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "measure": pl.String(),
    "unit": pl.String(),
    "before": pl.Float64(),
    "after": pl.Float64(),
    "change": pl.Float64(),
    "ci_low_before": pl.Float64(),
    "ci_high_before": pl.Float64(),
    "ci_low_after": pl.Float64(),
    "ci_high_after": pl.Float64(),
}


def _row(
    measure: str,
    unit: str,
    before: float | None,
    after: float | None,
    ci_before: tuple[float, float] | None = None,
    ci_after: tuple[float, float] | None = None,
) -> dict[str, Any]:
    return {
        "measure": measure,
        "unit": unit,
        "before": before,
        "after": after,
        "change": after - before if before is not None and after is not None else None,
        "ci_low_before": ci_before[0] if ci_before else None,
        "ci_high_before": ci_before[1] if ci_before else None,
        "ci_low_after": ci_after[0] if ci_after else None,
        "ci_high_after": ci_after[1] if ci_after else None,
    }


# --- Figures from the cube ------------------------------------------------------------------
def national_figures(
    cube: CubeFrames, period: Period, filters: Filters | None = None
) -> NationalFigures:
    """National (or office-scoped) totals over the period from ``cube_declarations``."""
    filters = filters or Filters(offices=())
    rows = restrict(
        cube.declarations,
        period_conditions(period),
        Filters(offices=filters.offices).conditions(with_profiles=False),
    )
    in_control = pl.col("channel").is_in(_CONTROL_CHANNELS)
    sums = rows.select(
        pl.col("declarations").sum(),
        pl.col("declarations").filter(in_control).sum().alias("inspections"),
        pl.col("declarations")
        .filter(pl.col("channel") == Channel.RED.value)
        .sum()
        .alias("physical"),
        pl.col("controlled").sum(),
        pl.col("irregular").sum(),
        pl.col("revenue").sum(),
    ).row(0, named=True)
    return NationalFigures(**{k: float(v or 0) for k, v in sums.items()})


def _cube_removed(
    cube: CubeFrames, scenario: Scenario, period: Period, offices: Sequence[str]
) -> tuple[SetFigures, Removed]:
    """One profile: the ``sole_*`` measures of its profile-selected rows."""
    (profile_id,) = scenario.profiles
    rows = restrict(
        cube.profiles,
        pl.col("profile_id") == profile_id,
        period_conditions(period),
        Filters(offices=tuple(offices)).conditions(with_profiles=False),
    )
    own = rows.select(
        pl.col("declarations").sum(),
        pl.col("controlled").sum(),
        pl.col("irregular").sum(),
        pl.col("revenue").sum(),
    ).row(0, named=True)
    dependent = rows.filter(~pl.col("selection_source").is_in(sorted(INDEPENDENT_SOURCES)))
    drop = 1.0 - scenario.kept
    sums = dependent.select(
        pl.col("sole_declarations").filter(pl.col("channel").is_in(_CONTROL_CHANNELS)).sum()
        .alias("inspections"),
        pl.col("sole_declarations").filter(pl.col("channel") == Channel.RED.value).sum()
        .alias("physical"),
        pl.col("sole_controlled").sum().alias("controlled"),
        pl.col("sole_irregular").sum().alias("irregular"),
        pl.col("sole_revenue").sum().alias("revenue"),
    ).row(0, named=True)  # fmt: skip
    return (
        SetFigures(
            declarations=int(own["declarations"] or 0),
            controlled=int(own["controlled"] or 0),
            irregular=int(own["irregular"] or 0),
            revenue=float(own["revenue"] or 0.0),
        ),
        Removed(**{k: drop * float(v or 0) for k, v in sums.items()}),
    )


# --- Figures from the facts -----------------------------------------------------------------
def hits_query(
    profiles: Sequence[str], period: Period, offices: Sequence[str] | None = None
) -> tuple[str, list[Any]]:
    """SQL (and its parameters) over the published ``declarations`` and ``profile_hits`` views
    giving the :data:`HITS_COLUMNS` frame of a set: every profile that fired on each
    declaration of the period (and offices) on which a profile of the set fired."""
    if not profiles:
        raise ValueError("no profile")
    first, last = month_floor(period[0]), month_floor(period[1])
    ids = ", ".join("?" for _ in profiles)
    office_sql = ""
    params: list[Any] = [*profiles, first, last]
    if offices:
        office_sql = f" AND d.office_code IN ({', '.join('?' for _ in offices)})"
        params.extend(offices)
    controlled, hit = controlled_sql("d"), irregular_sql("d")
    sql = (
        "WITH chosen AS (SELECT DISTINCT declaration_id, lodged_month FROM profile_hits "
        f"WHERE profile_id IN ({ids}) AND lodged_month BETWEEN ? AND ?) "
        "SELECT d.declaration_id, h.profile_id, d.channel, "
        "coalesce(d.selection_source, 'unknown') AS selection_source, "
        f"coalesce({controlled}, false) AS controlled, coalesce({hit}, false) AS irregular, "
        "coalesce(d.additional_revenue, 0)::DOUBLE AS revenue "
        "FROM chosen c "
        "JOIN declarations d ON d.declaration_id = c.declaration_id "
        "AND d.lodged_month = c.lodged_month "
        "JOIN profile_hits h ON h.declaration_id = c.declaration_id "
        f"AND h.lodged_month = c.lodged_month WHERE TRUE{office_sql}"
    )
    return sql, params


def _facts_removed(hits: pl.DataFrame, scenario: Scenario) -> tuple[SetFigures, Removed]:
    missing = [c for c in HITS_COLUMNS if c not in hits.columns]
    if missing:
        raise ValueError(f"hits frame lacks {', '.join(missing)}")
    frame = hits.select([pl.col(c).cast(t) for c, t in HITS_COLUMNS.items()])
    in_set = pl.col("profile_id").is_in(list(scenario.profiles))
    per_declaration = frame.group_by("declaration_id").agg(
        in_set.sum().alias("m"),
        (~in_set).sum().alias("others"),
        pl.col("channel").first(),
        pl.col("selection_source").first(),
        pl.col("controlled").first().cast(pl.Float64),
        pl.col("irregular").first().cast(pl.Float64),
        pl.col("revenue").first(),
    )
    mine = per_declaration.filter(pl.col("m") > 0)
    own = SetFigures(
        declarations=mine.height,
        controlled=int(mine["controlled"].sum()),
        irregular=int(mine["irregular"].sum()),
        revenue=float(mine["revenue"].sum()),
    )
    drop = 1.0 - scenario.kept
    affected = mine.filter(
        (pl.col("others") == 0) & ~pl.col("selection_source").is_in(sorted(INDEPENDENT_SOURCES))
    ).with_columns(pl.lit(drop).pow(pl.col("m")).alias("w"))
    w = pl.col("w")
    sums = affected.select(
        w.filter(pl.col("channel").is_in(_CONTROL_CHANNELS)).sum().alias("inspections"),
        w.filter(pl.col("channel") == Channel.RED.value).sum().alias("physical"),
        (w * pl.col("controlled")).sum().alias("controlled"),
        (w * pl.col("irregular")).sum().alias("irregular"),
        (w * pl.col("revenue")).sum().alias("revenue"),
    ).row(0, named=True)
    return own, Removed(**{k: float(v or 0) for k, v in sums.items()})


# --- Entry point ------------------------------------------------------------------------------
def what_if(
    cube: CubeFrames,
    scenario: Scenario,
    period: Period,
    *,
    hits: pl.DataFrame | None = None,
    offices: Sequence[str] = (),
) -> WhatIfResult:
    """Estimate a scenario over ``period`` (first day, last day) and ``offices`` (empty = all).

    With ``hits`` (the :func:`hits_query` frame for the same profiles, period and offices) the
    estimate is counted from the facts; without, from the cube's ``sole_*`` measures, which
    only exist per profile (a set needs ``hits``)."""
    if hits is None and len(scenario.profiles) > 1:
        raise ValueError("a set of profiles needs the profile hits (see hits_query)")
    if hits is None:
        own, removed = _cube_removed(cube, scenario, period, offices)
        method = "cube"
    else:
        own, removed = _facts_removed(hits, scenario)
        method = "facts"
    before = national_figures(cube, period, Filters(offices=tuple(offices)))
    return WhatIfResult(
        scenario=scenario,
        period=period,
        months=len(month_range(*period)),
        method=method,
        own=own,
        removed=removed,
        before=before,
        after=before.minus(removed),
        assumptions=assumptions(scenario),
    )


__all__ = [
    "HITS_COLUMNS",
    "INDEPENDENT_SOURCES",
    "Action",
    "Assumption",
    "NationalFigures",
    "Removed",
    "Scenario",
    "SetFigures",
    "WhatIfResult",
    "assumptions",
    "hits_query",
    "national_figures",
    "what_if",
]
