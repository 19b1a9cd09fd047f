"""Two routes to one number: sample data → ETL → published cube → KPI engine, checked against
independent hand-written SQL over the raw warehouse tables (never over the cube)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from etl_helpers import read_warehouse

from customs_kpi.published import RunStatus, current_version
from customs_kpi.settings import Settings, load_settings
from etl.load import load_file, load_profiles
from etl.sample import generate_sample, write_sample
from kpis.cube import CubeFrames, Filters
from kpis.engine import compute

CONTROLLED = (
    "channel IN ('yellow','red','blue') "
    "AND control_result IN ('no_finding','irregularity','seizure')"
)
IRREGULAR = f"({CONTROLLED}) AND control_result IN ('irregularity','seizure')"
GRAIN_SQL = {
    "month": "lodged_month",
    "office": "office_code",
    "channel": "channel",
    "selection_source": "selection_source",
    "profile": "profile_id",
    "year": "year(lodged_month)",
    "quarter": "year(lodged_month) || '-Q' || quarter(lodged_month)",
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, CubeFrames]]:
    root = tmp_path_factory.mktemp("integration")
    sample = generate_sample(declarations=60_000, months=15, seed=11, start=date(2025, 1, 1))
    files = write_sample(sample, root / "data")
    settings = load_settings(environ={}, home=root / "home")
    settings.ensure_home()
    load_profiles(settings, root / "data" / "profiles.csv", root / "data" / "profile_changes.csv")
    for f in sorted(p for p in files if p.name.startswith("declarations_")):
        result = load_file(settings, f)
        assert result.status == RunStatus.SUCCEEDED, result.message
    published = current_version(settings)
    assert published is not None
    yield settings, CubeFrames.from_published(published)


def sql(settings: Settings, query: str) -> pl.DataFrame:
    with read_warehouse(settings) as con:
        return con.sql(query).pl()


def ratio_sql(
    settings: Settings,
    by: list[str],
    num: str,
    den: str,
    where: str = "TRUE",
    profile: bool = False,
) -> pl.DataFrame:
    """numerator = count(den ∧ num), denominator = count(den), per grain, from raw rows."""
    source = (
        "declarations d JOIN profile_hits h USING (declaration_id)" if profile else "declarations d"
    )
    cols = [f"{GRAIN_SQL[g]} AS {g}" for g in by]
    select = ", ".join(
        [
            *cols,
            f"count(*) FILTER (WHERE ({den}) AND ({num})) AS numerator",
            f"count(*) FILTER (WHERE {den}) AS denominator",
        ]
    )
    group = f"GROUP BY {', '.join(str(i + 1) for i in range(len(by)))}" if by else ""
    q = f"SELECT {select} FROM {source} WHERE {where} {group}"
    if profile:
        q = q.replace("lodged_month", "d.lodged_month")
    return sql(settings, q)


def assert_same(engine: pl.DataFrame, expected: pl.DataFrame, by: list[str]) -> None:
    """Every grain cell with a non-zero denominator agrees exactly on numerator and denominator,
    and the value is numerator / denominator."""
    got = engine.filter(pl.col("denominator") > 0).select(*by, "numerator", "denominator")
    exp = expected.filter(pl.col("denominator") > 0).select(*by, "numerator", "denominator")
    got = got.with_columns(pl.col("numerator").cast(pl.Int64), pl.col("denominator").cast(pl.Int64))
    exp = exp.with_columns(pl.col("numerator").cast(pl.Int64), pl.col("denominator").cast(pl.Int64))
    assert got.sort(by).to_dicts() == exp.sort(by).to_dicts()
    values = engine.filter(pl.col("denominator") > 0)
    assert (values["value"] - values["numerator"] / values["denominator"]).abs().max() < 1e-12


@pytest.mark.parametrize(
    ("kpi", "num", "den"),
    [
        ("hit_rate", IRREGULAR, CONTROLLED),
        ("seizure_rate", f"({CONTROLLED}) AND control_result = 'seizure'", CONTROLLED),
        ("physical_inspection_rate", "channel = 'red'", "TRUE"),
        ("rerouting_rate", "selection_source = 'officer'", "channel = 'red'"),
        ("random_share", "selection_source = 'random'", "TRUE"),
        ("hit_rate_red", IRREGULAR, f"({CONTROLLED}) AND channel = 'red'"),
        ("random_hit_rate", IRREGULAR, f"({CONTROLLED}) AND selection_source = 'random'"),
    ],
)
@pytest.mark.parametrize(
    "by", [[], ["month"], ["office", "month"], ["quarter"], ["year"], ["office"]]
)
def test_rates_equal_sql(loaded, kpi: str, num: str, den: str, by: list[str]) -> None:
    settings, cube = loaded
    assert_same(compute(kpi, cube, by=by), ratio_sql(settings, by, num, den), by)


@pytest.mark.parametrize("by", [["profile"], ["profile", "month"], ["profile", "office"]])
def test_profile_hit_rate_equals_sql(loaded, by: list[str]) -> None:
    settings, cube = loaded
    expected = ratio_sql(settings, by, IRREGULAR, CONTROLLED, profile=True)
    assert_same(compute("hit_rate", cube, by=by), expected, by)


def test_profile_volume_and_revenue_equal_sql(loaded) -> None:
    settings, cube = loaded
    expected = sql(
        settings,
        "SELECT h.profile_id AS profile, count(*) AS volume, "
        "sum(additional_revenue)::DOUBLE AS rev, "
        f"count(*) FILTER (WHERE {CONTROLLED}) AS controlled "
        "FROM declarations d JOIN profile_hits h USING (declaration_id) GROUP BY 1",
    ).sort("profile")
    volume = compute("profile_volume", cube, by=["profile"]).filter(pl.col("value") > 0)
    assert volume.sort("profile")["value"].cast(pl.Int64).to_list() == expected["volume"].to_list()
    rpc = compute("revenue_per_control", cube, by=["profile"]).filter(pl.col("denominator") > 0)
    exp = expected.filter(pl.col("controlled") > 0)
    assert (
        rpc.sort("profile")["denominator"].cast(pl.Int64).to_list() == exp["controlled"].to_list()
    )
    assert rpc.sort("profile")["numerator"].to_list() == pytest.approx(
        exp["rev"].to_list(), abs=0.01
    )


def test_revenue_total_and_declarations_by_month(loaded) -> None:
    settings, cube = loaded
    expected = sql(
        settings,
        "SELECT lodged_month AS month, count(*) AS n, sum(additional_revenue)::DOUBLE AS rev "
        "FROM declarations GROUP BY 1 ORDER BY 1",
    )
    n = compute("declarations", cube, by=["month"]).sort("month")
    rev = compute("revenue_total", cube, by=["month"]).sort("month")
    assert n["month"].to_list() == expected["month"].to_list()
    assert n["value"].cast(pl.Int64).to_list() == expected["n"].to_list()
    assert rev["value"].to_list() == pytest.approx(expected["rev"].to_list(), abs=0.01)


def test_office_totals_agree_with_national(loaded) -> None:
    _, cube = loaded
    by_office = compute("hit_rate", cube, by=["office"])
    national = compute("hit_rate", cube)
    assert by_office["numerator"].sum() == national["numerator"][0]
    assert by_office["denominator"].sum() == national["denominator"][0]


def test_detection_share_equals_sql(loaded) -> None:
    settings, cube = loaded
    expected = sql(
        settings,
        # every source of the closed set is listed, with 0 where it detected nothing
        f"SELECT s.selection_source, count(d.declaration_id) AS numerator, "
        f"(SELECT count(*) FROM declarations WHERE {IRREGULAR}) AS denominator "
        "FROM (SELECT unnest(['profile','random','officer','intelligence','none','unknown']) "
        "AS selection_source) s "
        f"LEFT JOIN (SELECT * FROM declarations WHERE {IRREGULAR}) d USING (selection_source) "
        "GROUP BY 1",
    )
    assert_same(compute("detection_share", cube), expected, ["selection_source"])


@pytest.mark.parametrize(
    ("kpi", "expr", "cond"),
    [
        ("release_time", "epoch(released_at - lodged_at) / 3600.0", "released_at IS NOT NULL"),
        (
            "inspection_time",
            "epoch(result_recorded_at - channel_assigned_at) / 3600.0",
            "channel = 'red' AND result_recorded_at IS NOT NULL "
            "AND channel_assigned_at IS NOT NULL",
        ),
    ],
)
def test_mean_times_equal_sql(loaded, kpi: str, expr: str, cond: str) -> None:
    settings, cube = loaded
    expected = sql(
        settings,
        f"SELECT channel, avg({expr}) AS mean, count(*) AS n FROM declarations "
        f"WHERE {cond} GROUP BY 1 ORDER BY 1",
    )
    got = compute(kpi, cube, by=["channel"]).filter(pl.col("denominator") > 0).sort("channel")
    assert got["channel"].to_list() == expected["channel"].to_list()
    assert got["denominator"].cast(pl.Int64).to_list() == expected["n"].to_list()
    assert got["value"].to_list() == pytest.approx(expected["mean"].to_list(), rel=1e-9)


@pytest.mark.parametrize(("kpi", "q"), [("release_time_median", 0.5), ("release_time_p90", 0.9)])
def test_release_percentiles_within_one_percent(loaded, kpi: str, q: float) -> None:
    settings, cube = loaded
    expected = sql(
        settings,
        f"SELECT channel, quantile_disc(epoch(released_at - lodged_at) / 3600.0, {q}) AS p "
        "FROM declarations WHERE released_at IS NOT NULL GROUP BY 1 ORDER BY 1",
    )
    got = compute(kpi, cube, by=["channel"]).sort("channel")
    assert got["channel"].to_list() == expected["channel"].to_list()
    for value, exact in zip(got["value"].to_list(), expected["p"].to_list(), strict=True):
        assert value == pytest.approx(exact, rel=0.0101)


def test_released_within_24h_equals_sql(loaded) -> None:
    settings, cube = loaded
    expected = ratio_sql(
        settings,
        ["office"],
        "epoch(released_at - lodged_at) / 3600.0 <= 24",
        "released_at IS NOT NULL",
    )
    assert_same(compute("released_within_24h", cube, by=["office"]), expected, ["office"])


def test_filters_and_period_equal_sql(loaded) -> None:
    settings, cube = loaded
    offices = sql(settings, "SELECT office_code FROM declarations GROUP BY 1 ORDER BY count(*)")
    small = tuple(offices["office_code"].to_list()[:2])
    got = compute(
        "hit_rate",
        cube,
        by=["month"],
        filters=Filters(offices=small),
        period=(date(2025, 4, 1), date(2025, 9, 30)),
    )
    in_list = ", ".join(f"'{o}'" for o in small)
    expected = ratio_sql(
        settings,
        ["month"],
        IRREGULAR,
        CONTROLLED,
        where=f"office_code IN ({in_list}) AND lodged_month BETWEEN '2025-04-01' AND '2025-09-01'",
    )
    assert got.height == 6  # explicit calendar: every month of the period is there
    assert_same(got, expected, ["month"])


def test_active_profiles_equal_register_count(loaded) -> None:
    settings, cube = loaded
    today = date(2026, 3, 31)
    expected = sql(
        settings,
        "SELECT count(*) AS n FROM profiles WHERE status = 'active' "
        f"AND (valid_from IS NULL OR valid_from <= DATE '{today}') "
        f"AND (valid_to IS NULL OR DATE '{today}' < valid_to)",
    )["n"][0]
    got = compute("active_profiles", cube, today=today)
    assert int(got["value"][0]) == expected


def test_ground_truth_rediscovered(loaded, tmp_path: Path) -> None:
    """Profiles the generator made clearly good measure above the random baseline, the zero-hit
    profile has no hit, and measured hit rates track the true ones."""
    settings, cube = loaded
    import json

    truth_path = next(settings.home.parent.glob("data/ground_truth.json"))
    truth = json.loads(truth_path.read_text())
    rates = compute("hit_rate", cube, by=["profile"]).filter(pl.col("denominator") >= 30)
    measured = dict(zip(rates["profile"], rates["value"], strict=True))
    profiles = truth["profiles"]
    zero = [p["profile_id"] for p in profiles if p["archetype"] == "zero"]
    assert zero and all(measured.get(z, 0.0) == 0.0 for z in zero)
    good = [p for p in profiles if p["archetype"] == "good" and p["profile_id"] in measured]
    assert good
    random_rate = compute("random_hit_rate", cube)["value"][0]
    assert all(measured[p["profile_id"]] > random_rate for p in good)


def _truth(settings: Settings) -> dict:
    import json

    return json.loads((settings.home.parent / "data" / "ground_truth.json").read_text())


def test_flags_find_the_profiles_made_poor(loaded) -> None:
    """Over the whole history (enough controls) and with a target of twice the prevalence (an
    administration expecting profiles to double random selection): the zero-hit profile is
    flagged, most 'no better than random' profiles are flagged, no clearly good one is."""
    from kpis.flags import FlagConfig
    from kpis.profiles import profile_table

    settings, cube = loaded
    truth = _truth(settings)
    config = FlagConfig(target_hit_rate=2 * truth["prevalence"])
    today = date.fromisoformat(truth["as_of"][:10])
    table = profile_table(cube, period=cube.span(), flag_config=config, today=today)
    flags = {r["profile_id"]: r["flags"] for r in table.iter_rows(named=True)}
    reasons = {r["profile_id"]: " ".join(r["flag_reasons"]) for r in table.iter_rows(named=True)}
    by_type: dict[str, list[str]] = {}
    for p in truth["profiles"]:
        by_type.setdefault(p["archetype"], []).append(p["profile_id"])
    (zero,) = by_type["zero"]
    assert any("zero" in f for f in flags[zero]), reasons[zero]
    effectiveness = {"no_better_than_random", "below_target", "zero_hits"}
    for good in by_type["good"]:
        assert not effectiveness & set(flags.get(good, [])), reasons.get(good)
    poor = by_type["random_like"]
    caught = [p for p in poor if effectiveness & set(flags.get(p, []))]
    assert len(caught) >= len(poor) - 1, {p: reasons.get(p) for p in poor}
    assert all("%" in reasons[p] for p in caught)
    overdue = [p["profile_id"] for p in truth["profiles"] if p["review_overdue_at_as_of"]]
    assert overdue and all(any("review" in f for f in flags.get(p, [])) for p in overdue)


def test_modified_profiles_show_the_change_the_generator_made(loaded) -> None:
    from kpis.profiles import change_impact

    settings, cube = loaded
    truth = _truth(settings)
    checked = 0
    for p in truth["profiles"]:
        for change in p["changes"]:
            impact = change_impact(cube, p["profile_id"], months=6)
            row = impact.filter(
                pl.col("changed_at").cast(pl.String).str.slice(0, 10) == change["changed_at"][:10]
            )
            assert row.height == 1, impact
            expected = change["hit_rate_after"] - change["hit_rate_before"]
            measured, p_value = row["delta"][0], row["p_value"][0]
            if (
                measured is None
                or min(row["controlled_before"][0], row["controlled_after"][0]) < 60
            ):
                continue  # too few controls on one side to judge a change
            # never a significant change in the wrong direction
            assert not (p_value < 0.05 and (measured > 0) != (expected > 0)), (p, row)
            if abs(expected) >= 0.1 and p_value < 0.05:
                checked += 1
    assert checked >= 2
