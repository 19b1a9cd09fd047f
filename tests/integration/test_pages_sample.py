"""Every page on generated sample data loaded by the real ETL (etl.sample → etl.load → publish),
for every role and an office-scoped user; headline numbers checked against a hand-written SQL
query over the published raw declarations (not the cube)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from types import ModuleType
from typing import Any

import polars as pl
import pytest
from auth_helpers import cheap_passwords
from etl_helpers import load_generated

from appstate.roles import Role
from customs_kpi.published import current_version
from customs_kpi.settings import Settings, load_settings
from dashboard import filters as flt
from dashboard.data import PageContext, Viewer, build_context

PAGE_MODULES = ("home", "profiles", "profile_detail", "clearance", "offices", "data")
CONTROLLED = (
    "channel IN ('yellow','red','blue') AND control_result IN "
    "('no_finding','irregularity','seizure')"
)
HIT = "control_result IN ('irregularity','seizure')"


@pytest.fixture(scope="module")
def sample_home(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("pages-sample")
    settings, sample = load_generated(home, home / "delivery", 20_000, 14, 11, date(2025, 1, 1))
    yield settings, sample.ground_truth


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    from dashboard.app import create_app

    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("pages-sample-app"))
    create_app(settings, passwords=cheap_passwords())
    return {name: sys.modules[f"dashboard.pages.{name}"] for name in PAGE_MODULES}


def _ctx(settings: Settings, role: Role, offices: tuple[str, ...] | None = None) -> PageContext:
    return build_context(settings, Viewer("t", role, offices), current_version(settings))


def _sql_one(ctx: PageContext, sql: str, params: list[Any]) -> Any:
    return ctx.query(sql, params).row(0)[0]


@pytest.mark.parametrize(
    ("role", "scoped"),
    [(Role.VIEWER, False), (Role.ANALYST, False), (Role.ADMIN, False), (Role.ANALYST, True)],
)
def test_every_page_computes_on_sample_data(
    pages: dict[str, ModuleType], sample_home: Any, role: Role, scoped: bool
) -> None:
    settings, truth = sample_home
    office = truth["offices"][0]["code"]
    ctx = _ctx(settings, role, (office,) if scoped else None)
    filters = ctx.resolve(flt.PageFilters())
    profile = ctx.cube.profiles["profile_id"].unique().sort()[0]  # type: ignore[union-attr]
    outputs = [
        pages["home"].content(ctx, filters),
        pages["profiles"].content(ctx, filters),
        pages["profile_detail"].content(ctx, filters, profile),
        pages["clearance"].content(ctx, filters, "release"),
        pages["offices"].content(ctx, filters),
        pages["data"].content(ctx),
    ]
    for out in outputs:
        assert "could not be computed" not in str(out)
    if scoped:
        assert ctx.offices() == [office]
        table = pages["offices"].office_frame(ctx, filters)
        assert table["office"].to_list() == [office]


def test_headline_numbers_equal_sql_over_raw_declarations(
    pages: dict[str, ModuleType], sample_home: Any
) -> None:
    settings, _ = sample_home
    ctx = _ctx(settings, Role.ADMIN)
    filters = ctx.resolve(flt.PageFilters())
    month = filters.end
    home = pages["home"]
    declarations = _sql_one(
        ctx, "SELECT count(*) FROM declarations WHERE lodged_month = ?", [month]
    )
    assert home.card_data(ctx, filters, "declarations").value == declarations
    controlled = _sql_one(
        ctx, f"SELECT count(*) FROM declarations WHERE lodged_month = ? AND {CONTROLLED}", [month]
    )
    hits = _sql_one(
        ctx,
        f"SELECT count(*) FROM declarations WHERE lodged_month = ? AND {CONTROLLED} AND {HIT}",
        [month],
    )
    card = home.card_data(ctx, filters, "hit_rate")
    assert (card.numerator, card.denominator) == (hits, controlled)
    red = _sql_one(
        ctx, "SELECT count(*) FROM declarations WHERE lodged_month = ? AND channel = 'red'", [month]
    )
    inspection = home.card_data(ctx, filters, "physical_inspection_rate")
    assert inspection.value == pytest.approx(red / declarations)

    offices = pages["offices"].office_frame(ctx, filters)
    expected = ctx.query(
        "SELECT office_code AS office, count(*) AS n FROM declarations "
        "WHERE lodged_month BETWEEN ? AND ? GROUP BY 1 ORDER BY 1",
        [filters.start, month],
    )
    assert offices["office"].to_list() == expected["office"].to_list()
    assert offices["declarations"].cast(pl.Int64).to_list() == expected["n"].to_list()


def test_profile_grid_equals_sql_and_finds_the_poor_profiles(
    pages: dict[str, ModuleType], sample_home: Any
) -> None:
    settings, truth = sample_home
    ctx = _ctx(settings, Role.ANALYST)
    filters = ctx.resolve(flt.PageFilters(), default_months=14)
    table = pages["profiles"].profile_frame(ctx, filters)
    expected = ctx.query(
        f"SELECT h.profile_id, count(*) AS declarations, "
        f"count(*) FILTER (WHERE {CONTROLLED.replace('channel', 'd.channel')}) AS controlled "
        f"FROM declarations d JOIN profile_hits h ON h.declaration_id = d.declaration_id "
        f"AND h.lodged_month = d.lodged_month WHERE d.lodged_month BETWEEN ? AND ? "
        f"GROUP BY 1 ORDER BY 1",
        [filters.start, filters.end],
    )
    got = table.filter(pl.col("declarations") > 0).sort("profile_id")
    assert got["profile_id"].to_list() == expected["profile_id"].to_list()
    assert got["declarations"].to_list() == expected["declarations"].to_list()
    assert got["controlled"].to_list() == expected["controlled"].to_list()
    # What the generator built shows on the page: a profile that never finds anything is
    # flagged "zero hits" once it has the minimum sample; random-like profiles lift less than
    # good ones.
    archetype = {p["profile_id"]: p["archetype"] for p in truth["profiles"]}
    rows = list(got.iter_rows(named=True))
    for row in rows:
        if archetype.get(row["profile_id"]) == "zero" and row["sufficient"]:
            assert "zero_hits" in row["flags"], row["profile_id"]

    def mean_lift(kind: str) -> float:
        lifts = [r["lift"] for r in rows if archetype.get(r["profile_id"]) == kind and r["lift"]]
        assert lifts, kind
        return sum(lifts) / len(lifts)

    assert mean_lift("random_like") < mean_lift("good")
