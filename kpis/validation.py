"""Catalogue validation: small named rules, all run, every problem reported at once.

``validate()`` is run by the test suite on :data:`kpis.catalogue.CATALOGUE`; each rule is a
function of the whole catalogue so cross-entry rules (unique ids, composite parts) fit too.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from kpis.catalogue import CATALOGUE, PUBLIC_IDS
from kpis.definitions import CHANGE_TYPE, GRAINS, KPI, CubeTable, Kind, Unit
from kpis.domain import Channel, SelectionSource
from kpis.measures import HIST_METRICS, MEASURE_NAMES, SOLE_MEASURE_NAMES


@dataclass(frozen=True)
class Problem:
    rule: str
    kpi_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.kpi_id}: {self.message} [{self.rule}]"


Rule = Callable[[Sequence[KPI]], Iterable[Problem]]
RULES: list[tuple[str, Rule]] = []


def rule(fn: Callable[[Sequence[KPI]], Iterator[tuple[str, str]]]) -> Rule:
    """Register a rule yielding (kpi id, message) pairs under the function's name."""

    def run(catalogue: Sequence[KPI]) -> Iterator[Problem]:
        for kpi_id, message in fn(catalogue):
            yield Problem(fn.__name__, kpi_id, message)

    RULES.append((fn.__name__, run))
    return run


ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
FILTER_VALUES: dict[str, frozenset[str]] = {
    "channel": frozenset(c.value for c in Channel),
    "selection_source": frozenset(s.value for s in SelectionSource),
}
FILTERABLE: frozenset[str] = frozenset({"channel", "selection_source", "office", "profile"})
UNIT_OF_KIND: dict[Kind, frozenset[Unit]] = {
    Kind.COUNT: frozenset({Unit.COUNT}),
    Kind.SUM: frozenset({Unit.CURRENCY, Unit.HOURS}),
    Kind.PROPORTION: frozenset({Unit.PERCENT}),
    Kind.SHARE: frozenset({Unit.PERCENT}),
    Kind.RATIO: frozenset({Unit.CURRENCY, Unit.RATIO, Unit.HOURS}),
    Kind.MEAN: frozenset({Unit.HOURS}),
    Kind.PERCENTILE: frozenset({Unit.HOURS}),
    Kind.LIFT: frozenset({Unit.RATIO}),
    Kind.COMPOSITE: frozenset(Unit),
    Kind.REGISTER: frozenset({Unit.COUNT, Unit.PERCENT}),
}
NEEDS_DENOMINATOR = frozenset({Kind.PROPORTION, Kind.RATIO, Kind.MEAN, Kind.LIFT})
NEEDS_NUMERATOR = NEEDS_DENOMINATOR | {Kind.COUNT, Kind.SUM, Kind.SHARE}
KNOWN_EXTRA_COLUMNS = frozenset({"open"})


@rule
def unique_ids(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for kpi_id, count in Counter(k.id for k in catalogue).items():
        if count > 1:
            yield kpi_id, f"declared {count} times"


@rule
def id_format(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        if not ID_PATTERN.match(k.id):
            yield k.id, "id must be lower snake_case (letters, digits, single underscores)"


@rule
def required_text(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        for name in ("label", "description", "formula", "source"):
            if not getattr(k, name).strip():
                yield k.id, f"{name} is empty"


@rule
def version_positive(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        if k.version < 1:
            yield k.id, f"definition version {k.version} must be ≥ 1"


@rule
def measures_exist(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        known = set(MEASURE_NAMES)
        if k.table is CubeTable.PROFILES:
            known |= set(SOLE_MEASURE_NAMES)
        for role in ("numerator", "numerator_subtract", "denominator"):
            name = getattr(k, role)
            if name is not None and name not in known:
                yield k.id, f"{role} {name!r} is not a measure of {k.table.value}"


@rule
def parts_match_kind(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        if k.kind in NEEDS_NUMERATOR and k.numerator is None:
            yield k.id, f"a {k.kind.value} needs a numerator measure"
        if k.kind in NEEDS_DENOMINATOR and k.denominator is None:
            yield k.id, f"a {k.kind.value} needs a denominator measure"
        if k.kind not in NEEDS_DENOMINATOR and k.denominator is not None:
            yield k.id, f"a {k.kind.value} has no denominator measure"
        if k.kind not in NEEDS_NUMERATOR and k.numerator is not None:
            yield k.id, f"a {k.kind.value} has no numerator measure"
        if (k.kind is Kind.SHARE) != (k.share_dimension is not None):
            yield k.id, "share_dimension is set exactly for shares"
        if (k.kind is Kind.COMPOSITE) != bool(k.parts):
            yield k.id, "parts are set exactly for composites"
        if (k.kind is Kind.REGISTER) != (k.table is CubeTable.REGISTER):
            yield k.id, "register KPIs, and only they, read the profile register"
        if k.kind is Kind.PERCENTILE and k.table is not CubeTable.TIME_HIST:
            yield k.id, "percentiles read cube_time_hist"


@rule
def unit_matches_kind(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        if k.unit not in UNIT_OF_KIND[k.kind]:
            allowed = ", ".join(sorted(u.value for u in UNIT_OF_KIND[k.kind]))
            yield k.id, f"a {k.kind.value} cannot be in {k.unit.value} (allowed: {allowed})"


@rule
def filters_valid(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        for f in (*k.filters, *k.numerator_filters):
            if f.dimension not in FILTERABLE:
                yield k.id, f"cannot filter on {f.dimension!r}"
                continue
            if not f.values:
                yield k.id, f"filter on {f.dimension} keeps no value"
            valid = FILTER_VALUES.get(f.dimension)
            for value in f.values:
                if valid is not None and value not in valid:
                    yield k.id, f"{value!r} is not a {f.dimension}"


@rule
def dimensions_valid(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        for d in k.allowed_dimensions:
            if d not in GRAINS:
                yield k.id, f"allowed dimension {d!r} is not a grain"
        for d in k.required_dimensions:
            if d not in GRAINS and d != CHANGE_TYPE:
                yield k.id, f"required dimension {d!r} is not a grain"
        if k.share_dimension is not None and k.share_dimension not in k.required_dimensions:
            yield k.id, f"share dimension {k.share_dimension} must be a required dimension"


@rule
def fixed_dimension_not_offered(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    """A breakdown by a dimension the KPI's own filters fix to one value would show one
    meaningful row (a filter keeping several values still allows a breakdown among them)."""
    for k in catalogue:
        for f in (*k.filters, *k.numerator_filters):
            if len(f.values) == 1 and f.dimension in k.allowed_dimensions:
                yield k.id, f"filters {f.dimension} yet allows a breakdown by it"


@rule
def table_supports_dimensions(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        if k.table is CubeTable.TIME_HIST and "profile" in k.allowed_dimensions:
            yield k.id, "cube_time_hist has no profile dimension"
        if k.table is CubeTable.PROFILES and "profile" not in k.required_dimensions:
            yield k.id, "a profile-cube KPI must require the profile dimension (double counts)"
        if k.table is CubeTable.DECLARATIONS and "profile" in k.allowed_dimensions:
            yield k.id, "cube_declarations has no profile dimension"


@rule
def percentile_fields(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        if k.kind is not Kind.PERCENTILE:
            continue
        if k.hist_metric not in HIST_METRICS:
            yield k.id, f"histogram metric {k.hist_metric!r} not one of {', '.join(HIST_METRICS)}"
        if k.quantile is None or not 0 < k.quantile < 1:
            yield k.id, f"quantile {k.quantile!r} must lie in (0, 1)"


@rule
def composite_parts(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    by_id = {k.id: k for k in catalogue}
    for k in catalogue:
        parts = [by_id.get(p) for p in k.parts]
        for pid, part in zip(k.parts, parts, strict=True):
            if part is None:
                yield k.id, f"part {pid!r} is not in the catalogue"
            elif part.kind is Kind.COMPOSITE:
                yield k.id, f"part {pid!r} is itself a composite"
            elif part.unit is not k.unit:
                yield k.id, f"part {pid!r} is in {part.unit.value}, not {k.unit.value}"
        found = [p for p in parts if p is not None]
        if len({(p.kind, p.allowed_dimensions) for p in found}) > 1:
            yield k.id, "parts differ in kind or dimensions: they cannot share one table"


@rule
def target_in_range(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        t = k.default_target
        if t is None:
            continue
        if k.unit is Unit.PERCENT and not 0 <= t <= 1:
            yield k.id, f"target {t} is a percent: a fraction in [0, 1]"
        elif t < 0:
            yield k.id, f"target {t} is negative"
        if not k.target_note.strip():
            yield k.id, "a default target needs a note saying where it comes from"


@rule
def extra_columns_known(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    for k in catalogue:
        for column in k.extra_columns:
            if column not in KNOWN_EXTRA_COLUMNS:
                yield k.id, f"unknown extra column {column!r}"


@rule
def public_ids_present(catalogue: Sequence[KPI]) -> Iterator[tuple[str, str]]:
    ids = {k.id for k in catalogue}
    for public in PUBLIC_IDS:
        if public not in ids:
            yield public, "public id missing from the catalogue"


def validate(catalogue: Sequence[KPI] = CATALOGUE) -> list[Problem]:
    """Every problem found by every rule (empty list = valid)."""
    return [problem for _, run in RULES for problem in run(catalogue)]
