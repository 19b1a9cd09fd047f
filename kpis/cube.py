"""The cube frames the engine reads, and the user-facing filters on their dimensions.

:class:`CubeFrames` holds the published cube tables (see :mod:`kpis.measures`) plus the profile
register and change log, normalised to one schema: missing measure columns are added as 0 (so a
test frame may carry only the measures it needs), counts are Int64, amounts and hours Float64.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Protocol, TypeVar, cast

import polars as pl

from kpis.measures import (
    DECLARATION_DIMENSIONS,
    MEASURE_NAMES,
    PROFILE_DIMENSIONS,
    SOLE_MEASURE_NAMES,
)

# Measures that are amounts (currency, hours) rather than counts.
AMOUNT_MEASURES: frozenset[str] = frozenset(
    name for name in (*MEASURE_NAMES, *SOLE_MEASURE_NAMES) if name.endswith(("_hours", "revenue"))
)
PAIR_MEASURES: tuple[str, ...] = ("declarations", "controlled", "irregular")

REGISTER_SCHEMA: dict[str, pl.DataType] = {
    "profile_id": pl.String(),
    "name": pl.String(),
    "risk_area": pl.String(),
    "target_channel": pl.String(),
    "status": pl.String(),
    "valid_from": pl.Date(),
    "valid_to": pl.Date(),
    "owner_unit": pl.String(),
    "review_period_days": pl.Int64(),
    "last_reviewed_at": pl.Date(),
    "description": pl.String(),
}
CHANGES_SCHEMA: dict[str, pl.DataType] = {
    "profile_id": pl.String(),
    "changed_at": pl.Datetime("us"),
    "change_type": pl.String(),
    "summary": pl.String(),
    "changed_by": pl.String(),
}


def _measure_type(name: str) -> pl.DataType:
    return pl.Float64() if name in AMOUNT_MEASURES else pl.Int64()


def _dimension_type(name: str) -> pl.DataType:
    return pl.Date() if name == "lodged_month" else pl.String()


def _normalise(frame: pl.DataFrame | None, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Frame with exactly ``schema``'s columns: missing measures 0, missing others null."""
    if frame is None:
        return pl.DataFrame(schema=dict(schema))
    exprs: list[pl.Expr] = []
    for name, dtype in schema.items():
        is_measure = dtype in (pl.Int64(), pl.Float64()) and name not in REGISTER_SCHEMA
        if name in frame.columns and is_measure:
            # A null measure is an empty cell: 0, so that differences and sums stay defined.
            exprs.append(pl.col(name).cast(dtype).fill_null(0))
        elif name in frame.columns:
            exprs.append(pl.col(name).cast(dtype))
        elif is_measure:
            exprs.append(pl.lit(0, dtype=dtype).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(exprs)


def _cube_schema(dimensions: tuple[str, ...], measures: tuple[str, ...]) -> dict[str, pl.DataType]:
    schema = {d: _dimension_type(d) for d in dimensions}
    schema.update({m: _measure_type(m) for m in measures})
    return schema


DECLARATIONS_SCHEMA = _cube_schema(DECLARATION_DIMENSIONS, MEASURE_NAMES)
PROFILES_SCHEMA = _cube_schema(PROFILE_DIMENSIONS, (*MEASURE_NAMES, *SOLE_MEASURE_NAMES))
TIME_HIST_SCHEMA: dict[str, pl.DataType] = {
    **{d: _dimension_type(d) for d in DECLARATION_DIMENSIONS},
    "metric": pl.String(),
    "bin": pl.Int64(),
    "count": pl.Int64(),
}
PAIRS_SCHEMA: dict[str, pl.DataType] = {
    "lodged_month": pl.Date(),
    "profile_a": pl.String(),
    "profile_b": pl.String(),
    **{m: pl.Int64() for m in PAIR_MEASURES},
}


_T = TypeVar("_T")


class PublishedTables(Protocol):
    """What :meth:`CubeFrames.from_published` needs (a ``customs_kpi.published`` version)."""

    def table(self, name: str) -> pl.DataFrame: ...


@dataclass(frozen=True)
class CubeFrames:
    """The cube tables of one published version, plus the profile register and change log."""

    declarations: pl.DataFrame
    profiles: pl.DataFrame
    time_hist: pl.DataFrame
    profile_pairs: pl.DataFrame
    register: pl.DataFrame
    changes: pl.DataFrame
    # Results derived from these frames, kept with them (a published version never changes):
    # see :meth:`memoised`. Not part of the value: two cubes of equal frames compare equal.
    memo: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    MEMO_ENTRIES: ClassVar[int] = 128

    def memoised(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """``compute()``, once per ``key`` for this cube (at most :attr:`MEMO_ENTRIES` kept,
        oldest dropped first). ``key`` must name every input of ``compute`` besides the cube."""
        if key in self.memo:
            return cast(_T, self.memo[key])
        value = compute()
        while len(self.memo) >= self.MEMO_ENTRIES:
            self.memo.pop(next(iter(self.memo)), None)
        self.memo[key] = value
        return value

    @classmethod
    def build(
        cls,
        declarations: pl.DataFrame | None = None,
        profiles: pl.DataFrame | None = None,
        time_hist: pl.DataFrame | None = None,
        profile_pairs: pl.DataFrame | None = None,
        register: pl.DataFrame | None = None,
        changes: pl.DataFrame | None = None,
    ) -> CubeFrames:
        """Normalised frames; any frame left out is empty."""
        return cls(
            declarations=_normalise(declarations, DECLARATIONS_SCHEMA),
            profiles=_normalise(profiles, PROFILES_SCHEMA),
            time_hist=_normalise(time_hist, TIME_HIST_SCHEMA),
            profile_pairs=_normalise(profile_pairs, PAIRS_SCHEMA),
            register=_normalise(register, REGISTER_SCHEMA),
            changes=_normalise(changes, CHANGES_SCHEMA),
        )

    @classmethod
    def from_published(cls, published: PublishedTables) -> CubeFrames:
        """From a published version (``customs_kpi.published.current_version(settings)``)."""
        return cls.build(
            declarations=published.table("cube_declarations"),
            profiles=published.table("cube_profiles"),
            time_hist=published.table("cube_time_hist"),
            profile_pairs=published.table("cube_profile_pairs"),
            register=published.table("profiles"),
            changes=published.table("profile_changes"),
        )

    def months(self) -> list[date]:
        """Distinct lodgement months with data, ascending."""
        return self.declarations.get_column("lodged_month").unique().sort().to_list()

    def span(self) -> tuple[date, date] | None:
        """(first month, last month) of the data, None when empty."""
        months = self.months()
        return (months[0], months[-1]) if months else None


@dataclass(frozen=True)
class Filters:
    """Restrict a computation to some offices, channels, selection sources or profiles (empty
    tuple = no restriction). A profile filter makes the engine read the profile cube."""

    offices: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    selection_sources: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()

    def office_scope(self) -> Filters:
        """Only the office restriction: the scope of a random baseline."""
        return Filters(offices=self.offices)

    def conditions(self, *, with_profiles: bool) -> list[pl.Expr]:
        """Filter conditions (none when unrestricted); profiles only for the profile cube."""
        conditions: list[pl.Expr] = []
        for column, values in (
            ("office_code", self.offices),
            ("channel", self.channels),
            ("selection_source", self.selection_sources),
        ):
            if values:
                conditions.append(pl.col(column).is_in(list(values)))
        if with_profiles and self.profiles:
            conditions.append(pl.col("profile_id").is_in(list(self.profiles)))
        return conditions
