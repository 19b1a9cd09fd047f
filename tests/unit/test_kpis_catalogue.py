"""The catalogue: every specified KPI declared, valid, and the rules catch broken entries."""

from __future__ import annotations

import dataclasses

import pytest

from kpis.catalogue import CATALOGUE, PUBLIC_IDS, UnknownKPI, get, ids
from kpis.definitions import KPI, Category, CubeTable, DimFilter, Kind, Unit
from kpis.validation import RULES, validate

# The product's public KPIs, by category, as the specification lists them (docs/kpis.md's
# "Public KPIs" is generated from the catalogue; this list is the specification it must match).
SPECIFIED_PUBLIC_IDS: tuple[str, ...] = (
    # selection
    "declarations", "physical_inspection_rate", "channel_rates", "rerouting_rate",
    "random_share", "profile_volume",
    # effectiveness
    "hit_rate", "non_resultant_rate", "seizure_rate", "revenue_total", "revenue_per_control",
    "random_hit_rate", "lift", "compliance_rate", "detection_share",
    # time
    "inspection_time", "release_time", "stage_times", "released_within",
    # profile management
    "active_profiles", "review_overdue", "zero_hit_profiles", "controls_low_lift",
    "profile_changes",
)  # fmt: skip


def test_public_ids_are_the_specified_ones() -> None:
    assert PUBLIC_IDS == SPECIFIED_PUBLIC_IDS
    categories = [get(k).category.value for k in PUBLIC_IDS]
    assert categories == sorted(categories, key=[c.value for c in Category].index)


def test_public_ids_exist() -> None:
    assert set(PUBLIC_IDS) <= set(ids())


def test_catalogue_is_valid() -> None:
    assert [str(p) for p in validate()] == []


def test_get_and_unknown_id() -> None:
    assert get("hit_rate_red").filters == (DimFilter("channel", ("red",)),)
    with pytest.raises(UnknownKPI, match="did you mean"):
        get("hit_rate_rde")


def test_filtered_variants_share_the_definition() -> None:
    base, red = get("hit_rate"), get("hit_rate_red")
    assert (red.numerator, red.denominator, red.kind) == (
        base.numerator,
        base.denominator,
        base.kind,
    )
    assert "channel" not in red.allowed_dimensions


def test_every_entry_has_provenance() -> None:
    for kpi in CATALOGUE:
        assert kpi.source and kpi.version >= 1 and kpi.formula, kpi.id


def _broken(**changes: object) -> KPI:
    fields: dict[str, object] = {"id": "broken_kpi", **changes}
    return dataclasses.replace(get("hit_rate"), **fields)  # type: ignore[arg-type]


def _rules_hit(entry: KPI) -> dict[str, list[str]]:
    problems = validate([*CATALOGUE, entry])
    hit: dict[str, list[str]] = {}
    for p in problems:
        hit.setdefault(p.rule, []).append(p.message)
    return hit


@pytest.mark.parametrize(
    ("changes", "rule", "message"),
    [
        ({"id": "Hit-Rate"}, "id_format", "snake_case"),
        ({"label": " "}, "required_text", "label is empty"),
        ({"version": 0}, "version_positive", "≥ 1"),
        ({"numerator": "hits"}, "measures_exist", "'hits' is not a measure"),
        ({"denominator": None}, "parts_match_kind", "needs a denominator"),
        ({"unit": Unit.HOURS}, "unit_matches_kind", "cannot be in hours"),
        ({"filters": (DimFilter("channel", ("purple",)),)}, "filters_valid", "not a channel"),
        ({"filters": (DimFilter("weekday", ("mon",)),)}, "filters_valid", "cannot filter"),
        ({"allowed_dimensions": ("month", "week")}, "dimensions_valid", "'week'"),
        (
            {"filters": (DimFilter("channel", ("red",)),)},
            "fixed_dimension_not_offered",
            "filters channel",
        ),
        ({"table": CubeTable.PROFILES}, "table_supports_dimensions", "require the profile"),
        ({"default_target": 3.4}, "target_in_range", "fraction in [0, 1]"),
        ({"extra_columns": ("closed",)}, "extra_columns_known", "'closed'"),
        (
            {
                "kind": Kind.PERCENTILE,
                "table": CubeTable.TIME_HIST,
                "numerator": None,
                "denominator": None,
                "quantile": 1.5,
                "hist_metric": "release",
                "allowed_dimensions": ("month",),
            },
            "percentile_fields",
            "quantile 1.5",
        ),
        (
            {
                "kind": Kind.COMPOSITE,
                "numerator": None,
                "denominator": None,
                "parts": ("hit_rate", "nope"),
                "default_target": None,
            },
            "composite_parts",
            "'nope' is not in the catalogue",
        ),
    ],
)
def test_validation_rules_catch_broken_entries(
    changes: dict[str, object], rule: str, message: str
) -> None:
    hit = _rules_hit(_broken(**changes))
    assert rule in hit, hit
    assert any(message in m for m in hit[rule]), hit[rule]


def test_validation_reports_every_problem_at_once() -> None:
    entry = _broken(label="", version=0, numerator="hits", unit=Unit.COUNT)
    duplicate = dataclasses.replace(get("declarations"))
    hit = _rules_hit(entry)
    assert {"required_text", "version_positive", "measures_exist", "unit_matches_kind"} <= set(hit)
    assert "declarations" in {p.kpi_id for p in validate([*CATALOGUE, duplicate])}
    assert [p.rule for p in validate([*CATALOGUE, duplicate])] == ["unique_ids"]


def test_missing_public_id_is_reported() -> None:
    without = [k for k in CATALOGUE if k.id != "lift"]
    problems = validate(without)
    assert [(p.rule, p.kpi_id) for p in problems] == [("public_ids_present", "lift")]


def test_rules_have_distinct_names() -> None:
    names = [name for name, _ in RULES]
    assert len(names) == len(set(names)) >= 15
