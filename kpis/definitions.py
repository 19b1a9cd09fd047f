"""The typed shape of a KPI definition (the records of :mod:`kpis.catalogue`).

A KPI is data: a frozen record naming the cube measures it sums, the filters on the cube's
dimensions, how the parts combine (its :class:`Kind`), its unit, direction and provenance.
Percent values are fractions (0.034 = 3.4 %); formatting multiplies by 100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# Grains a KPI can be computed at, and the cube column each one reads.
TIME_GRAINS: tuple[str, ...] = ("month", "quarter", "year")
GRAIN_COLUMNS: dict[str, str] = {
    "month": "lodged_month",
    "quarter": "lodged_month",
    "year": "lodged_month",
    "office": "office_code",
    "channel": "channel",
    "selection_source": "selection_source",
    "profile": "profile_id",
}
GRAINS: tuple[str, ...] = tuple(GRAIN_COLUMNS)
# Extra output dimension of the profile change-log KPI (not a cube dimension).
CHANGE_TYPE = "change_type"


class Unit(StrEnum):
    COUNT = "count"
    PERCENT = "percent"  # stored as a fraction in [0, 1]
    CURRENCY = "currency"
    HOURS = "hours"
    RATIO = "ratio"


class Direction(StrEnum):
    HIGHER = "higher"  # higher is better
    LOWER = "lower"  # lower is better
    NEUTRAL = "neutral"  # policy or context, no better side


class Kind(StrEnum):
    COUNT = "count"  # sum of a count measure
    SUM = "sum"  # sum of an amount measure (revenue)
    PROPORTION = "proportion"  # sum(num) / sum(den), num ⊆ den: Wilson interval
    SHARE = "share"  # sum(num) / sum(num over every value of share_dimension): Wilson
    RATIO = "ratio"  # sum(num) / sum(den), unbounded (revenue per control)
    MEAN = "mean"  # sum(hours) / sum(count)
    PERCENTILE = "percentile"  # from the mergeable histogram cube_time_hist
    LIFT = "lift"  # hit rate / random hit rate of the same period and office scope
    COMPOSITE = "composite"  # several catalogue entries shown together (column `component`)
    REGISTER = "register"  # profile management: register + change log (+ cube) at a date


class Category(StrEnum):
    SELECTION = "selection"
    EFFECTIVENESS = "effectiveness"
    TIME = "time"
    PROFILE_MANAGEMENT = "profile management"


class CubeTable(StrEnum):
    """Which cube table a KPI reads. AUTO: the profile cube when the grain or the filters
    involve a profile (a declaration then counts once per profile that fired), otherwise the
    declaration cube (each declaration once)."""

    AUTO = "auto"
    DECLARATIONS = "cube_declarations"
    PROFILES = "cube_profiles"
    TIME_HIST = "cube_time_hist"
    REGISTER = "profiles"


RATE_KINDS: frozenset[Kind] = frozenset({Kind.PROPORTION, Kind.SHARE})
QUOTIENT_KINDS: frozenset[Kind] = frozenset(
    {Kind.PROPORTION, Kind.SHARE, Kind.RATIO, Kind.MEAN, Kind.LIFT}
)


@dataclass(frozen=True)
class DimFilter:
    """``dimension in values``; dimension is a grain name (``channel``, ``selection_source``)."""

    dimension: str
    values: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.dimension} = {' or '.join(self.values)}"


@dataclass(frozen=True)
class KPI:
    """One catalogue entry. Fields that do not apply to a kind stay at their defaults."""

    id: str
    label: str
    description: str
    formula: str  # in words, for `kpis explain` and the pages' "how is this computed"
    category: Category
    unit: Unit
    direction: Direction
    kind: Kind
    source: str  # where the definition comes from
    version: int = 1  # bump when the definition changes; reports record it
    numerator: str | None = None  # measure name (kpis.measures)
    numerator_subtract: str | None = None  # numerator = numerator − this (complements)
    denominator: str | None = None
    filters: tuple[DimFilter, ...] = ()  # apply to numerator and denominator
    numerator_filters: tuple[DimFilter, ...] = ()  # apply to the numerator only
    table: CubeTable = CubeTable.AUTO
    allowed_dimensions: tuple[str, ...] = GRAINS
    required_dimensions: tuple[str, ...] = ()  # always part of the output grain
    share_dimension: str | None = None  # SHARE: the dimension the parts are shares of
    hist_metric: str | None = None  # PERCENTILE: one of kpis.measures.HIST_METRICS
    quantile: float | None = None  # PERCENTILE: 0.5 = median
    parts: tuple[str, ...] = ()  # COMPOSITE: ids of the entries shown together
    default_target: float | None = None
    target_note: str = ""  # why this target
    reference: str = ""  # published reference values
    extra_columns: tuple[str, ...] = field(default=())  # e.g. ("open",) for release times

    @property
    def is_rate(self) -> bool:
        """Has a binomial (Wilson) interval: ``ci_low``, ``ci_high`` columns."""
        return self.kind in RATE_KINDS or (self.kind is Kind.REGISTER and self.unit is Unit.PERCENT)

    @property
    def is_quotient(self) -> bool:
        """Value is a quotient: has a ``sufficient`` column (denominator ≥ min_sample)."""
        return self.kind in QUOTIENT_KINDS or self.kind is Kind.PERCENTILE or self.is_rate
