"""The sample generator (etl.sample): determinism, canonical files, and rediscoverable truth.

The hit model is recomputed here from ground_truth.json alone (explode profile ids, apply each
profile's rate at lodgement time, take the max, AEO factor), then the observed hits are compared
with that expectation within binomial tolerances: a different route to the generator's numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from customs_kpi.cli import app
from customs_kpi.cli.sample_cmds import default_start
from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.contract import CANONICAL, PROFILE_CHANGE_COLUMNS, PROFILE_COLUMNS, ValueType
from etl.sample import (
    Sample,
    _archetype_counts,
    generate_sample,
    write_sample,
    write_single_file,
)
from kpis.domain import (
    ChangeType,
    Channel,
    ControlResult,
    ProfileStatus,
    SelectionSource,
)

N = 60_000
MONTHS = 24
SEED = 7
START = date(2024, 1, 1)
AS_OF = datetime(2026, 1, 1)
HITS = ("irregularity", "seizure")
FINAL = ("no_finding", "irregularity", "seizure")
Z = 4.0  # binomial tolerance in standard deviations


@dataclass(frozen=True)
class Generated:
    sample: Sample
    out: Path
    files: list[Path]
    truth: dict[str, Any]
    final: pl.DataFrame  # monthly files with the redelivery applied: the truth to judge on


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    sample = generate_sample(N, MONTHS, SEED, START)
    out = tmp_path_factory.mktemp("sample")
    files = write_sample(sample, out)
    truth = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
    final = pl.concat(
        [
            sample.declarations.join(sample.redelivery, on="declaration_id", how="anti"),
            sample.redelivery,
        ]
    ).sort("lodged_at", "declaration_id")
    return Generated(sample, out, files, truth, final)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _controlled(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("control_result").cast(pl.String).is_in(FINAL))


def _is_hit() -> pl.Expr:
    return pl.col("control_result").cast(pl.String).is_in(HITS)


def _profile(truth: dict[str, Any], archetype: str) -> list[dict[str, Any]]:
    return [p for p in truth["profiles"] if p["archetype"] == archetype]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- Determinism and volume -----------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_sample(generate_sample(15_000, 6, seed, date(2025, 1, 1)), tmp_path / name)
    a, b, c = (_digests(tmp_path / name) for name in "abc")
    assert a == b
    assert len(a) == 6 + 1 + 3  # 6 months, the redelivery, register, changes, truth
    monthly = [name for name in a if name.startswith("declarations_2025-0")]
    assert all(a[name] != c[name] for name in monthly)
    assert a["ground_truth.json"] != c["ground_truth.json"]


def test_row_count_is_exact_and_each_month_file_holds_its_month(gen: Generated) -> None:
    monthly = sorted(
        p for p in gen.files if p.name.startswith("declarations_") and "_re" not in p.name
    )
    assert [p.name for p in monthly] == [
        f"declarations_{y}-{m:02d}.csv" for y in (2024, 2025) for m in range(1, 13)
    ]
    total = 0
    for path in monthly:
        frame = pl.read_csv(path, infer_schema=False)
        months = frame.get_column("lodged_at").str.slice(0, 7).unique().to_list()
        assert months == [path.stem.removeprefix("declarations_")]
        total += frame.height
    assert total == N == gen.sample.declarations.height == gen.truth["n_declarations"]
    assert gen.sample.declarations.get_column("declaration_id").n_unique() == N


# --- Canonical contract ---------------------------------------------------------------------


def _read_canonical(con: duckdb.DuckDBPyConnection, path: Path, columns: tuple[Any, ...]) -> str:
    """Read with the contract's SQL types and no sniffing: a value that does not parse fails."""
    types = {c.name: ("VARCHAR" if c.value_type == ValueType.LIST else c.sql_type) for c in columns}
    spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
    header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    assert header == [c.name for c in columns], path.name
    return (
        f"read_csv('{path}', columns = {spec}, auto_detect = false, header = true, "
        "delim = ',', quote = '\"', strict_mode = true)"
    )


def test_every_declaration_file_passes_the_canonical_contract(gen: Generated) -> None:
    con = duckdb.connect()
    files = [p for p in gen.files if p.name.startswith("declarations_")]
    union = " UNION ALL ".join(f"SELECT * FROM {_read_canonical(con, p, CANONICAL)}" for p in files)
    con.sql(f"CREATE TABLE d AS {union}")
    rows = con.sql("SELECT count(*) FROM d").fetchall()[0][0]
    assert rows == N + gen.sample.redelivery.height

    def values(column: str) -> set[str | None]:
        return {r[0] for r in con.sql(f"SELECT DISTINCT {column} FROM d").fetchall()}

    assert values("channel") == {c.value for c in Channel}
    assert values("selection_source") == {s.value for s in SelectionSource} - {"unknown"}
    assert values("control_result") == {r.value for r in ControlResult} | {None}
    assert values("is_aeo") == {True, False}
    problems = con.sql(
        """
        SELECT
          count(*) FILTER (WHERE declaration_id IS NULL OR office_code IS NULL
                                 OR lodged_at IS NULL OR channel IS NULL),
          count(*) FILTER (WHERE (channel = 'green') <> (control_result IS NULL)),
          count(*) FILTER (WHERE additional_revenue < 0),
          count(*) FILTER (WHERE released_at < lodged_at OR channel_assigned_at < lodged_at
                                 OR paid_at < lodged_at OR result_recorded_at < lodged_at),
          count(*) FILTER (WHERE lodged_at >= TIMESTAMP '2026-01-01'
                                 OR lodged_at < TIMESTAMP '2024-01-01'),
          count(*) FILTER (WHERE profile_ids IS NOT NULL
                                 AND NOT regexp_full_match(profile_ids, 'P\\d{3}(;P\\d{3})*')),
          count(*) FILTER (WHERE NOT regexp_full_match(hs_code, '\\d{8}')
                                 OR NOT regexp_full_match(origin_country, '[A-Z]{2}')),
          count(*) FILTER (WHERE customs_value IS NULL OR customs_value <= 0)
        FROM d
        """
    ).fetchall()[0]
    assert problems == (0,) * 8
    # Profile ids are sorted and distinct within a declaration (the canonical list form).
    lists = gen.sample.declarations.get_column("profile_ids").drop_nulls().str.split(";")
    assert all(ids == sorted(set(ids)) for ids in lists.to_list())
    assert gen.sample.declarations.columns == [c.name for c in CANONICAL]


def test_register_and_change_log_pass_the_contract(gen: Generated) -> None:
    con = duckdb.connect()
    reg = con.sql(
        f"SELECT * FROM {_read_canonical(con, gen.out / 'profiles.csv', PROFILE_COLUMNS)}"
    )
    chg = con.sql(
        "SELECT * FROM "
        + _read_canonical(con, gen.out / "profile_changes.csv", PROFILE_CHANGE_COLUMNS)
    )
    register = reg.pl()
    changes = chg.pl()
    assert register.height == 40 == len(gen.truth["profiles"])
    assert set(register.get_column("status")) <= {s.value for s in ProfileStatus}
    assert set(changes.get_column("change_type")) <= {c.value for c in ChangeType}
    assert set(register.get_column("target_channel")) <= {c.value for c in Channel}
    fired = set(
        gen.sample.declarations.get_column("profile_ids").drop_nulls().str.split(";").explode()
    )
    assert fired <= set(register.get_column("profile_id"))
    created = changes.filter(pl.col("change_type") == "created")
    assert sorted(created.get_column("profile_id")) == sorted(register.get_column("profile_id"))
    # Reviews: some profiles overdue at the end of the history, most not.
    overdue = register.filter(
        pl.col("status") == "active",
        pl.col("last_reviewed_at") + pl.duration(days=pl.col("review_period_days"))
        < pl.lit(AS_OF.date()),
    )
    assert 2 <= overdue.height <= 25
    truth_overdue = {p["profile_id"] for p in gen.truth["profiles"] if p["review_overdue_at_as_of"]}
    assert set(overdue.get_column("profile_id")) == truth_overdue


# --- Shares ---------------------------------------------------------------------------------


def test_channel_selection_and_office_shares(gen: Generated) -> None:
    d = gen.sample.declarations
    share = dict(d.group_by("channel").len().with_columns(pl.col("len") / N).iter_rows())
    assert 0.05 <= share["red"] <= 0.08
    assert 0.08 <= share["yellow"] <= 0.12
    assert 0.005 <= share["blue"] <= 0.015
    assert share["green"] == pytest.approx(1 - share["red"] - share["yellow"] - share["blue"])
    assert share == pytest.approx(gen.truth["channel_shares"], abs=1e-6)
    source = dict(d.group_by("selection_source").len().iter_rows())
    sd = math.sqrt(N * 0.01 * 0.99)
    assert abs(source["random"] - 0.01 * N) <= Z * sd
    assert 0.003 * N <= source["officer"] <= 0.01 * N
    assert 0 < source["intelligence"] < source["officer"]
    officer = d.filter(pl.col("selection_source") == "officer")
    assert officer.filter(pl.col("channel") == "red").height / officer.height > 0.75
    assert officer.get_column("profile_ids").null_count() == officer.height
    # Profiles fire on green declarations too, and several can fire on one declaration.
    fired_green = d.filter(pl.col("profile_ids").is_not_null(), pl.col("channel") == "green")
    assert fired_green.height > 0.01 * N
    assert d.get_column("profile_ids").str.contains(";").sum() > 0.005 * N
    offices = d.group_by("office_code").len().sort("len", descending=True)
    assert offices.height == 12
    assert offices.item(0, "office_code") == "PRT01"
    assert 0.37 <= offices.item(0, "len") / N <= 0.43
    assert offices.item(11, "len") / N < 0.01


def test_aeo_traders_are_inspected_and_irregular_less_often(gen: Generated) -> None:
    stats = (
        gen.final.group_by("is_aeo")
        .agg(
            n=pl.len(),
            inspected=(pl.col("channel") != "green").mean(),
            hit=_is_hit().filter(pl.col("control_result").cast(pl.String).is_in(FINAL)).mean(),
        )
        .sort("is_aeo")
    )
    non_aeo, aeo = stats.row(0, named=True), stats.row(1, named=True)
    assert 0.1 * N < aeo["n"] < 0.5 * N
    assert aeo["inspected"] < 0.7 * non_aeo["inspected"]
    assert aeo["hit"] < 0.7 * non_aeo["hit"]


# --- Rediscovering the truth ----------------------------------------------------------------


def _expected_q(final: pl.DataFrame, truth: dict[str, Any]) -> pl.DataFrame:
    """Per declaration: true hit probability q from ground_truth.json alone."""
    rows = []
    for p in truth["profiles"]:
        change = p["changes"][0] if p["changes"] else None
        drift = p["drift"]
        rows.append(
            {
                "pid": p["profile_id"],
                "rate": p["true_hit_rate"] if p["true_hit_rate"] is not None else 0.0,
                "changed_at": _ts(change["changed_at"]) if change else None,
                "before": change["hit_rate_before"] if change else None,
                "d_start": drift["rate_start"] if drift else None,
                "d_end": drift["rate_end"] if drift else None,
                "d_from": _ts(drift["from"]) if drift else None,
                "d_to": _ts(drift["to"]) if drift else None,
            }
        )
    profiles = pl.DataFrame(rows)
    base = final.with_row_index("row").select(
        "row",
        "lodged_at",
        "is_aeo",
        pl.col("selection_source").cast(pl.String).alias("src"),
        pl.col("lodged_at").dt.strftime("%Y-%m").alias("month"),
        pl.col("profile_ids").str.split(";").alias("pid"),
    )
    fired = (
        base.explode("pid")
        .drop_nulls("pid")
        .join(profiles, on="pid", how="left")
        .with_columns(
            rate=pl.when(pl.col("d_start").is_not_null())
            .then(
                pl.col("d_start")
                + (pl.col("d_end") - pl.col("d_start"))
                * (pl.col("lodged_at") - pl.col("d_from")).dt.total_seconds()
                / (pl.col("d_to") - pl.col("d_from")).dt.total_seconds()
            )
            .when(pl.col("changed_at").is_not_null() & (pl.col("lodged_at") < pl.col("changed_at")))
            .then(pl.col("before"))
            .otherwise(pl.col("rate"))
        )
        .group_by("row")
        .agg(q_profile=pl.col("rate").max())
    )
    baseline = pl.DataFrame(
        {
            "month": list(truth["baseline_rate_by_month"]),
            "q_base": list(truth["baseline_rate_by_month"].values()),
        }
    )
    q0 = (
        pl.when(pl.col("q_profile").is_not_null())
        .then(pl.col("q_profile"))
        .when(pl.col("src") == "officer")
        .then(pl.lit(truth["officer_hit_rate"]))
        .when(pl.col("src") == "intelligence")
        .then(pl.lit(truth["intelligence_hit_rate"]))
        .otherwise(pl.col("q_base"))
    )
    return (
        base.join(fired, on="row", how="left")
        .join(baseline, on="month", how="left")
        .select(
            "row",
            (q0 * pl.when("is_aeo").then(truth["aeo_factors"]["hit"]).otherwise(1.0)).alias("q"),
        )
        .sort("row")
    )


@pytest.fixture(scope="module")
def judged(gen: Generated) -> pl.DataFrame:
    """Final rows with their expected q, exploded per fired profile (pid null when none)."""
    q = _expected_q(gen.final, gen.truth)
    return (
        gen.final.with_row_index("row")
        .join(q, on="row")
        .with_columns(
            pid=pl.col("profile_ids").str.split(";"),
            controlled=pl.col("control_result").cast(pl.String).is_in(FINAL),
            hit=_is_hit(),
        )
    )


def _agree(frame: pl.DataFrame, label: str) -> tuple[float, float]:
    """Observed hits match sum(q) within Z binomial sd; returns (observed rate, expected rate)."""
    controls = frame.filter("controlled")
    n = controls.height
    observed = int(controls.get_column("hit").sum())
    expected = float(controls.get_column("q").sum())
    sd = math.sqrt(float((controls.get_column("q") * (1 - controls.get_column("q"))).sum()))
    assert n >= 30, f"{label}: only {n} controls"
    assert abs(observed - expected) <= Z * sd + 1, (
        f"{label}: {observed} hits, expected {expected:.1f}"
    )
    return observed / n, expected / n


def test_random_lane_measures_the_prevalence(gen: Generated, judged: pl.DataFrame) -> None:
    prevalence = gen.truth["prevalence"]
    assert prevalence == pytest.approx(gen.truth["prevalence_target"], abs=1e-4)
    assert gen.truth["prevalence_target"] == 0.03
    # By construction the population mean of q is the prevalence, month by month.
    monthly = (
        judged.group_by(month=pl.col("lodged_at").dt.strftime("%Y-%m"))
        .agg(pl.col("q").mean())
        .sort("month")
    )
    assert monthly.get_column("q").to_list() == pytest.approx([0.03] * MONTHS, abs=1e-4)
    assert list(gen.truth["prevalence_by_month"].values()) == pytest.approx([0.03] * MONTHS)
    random = judged.filter(pl.col("selection_source") == "random", "controlled")
    rate = random.get_column("hit").mean()
    sd = math.sqrt(prevalence * (1 - prevalence) / random.height)
    assert abs(rate - prevalence) <= Z * sd
    _agree(judged.filter(pl.col("selection_source") == "random"), "random lane")
    officer_rate, _ = _agree(judged.filter(pl.col("selection_source") == "officer"), "officer")
    assert officer_rate > prevalence


def test_zero_hit_profile_has_controls_and_no_hits(gen: Generated) -> None:
    (zero,) = _profile(gen.truth, "zero")
    controls = _controlled(gen.final).filter(
        pl.col("profile_ids").str.split(";").list.contains(zero["profile_id"])
    )
    assert controls.height >= 30
    assert controls.filter(_is_hit()).height == 0


def test_every_profile_matches_the_hit_model(gen: Generated, judged: pl.DataFrame) -> None:
    per_profile = judged.explode("pid").drop_nulls("pid")
    checked = 0
    for p in gen.truth["profiles"]:
        rows = per_profile.filter(pl.col("pid") == p["profile_id"])
        if rows.filter("controlled").height < 30:
            continue
        _agree(rows, p["profile_id"])
        checked += 1
        # The expectation published in ground_truth.json is the one recomputed here.
        controls = rows.filter("controlled")
        assert p["sample"]["controls"] == controls.height
        assert p["sample"]["expected_hits"] == pytest.approx(
            controls.get_column("q").sum(), rel=1e-3
        )
    assert checked >= 30
    overall = judged.filter("controlled")
    assert gen.truth["expected_overall"]["controls"] == overall.height
    assert gen.truth["expected_overall"]["expected_hits"] == pytest.approx(
        overall.get_column("q").sum(), rel=1e-3
    )
    random = gen.truth["expected_by_selection_source"]["random"]
    assert random["expected_hit_rate"] == pytest.approx(gen.truth["prevalence"], abs=0.01)


def test_good_and_random_like_profiles_measure_near_their_true_rates(
    gen: Generated, judged: pl.DataFrame
) -> None:
    per_profile = judged.explode("pid").drop_nulls("pid").filter("controlled")
    random_rate = gen.truth["prevalence"]
    for archetype in ("good", "random_like"):
        for p in _profile(gen.truth, archetype):
            rows = per_profile.filter(pl.col("pid") == p["profile_id"])
            true_rate = p["true_hit_rate"]
            measured = rows.get_column("hit").mean()
            assert isinstance(measured, float)
            # Tolerance: binomial noise plus the lift from overlapping better profiles and the
            # dampening from AEO traders, both small by design.
            sd = math.sqrt(true_rate * (1 - true_rate) / rows.height)
            assert abs(measured - true_rate) <= Z * sd + 0.35 * true_rate + 0.01, p["profile_id"]
            if archetype == "good":
                assert 0.15 <= true_rate <= 0.40
                assert measured > 1.5 * random_rate
            else:
                assert true_rate == pytest.approx(random_rate, rel=0.25)


def test_modified_profiles_change_at_the_recorded_date(
    gen: Generated, judged: pl.DataFrame
) -> None:
    modified = _profile(gen.truth, "modified")
    assert len(modified) >= 3
    logged = gen.sample.profile_changes.filter(pl.col("change_type") == "modified")
    per_profile = judged.explode("pid").drop_nulls("pid")
    for p in modified:
        (change,) = p["changes"]
        at = _ts(change["changed_at"])
        assert logged.filter(pl.col("profile_id") == p["profile_id"]).get_column(
            "changed_at"
        ).to_list() == [at]
        rows = per_profile.filter(pl.col("pid") == p["profile_id"])
        before, _ = _agree(rows.filter(pl.col("lodged_at") < at), f"{p['profile_id']} before")
        after, _ = _agree(rows.filter(pl.col("lodged_at") >= at), f"{p['profile_id']} after")
        assert abs(change["hit_rate_after"] - change["hit_rate_before"]) >= 0.1
        # The measured change goes the way the truth says.
        assert (after - before) * (change["hit_rate_after"] - change["hit_rate_before"]) > 0


def test_drifting_profile_loses_effectiveness(gen: Generated, judged: pl.DataFrame) -> None:
    (p,) = _profile(gen.truth, "drifting")
    assert p["drift"]["rate_start"] > 0.2 > 0.06 > p["drift"]["rate_end"]
    rows = judged.explode("pid").filter(pl.col("pid") == p["profile_id"])
    first = rows.filter(pl.col("lodged_at") < datetime(2024, 9, 1))
    last = rows.filter(pl.col("lodged_at") >= datetime(2025, 5, 1))
    early, expected_early = _agree(first, "drift early")
    late, expected_late = _agree(last, "drift late")
    assert expected_early > expected_late + 0.07
    assert early > late


def test_profiles_fire_only_while_active(gen: Generated) -> None:
    exploded = gen.sample.declarations.select(
        "lodged_at", pid=pl.col("profile_ids").str.split(";")
    ).explode("pid")
    span = exploded.group_by("pid").agg(
        first=pl.col("lodged_at").min(), last=pl.col("lodged_at").max(), n=pl.len()
    )
    by_id = {row["pid"]: row for row in span.iter_rows(named=True)}
    register = {r["profile_id"]: r for r in gen.sample.profiles.iter_rows(named=True)}
    retired = _profile(gen.truth, "retired")
    assert len(retired) >= 2
    for p in retired:
        pid = p["profile_id"]
        assert register[pid]["status"] == "retired"
        assert register[pid]["valid_to"] < AS_OF.date()
        assert by_id[pid]["last"] < _ts(p["retired_at"])
        assert by_id[pid]["n"] > 10
    for p in _profile(gen.truth, "expired"):
        assert register[p["profile_id"]]["status"] == "expired"
        assert by_id[p["profile_id"]]["last"] < _ts(p["expired_at"])
    late = _profile(gen.truth, "late")
    assert len(late) >= 2
    for p in late:
        assert _ts(p["created_at"]) > datetime(2024, 6, 1)
        assert by_id[p["profile_id"]]["first"] >= _ts(p["created_at"])
        assert register[p["profile_id"]]["valid_from"] == _ts(p["created_at"]).date()
    for p in _profile(gen.truth, "suspended"):
        (window,) = p["suspended"]
        inside = exploded.filter(
            pl.col("pid") == p["profile_id"],
            pl.col("lodged_at").is_between(_ts(window["from"]), _ts(window["to"]), closed="left"),
        )
        assert inside.height == 0
    for p in _profile(gen.truth, "draft"):
        assert p["profile_id"] not in by_id


# --- Time, results, revenue -----------------------------------------------------------------


def test_release_times_have_realistic_long_tails_per_channel(gen: Generated) -> None:
    hours = (
        gen.final.filter(pl.col("released_at").is_not_null())
        .with_columns(h=(pl.col("released_at") - pl.col("lodged_at")).dt.total_seconds() / 3600)
        .group_by("channel")
        .agg(
            p50=pl.col("h").median(), p90=pl.col("h").quantile(0.9), p99=pl.col("h").quantile(0.99)
        )
    )
    t = {row["channel"]: row for row in hours.iter_rows(named=True)}
    assert 0.2 < t["green"]["p50"] < 2 and t["green"]["p90"] < 4
    assert t["blue"]["p50"] < 2
    assert 2 < t["yellow"]["p50"] < 24
    assert 18 < t["red"]["p50"] < 72 and t["red"]["p99"] > 5 * t["red"]["p50"]
    audit_days = (
        gen.final.filter(pl.col("channel") == "blue", pl.col("result_recorded_at").is_not_null())
        .select(((pl.col("result_recorded_at") - pl.col("released_at")).dt.total_days()).median())
        .item()
    )
    assert 14 < audit_days < 120
    arrived_missing = gen.sample.declarations.get_column("arrived_at").null_count() / N
    assert 0.03 < arrived_missing < 0.15


def test_pending_results_only_near_the_end(gen: Generated) -> None:
    pending = gen.sample.declarations.filter(pl.col("control_result") == "pending")
    assert pending.height > 0
    assert pending.get_column("result_recorded_at").null_count() == pending.height
    assert pending.get_column("additional_revenue").sum() == 0
    inspected = pending.filter(pl.col("channel").is_in(["red", "yellow"]))
    assert inspected.get_column("released_at").null_count() == inspected.height
    assert inspected.get_column("lodged_at").min() > datetime(2025, 11, 15)
    blue = pending.filter(pl.col("channel") == "blue")
    assert blue.get_column("lodged_at").min() > datetime(2025, 7, 1)
    assert blue.get_column("released_at").null_count() < blue.height
    assert gen.sample.declarations.filter(
        pl.col("lodged_at") < datetime(2025, 6, 1), pl.col("control_result") == "pending"
    ).is_empty()


def test_revenue_on_hits_only_with_a_heavy_tail(gen: Generated) -> None:
    final = gen.final
    hits = final.filter(_is_hit())
    assert hits.get_column("additional_revenue").min() > 0
    assert final.filter(~_is_hit()).get_column("additional_revenue").max() == 0
    assert hits.get_column("offence_type").null_count() == 0
    assert (
        final.filter(~_is_hit()).get_column("offence_type").null_count()
        == final.filter(~_is_hit()).height
    )
    revenue = hits.get_column("additional_revenue")
    assert revenue.max() > 20 * revenue.median()
    seizures = hits.filter(pl.col("control_result") == "seizure").height
    assert 0.05 * hits.height < seizures < 0.5 * hits.height


def test_redelivery_resolves_pending_and_corrects_earlier_declarations(gen: Generated) -> None:
    re_path = next(p for p in gen.files if p.name.endswith("_redelivery.csv"))
    assert re_path.name == "declarations_2026-01_redelivery.csv"
    names = sorted(p.name for p in gen.files if p.name.startswith("declarations_"))
    assert names[-1] == re_path.name
    first = gen.sample.declarations
    redelivery = pl.read_csv(re_path, infer_schema=False)
    assert redelivery.height == gen.sample.redelivery.height == gen.truth["redelivery"]["n_rows"]
    ids = set(redelivery.get_column("declaration_id"))
    assert ids <= set(first.get_column("declaration_id"))
    before = first.filter(pl.col("declaration_id").is_in(ids)).sort("declaration_id")
    after = gen.sample.redelivery.sort("declaration_id")
    resolved = (
        before.filter(pl.col("control_result") == "pending")
        .join(after, on="declaration_id", suffix="_new")
        .filter(pl.col("control_result_new") != "pending")
    )
    assert resolved.height == gen.truth["redelivery"]["n_pending_resolved"] > 0
    assert set(resolved.get_column("control_result_new").cast(pl.String)) <= set(FINAL)
    corrections = gen.truth["redelivery"]["corrections"]
    assert len(corrections) >= 3
    kinds = {c["kind"] for c in corrections}
    assert kinds == {"revenue_adjusted", "late_finding", "withdrawn"}
    pairs = before.join(after, on="declaration_id", suffix="_new")
    for c in corrections:
        row = pairs.filter(pl.col("declaration_id") == c["declaration_id"]).row(0, named=True)
        if c["kind"] == "late_finding":
            assert row["control_result"] == "no_finding"
            assert row["additional_revenue"] == 0
            assert row["control_result_new"] in HITS and row["additional_revenue_new"] > 0
        elif c["kind"] == "withdrawn":
            assert (
                row["control_result"] == "irregularity"
                and row["control_result_new"] == "no_finding"
            )
        else:
            assert 0 < row["additional_revenue"] < row["additional_revenue_new"]
    redelivered_at = _ts(gen.truth["redelivery"]["delivered_at"])
    assert redelivered_at > AS_OF
    assert after.get_column("released_at").max() <= redelivered_at


# --- Scale and CLI --------------------------------------------------------------------------


def test_archetypes_scale_with_volume_keeping_one_zero_and_one_drifting() -> None:
    for n_profiles in (40, 200):
        counts = _archetype_counts(n_profiles)
        assert sum(counts.values()) == n_profiles
        assert counts["zero"] == counts["drifting"] == 1
        assert counts["modified"] >= 3 and counts["retired"] >= 2 and counts["late"] >= 2
    assert _archetype_counts(200)["good"] == 40


def test_default_history_ends_with_the_last_complete_month() -> None:
    assert default_start(24, date(2026, 11, 27)) == date(2024, 11, 1)
    assert default_start(1, date(2026, 1, 1)) == date(2025, 12, 1)
    assert default_start(12, date(2026, 3, 31)) == date(2025, 3, 1)


def test_cli_writes_the_sample(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        ["sample", "--out", str(out), "--declarations", "3000", "--months", "3",
         "--seed", "5", "--start", "2025-02", "--home", str(tmp_path / "home")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names[:3] == [f"declarations_2025-0{m}.csv" for m in (2, 3, 4)]
    truth = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
    assert (truth["seed"], truth["months"], truth["start"]) == (5, 3, "2025-02-01")
    assert sum(pl.read_csv(out / n, infer_schema=False).height for n in names[:3]) == 3000
    assert "warning" not in result.output
    future = CliRunner().invoke(
        app, ["sample", "--out", str(tmp_path / "f"), "--declarations", "500", "--start", "2099-01"]
    )
    assert future.exit_code == 0 and "runs past today" in future.output
    bad = CliRunner().invoke(app, ["sample", "--out", str(out), "--start", "2025-13"])
    assert bad.exit_code != 0
    assert "2025-13" in bad.output


def test_parquet_deliveries_keep_the_canonical_types(tmp_path: Path) -> None:
    sample = generate_sample(4_000, 2, 11, date(2025, 5, 1))
    files = write_sample(sample, tmp_path, "parquet")
    parquet = [p for p in files if p.suffix == ".parquet"]
    assert [p.name for p in parquet] == [
        "declarations_2025-05.parquet",
        "declarations_2025-06.parquet",
        "declarations_2025-07_redelivery.parquet",
    ]
    back = pl.concat([pl.read_parquet(p) for p in parquet[:2]])
    assert back.height == 4_000
    assert back.schema["lodged_at"] == pl.Datetime("us")
    assert back.schema["channel"] == pl.String
    assert back.equals(sample.declarations.with_columns(pl.col(pl.Enum).cast(pl.String)))


def test_the_etl_loads_every_sample_file_without_quarantine(
    settings: Settings, tmp_path: Path
) -> None:
    from etl.load import load_files, load_profiles
    from etl.warehouse import open_warehouse

    sample = generate_sample(6_000, 3, 13, date(2025, 6, 1))
    files = write_sample(sample, tmp_path / "demo")
    deliveries = [p for p in files if p.name.startswith("declarations_")]
    results = load_files(settings, deliveries, publish=False)
    assert [r.status for r in results] == [RunStatus.SUCCEEDED] * 4
    assert [r.rows_quarantined for r in results] == [0] * 4
    assert sum(r.rows_inserted for r in results) == 6_000
    assert results[-1].rows_replaced == sample.redelivery.height
    register = load_profiles(
        settings, tmp_path / "demo" / "profiles.csv", tmp_path / "demo" / "profile_changes.csv",
        publish=False,
    )  # fmt: skip
    assert (register.status, register.rows_quarantined) == (RunStatus.SUCCEEDED, 0)
    with open_warehouse(settings) as con:
        loaded = con.sql(
            "SELECT declaration_id, control_result, additional_revenue::DOUBLE, "
            "len(profile_ids) FROM declarations"
        ).pl()
        hits = con.sql("SELECT count(*) FROM profile_hits").fetchall()[0][0]
        n_profiles = con.sql("SELECT count(*) FROM profiles").fetchall()[0][0]
    final = pl.concat(
        [
            sample.declarations.join(sample.redelivery, on="declaration_id", how="anti"),
            sample.redelivery,
        ]
    )
    expected = final.select(
        "declaration_id",
        pl.col("control_result").cast(pl.String),
        "additional_revenue",
        pl.col("profile_ids").str.split(";").list.len().fill_null(0).cast(pl.Int64),
    )
    assert loaded.sort("declaration_id").rows() == expected.sort("declaration_id").rows()
    assert hits == int(expected.get_column("profile_ids").sum())
    assert n_profiles == 40


def test_national_scale_register_of_200_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    # At ≥ 5 M declarations the register has 200 profiles; the same model on fewer rows.
    monkeypatch.setattr("etl.sample._scale_profiles", lambda n: 200)
    sample = generate_sample(80_000, 12, 21, date(2025, 1, 1))
    truth = sample.ground_truth
    assert sample.profiles.height == len(truth["profiles"]) == 200
    archetypes = [p["archetype"] for p in truth["profiles"]]
    assert archetypes.count("zero") == archetypes.count("drifting") == 1
    assert archetypes.count("modified") == 20
    d = sample.declarations
    share = dict(d.group_by("channel").len().with_columns(pl.col("len") / d.height).iter_rows())
    assert 0.05 <= share["red"] <= 0.08 and 0.08 <= share["yellow"] <= 0.12
    assert 0.005 <= share["blue"] <= 0.015
    (zero,) = (p["profile_id"] for p in truth["profiles"] if p["archetype"] == "zero")
    on_zero = d.filter(pl.col("profile_ids").str.split(";").list.contains(zero))
    assert on_zero.height > 0
    assert on_zero.filter(_is_hit()).is_empty()
    assert on_zero.get_column("profile_ids").to_list() == [zero] * on_zero.height
    assert min(truth["baseline_rate_by_month"].values()) > truth["baseline_floor"]


def test_single_file_holds_every_declaration_once(gen: Generated, tmp_path: Path) -> None:
    path = write_single_file(gen.sample, tmp_path / "bench" / "all.csv")
    back = pl.read_csv(path, infer_schema=False)
    assert back.columns == [c.name for c in CANONICAL]
    assert back.height == N == back.get_column("declaration_id").n_unique()
    monthly = pl.concat(
        [
            pl.read_csv(p, infer_schema=False)
            for p in gen.files
            if p.name.startswith("declarations_") and "redelivery" not in p.name
        ]
    )
    assert back.equals(monthly)
