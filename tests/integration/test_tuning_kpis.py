"""Tuning computations on generated data, each checked against a hand count over the raw
published facts (declarations and profile_hits Parquet, never the cube): what-if of retiring,
suspending or thinning profiles, overlap, before/after against ground_truth.json, review queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
import pytest
from etl_helpers import load_tuning_sample

from customs_kpi.published import PublishedVersion, current_version
from kpis.beforeafter import Verdict, Window, before_after, change_log_events, summary
from kpis.cube import CubeFrames
from kpis.flags import FlagConfig
from kpis.overlap import facts_queries, overlap_matrix, overlap_pairs, rank_pairs
from kpis.review import QueueConfig, Reason, review_queue
from kpis.whatif import Action, Scenario, hits_query, national_figures, what_if

PERIOD = (date(2025, 1, 1), date(2025, 12, 31))
CONTROLLED = (
    "d.channel IN ('yellow','red','blue') "
    "AND d.control_result IN ('no_finding','irregularity','seizure')"
)
IRREGULAR = f"({CONTROLLED}) AND d.control_result IN ('irregularity','seizure')"
DEPENDENT = "d.selection_source NOT IN ('random','officer','intelligence')"


@dataclass(frozen=True)
class Loaded:
    published: PublishedVersion
    cube: CubeFrames
    truth: dict[str, Any]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    root = tmp_path_factory.mktemp("tuning")
    settings, sample = load_tuning_sample(root)
    published = current_version(settings)
    assert published is not None
    yield Loaded(published, CubeFrames.from_published(published), sample.ground_truth)


def one(published: PublishedVersion, sql: str, params: list[Any]) -> dict[str, Any]:
    return published.query(sql, params).row(0, named=True)


def hand_removed(
    published: PublishedVersion, profiles: list[str], kept: float = 0.0
) -> dict[str, Any]:
    """Expected removal over PERIOD, counted from the facts: declarations whose every fired
    profile is in the set and that no independent selection put in their channel, each
    weighted by (1 - kept) ** (number of the set's profiles that fired on it)."""
    marks = ", ".join("?" for _ in profiles)
    return one(
        published,
        f"""
        WITH fired AS (
            SELECT declaration_id, lodged_month,
                   count(*) FILTER (WHERE profile_id IN ({marks})) AS m,
                   count(*) FILTER (WHERE profile_id NOT IN ({marks})) AS others
            FROM profile_hits GROUP BY declaration_id, lodged_month),
        affected AS (
            SELECT d.*, pow(1 - ?, f.m) AS w FROM declarations d JOIN fired f
              ON f.declaration_id = d.declaration_id AND f.lodged_month = d.lodged_month
            WHERE f.m > 0 AND f.others = 0 AND {DEPENDENT}
              AND d.lodged_month BETWEEN ? AND ?)
        SELECT coalesce(sum(w) FILTER (WHERE d.channel IN ('yellow','red','blue')), 0)
                   AS inspections,
               coalesce(sum(w) FILTER (WHERE d.channel = 'red'), 0) AS physical,
               coalesce(sum(w) FILTER (WHERE {CONTROLLED}), 0) AS controlled,
               coalesce(sum(w) FILTER (WHERE {IRREGULAR}), 0) AS irregular,
               coalesce(sum(w * coalesce(d.additional_revenue, 0)), 0)::DOUBLE AS revenue
        FROM affected d
        """,
        [*profiles, *profiles, kept, *PERIOD],
    )


def hand_national(published: PublishedVersion) -> dict[str, Any]:
    return one(
        published,
        f"""SELECT count(*) AS declarations,
                   count(*) FILTER (WHERE d.channel IN ('yellow','red','blue')) AS inspections,
                   count(*) FILTER (WHERE d.channel = 'red') AS physical,
                   count(*) FILTER (WHERE {CONTROLLED}) AS controlled,
                   count(*) FILTER (WHERE {IRREGULAR}) AS irregular,
                   sum(coalesce(d.additional_revenue, 0))::DOUBLE AS revenue
            FROM declarations d WHERE d.lodged_month BETWEEN ? AND ?""",
        list(PERIOD),
    )


def busiest_sole_profile(published: PublishedVersion) -> str:
    """The profile with the most controls where it fired alone (a meaningful what-if)."""
    return str(
        one(
            published,
            f"""WITH fired AS (SELECT declaration_id, lodged_month, min(profile_id) AS p,
                                      count(*) AS n FROM profile_hits GROUP BY ALL)
                SELECT f.p FROM fired f JOIN declarations d USING (declaration_id, lodged_month)
                WHERE f.n = 1 AND {CONTROLLED} AND d.lodged_month BETWEEN ? AND ?
                GROUP BY f.p ORDER BY count(*) DESC, f.p LIMIT 1""",
            list(PERIOD),
        )["p"]
    )


def assert_removed(result: Any, expected: dict[str, Any]) -> None:
    removed = result.removed
    assert removed.inspections == pytest.approx(expected["inspections"])
    assert removed.physical == pytest.approx(expected["physical"])
    assert removed.controlled == pytest.approx(expected["controlled"])
    assert removed.irregular == pytest.approx(expected["irregular"])
    assert removed.revenue == pytest.approx(expected["revenue"], rel=1e-9)


# --- What-if -------------------------------------------------------------------------------------
def test_retire_one_profile_equals_hand_count(loaded: Loaded) -> None:
    pid = busiest_sole_profile(loaded.published)
    result = what_if(loaded.cube, Scenario((pid,), Action.RETIRE), PERIOD)
    expected = hand_removed(loaded.published, [pid])
    assert result.method == "cube"
    assert expected["controlled"] > 50  # a real profile, not an empty case
    assert_removed(result, expected)
    national = hand_national(loaded.published)
    before, after = result.before, result.after
    assert before.declarations == national["declarations"]
    assert before.controlled == national["controlled"]
    assert before.irregular == national["irregular"]
    assert before.physical == national["physical"]
    assert after.controlled == national["controlled"] - expected["controlled"]
    assert after.irregular == national["irregular"] - expected["irregular"]
    assert after.hit_rate == pytest.approx(
        (national["irregular"] - expected["irregular"])
        / (national["controlled"] - expected["controlled"])
    )
    assert after.inspection_rate == pytest.approx(
        (national["inspections"] - expected["inspections"]) / national["declarations"]
    )
    low, high = after.hit_rate_ci or (None, None)
    assert low is not None and high is not None and low < after.hit_rate < high  # type: ignore[operator]
    frame = result.summary_frame()
    controls = frame.filter(pl.col("measure") == "controls").row(0, named=True)
    assert controls["change"] == pytest.approx(-expected["controlled"])


def test_cube_and_facts_routes_agree_for_one_profile(loaded: Loaded) -> None:
    pid = busiest_sole_profile(loaded.published)
    scenario = Scenario((pid,), Action.SUSPEND)
    sql, params = hits_query([pid], PERIOD)
    from_facts = what_if(loaded.cube, scenario, PERIOD, hits=loaded.published.query(sql, params))
    from_cube = what_if(loaded.cube, scenario, PERIOD)
    assert from_facts.method == "facts"
    assert from_facts.own.declarations == from_cube.own.declarations
    assert from_facts.own.controlled == from_cube.own.controlled
    assert from_facts.own.irregular == from_cube.own.irregular
    assert from_facts.own.revenue == pytest.approx(from_cube.own.revenue)
    assert from_facts.removed.controlled == from_cube.removed.controlled
    assert from_facts.removed.irregular == from_cube.removed.irregular
    assert from_facts.removed.revenue == pytest.approx(from_cube.removed.revenue)
    assert any(a.id == "suspension" for a in from_cube.assumptions)


def overlapping_set(published: PublishedVersion) -> list[str]:
    """Two profiles that fire together on at least one declaration, plus a third."""
    pair = one(
        published,
        """SELECT a.profile_id AS a, b.profile_id AS b, count(*) AS n
           FROM profile_hits a JOIN profile_hits b ON a.declaration_id = b.declaration_id
            AND a.lodged_month = b.lodged_month AND a.profile_id < b.profile_id
           WHERE a.lodged_month BETWEEN ? AND ?
           GROUP BY ALL ORDER BY n DESC, a, b LIMIT 1""",
        list(PERIOD),
    )
    assert pair["n"] >= 2
    return sorted({pair["a"], pair["b"], busiest_sole_profile(published)})


def test_retire_a_set_counts_declarations_no_other_profile_selected(loaded: Loaded) -> None:
    profiles = overlapping_set(loaded.published)
    sql, params = hits_query(profiles, PERIOD)
    hits = loaded.published.query(sql, params)
    result = what_if(loaded.cube, Scenario(tuple(profiles)), PERIOD, hits=hits)
    expected = hand_removed(loaded.published, profiles)
    assert_removed(result, expected)
    marks = ", ".join("?" for _ in profiles)
    # More than the sum of the members' sole figures: declarations the set's profiles share
    # are saved too when the whole set goes.
    sole = sum(what_if(loaded.cube, Scenario((p,)), PERIOD).removed.controlled for p in profiles)
    shared = one(
        loaded.published,
        f"""WITH f AS (SELECT declaration_id, lodged_month,
                              count(*) FILTER (WHERE profile_id IN ({marks})) AS m,
                              count(*) AS n FROM profile_hits GROUP BY ALL)
            SELECT count(*) AS c FROM f JOIN declarations d USING (declaration_id, lodged_month)
            WHERE f.m >= 2 AND f.m = f.n AND {CONTROLLED} AND {DEPENDENT}
              AND d.lodged_month BETWEEN ? AND ?""",
        [*profiles, *PERIOD],
    )["c"]
    assert shared > 0
    assert result.removed.controlled == sole + shared
    own = one(
        loaded.published,
        f"""SELECT count(DISTINCT declaration_id) AS n FROM profile_hits
           WHERE profile_id IN ({marks}) AND lodged_month BETWEEN ? AND ?""",
        [*profiles, *PERIOD],
    )
    assert result.own.declarations == own["n"]


def test_lower_selection_weights_each_declaration(loaded: Loaded) -> None:
    profiles = overlapping_set(loaded.published)
    sql, params = hits_query(profiles, PERIOD)
    hits = loaded.published.query(sql, params)
    scenario = Scenario(tuple(profiles), Action.LOWER_SELECTION, selection_factor=0.4)
    result = what_if(loaded.cube, scenario, PERIOD, hits=hits)
    assert_removed(result, hand_removed(loaded.published, profiles, kept=0.4))
    single = busiest_sole_profile(loaded.published)
    thinned = what_if(
        loaded.cube, Scenario((single,), Action.LOWER_SELECTION, selection_factor=0.25), PERIOD
    )
    retired = what_if(loaded.cube, Scenario((single,)), PERIOD)
    assert thinned.removed.controlled == pytest.approx(0.75 * retired.removed.controlled)
    assert any(a.id == "thinning" for a in thinned.assumptions)


def test_office_scope_restricts_both_routes(loaded: Loaded) -> None:
    pid = busiest_sole_profile(loaded.published)
    office = str(one(loaded.published, "SELECT min(office_code) AS o FROM declarations", [])["o"])
    sql, params = hits_query([pid], PERIOD, [office])
    facts = what_if(
        loaded.cube, Scenario((pid,)), PERIOD, hits=loaded.published.query(sql, params),
        offices=[office],
    )  # fmt: skip
    cube = what_if(loaded.cube, Scenario((pid,)), PERIOD, offices=[office])
    assert facts.removed.controlled == cube.removed.controlled
    national = national_figures(loaded.cube, PERIOD)
    assert cube.before.declarations < national.declarations
    expected = one(
        loaded.published,
        "SELECT count(*) AS n FROM declarations WHERE office_code = ? "
        "AND lodged_month BETWEEN ? AND ?",
        [office, *PERIOD],
    )
    assert cube.before.declarations == expected["n"]


def test_scenario_validation() -> None:
    with pytest.raises(ValueError, match="at least one profile"):
        Scenario(())
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        Scenario(("P1",), Action.LOWER_SELECTION, selection_factor=1.0)
    with pytest.raises(ValueError, match="drops every selection"):
        Scenario(("P1",), Action.RETIRE, selection_factor=0.5)


def test_a_set_needs_the_facts(loaded: Loaded) -> None:
    with pytest.raises(ValueError, match="hits_query"):
        what_if(loaded.cube, Scenario(("P001", "P002")), PERIOD)


# --- Overlap -------------------------------------------------------------------------------------
def test_overlap_of_two_profiles_equals_hand_count(loaded: Loaded) -> None:
    ranked = overlap_pairs(loaded.cube, PERIOD)
    top = ranked.row(0, named=True)
    a, b = top["profile_a"], top["profile_b"]
    counts = one(
        loaded.published,
        """WITH h AS (SELECT * FROM profile_hits WHERE lodged_month BETWEEN ? AND ?)
           SELECT (SELECT count(*) FROM h WHERE profile_id = ?) AS va,
                  (SELECT count(*) FROM h WHERE profile_id = ?) AS vb,
                  (SELECT count(*) FROM h x JOIN h y ON x.declaration_id = y.declaration_id
                    AND x.lodged_month = y.lodged_month
                   WHERE x.profile_id = ? AND y.profile_id = ?) AS shared""",
        [*PERIOD, a, b, a, b],
    )
    assert counts["shared"] > 0
    assert top["shared_declarations"] == counts["shared"]
    assert top["declarations_a"] == counts["va"]
    assert top["declarations_b"] == counts["vb"]
    assert top["jaccard"] == pytest.approx(
        counts["shared"] / (counts["va"] + counts["vb"] - counts["shared"])
    )
    assert top["containment"] == pytest.approx(counts["shared"] / min(counts["va"], counts["vb"]))
    jaccards = ranked["jaccard"].to_list()
    assert jaccards == sorted(jaccards, reverse=True)
    (pairs_sql, pairs_params), (vol_sql, vol_params) = facts_queries(PERIOD, [])
    from_facts = rank_pairs(
        loaded.published.query(pairs_sql, pairs_params), loaded.published.query(vol_sql, vol_params)
    )
    assert from_facts.equals(ranked)
    ids, matrix = overlap_matrix(ranked, top=6)
    i, j = ids.index(a), ids.index(b)
    assert matrix[i][j] == matrix[j][i] == pytest.approx(top["jaccard"])
    assert all(matrix[k][k] == 1.0 for k in range(len(ids)))


# --- Before / after -------------------------------------------------------------------------------
def test_before_after_recovers_ground_truth_changes(loaded: Loaded) -> None:
    results = before_after(loaded.cube, change_log_events(loaded.cube), Window(months=6))
    modified = results.filter(pl.col("change_type") == "modified")
    truth = {p["profile_id"]: p["changes"][0] for p in loaded.truth["profiles"] if p["changes"]}
    assert len(truth) >= 3
    decided = 0
    for pid, change in truth.items():
        row = modified.filter(pl.col("profile_id") == pid).row(0, named=True)
        changed_at = datetime.fromisoformat(change["changed_at"])
        assert abs((row["changed_at"] - changed_at).total_seconds()) < 86_400
        rose = change["hit_rate_after"] > change["hit_rate_before"]
        assert (row["hit_rate_delta"] > 0) == rose, (pid, row)
        # The test may lack power on a small sample, but never points the wrong way.
        expected = Verdict.IMPROVED if rose else Verdict.WORSENED
        assert row["verdict"] in (expected, Verdict.NO_CHANGE, Verdict.INSUFFICIENT), (pid, row)
        decided += row["verdict"] == expected
    assert decided >= 2
    retired = results.filter(pl.col("change_type") == "retired")
    assert retired.height and set(retired["verdict"]) == {Verdict.STOPPED.value}
    table = summary(results).filter(pl.col("change_type") == "modified").row(0, named=True)
    assert table["changes"] == len(truth)
    assert table["improved"] + table["worsened"] == decided


def test_before_after_windows_equal_hand_count(loaded: Loaded) -> None:
    results = before_after(loaded.cube, change_log_events(loaded.cube), Window(months=3))
    row = results.filter(pl.col("change_type") == "modified").row(0, named=True)
    for side in ("before", "after"):
        counts = one(
            loaded.published,
            f"""SELECT count(*) FILTER (WHERE {CONTROLLED}) AS controlled,
                       count(*) FILTER (WHERE {IRREGULAR}) AS irregular,
                       sum(coalesce(d.additional_revenue, 0))::DOUBLE AS revenue
                FROM declarations d JOIN profile_hits h USING (declaration_id, lodged_month)
                WHERE h.profile_id = ? AND d.lodged_month BETWEEN ? AND ?""",
            [row["profile_id"], row[f"{side}_from"], row[f"{side}_to"]],
        )
        assert row[f"controlled_{side}"] == counts["controlled"]
        assert row[f"irregular_{side}"] == counts["irregular"]
        assert row[f"revenue_per_control_{side}"] == pytest.approx(
            counts["revenue"] / counts["controlled"]
        )
    assert row["before_to"] < row["changed_at"].date().replace(day=1) < row["after_from"]


# --- Review queue --------------------------------------------------------------------------------
def test_review_queue_on_sample(loaded: Loaded) -> None:
    queue = review_queue(loaded.cube, QueueConfig(flags=FlagConfig(n_min=30)))
    # Ranked by cost: flagged profiles by severity, then the rest by controls without finding.
    severity = [v for v in queue["severity"].to_list() if v is not None]
    assert severity == sorted(severity, reverse=True)
    assert queue["severity"].to_list()[: len(severity)] == severity
    rest = queue["not_paid_off"].to_list()[len(severity) :]
    assert rest == sorted(rest, reverse=True)
    assert (queue["not_paid_off"] == queue["controlled"] - queue["irregular"]).all()
    by_id = {r["profile_id"]: r for r in queue.iter_rows(named=True)}
    zero = [p["profile_id"] for p in loaded.truth["profiles"] if p["archetype"] == "zero"]
    assert zero and all(z in by_id for z in zero)
    for z in zero:
        assert {"stale", "zero_hits"} & set(by_id[z]["reasons"])
    overdue = [
        p["profile_id"] for p in loaded.truth["profiles"] if p.get("review_overdue_at_as_of")
    ]
    for pid in overdue:
        assert pid in by_id
        assert {"review_overdue", "expired_or_review_overdue"} & set(by_id[pid]["reasons"])
    assert all(len(r["reasons"]) == len(r["evidence"]) >= 1 for r in by_id.values())


def test_review_queue_reasons_on_a_handmade_register() -> None:
    today = date(2026, 3, 31)
    register = pl.DataFrame(
        {
            "profile_id": ["P-END", "P-QUIET", "P-OK", "P-LATE"],
            "status": ["active"] * 4,
            "valid_from": [date(2024, 1, 1)] * 4,
            "valid_to": [date(2026, 4, 20), None, date(2026, 12, 31), None],
            "review_period_days": [365, 365, 365, 90],
            "last_reviewed_at": [date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 1),
                                 date(2025, 6, 1)],
        }
    )  # fmt: skip
    months = [date(2025, m, 1) for m in range(4, 13)] + [date(2026, m, 1) for m in (1, 2, 3)]
    rows = []
    for m in months:
        for pid, controls, hits in (("P-END", 20, 5), ("P-QUIET", 16, 0), ("P-OK", 20, 6),
                                    ("P-LATE", 10, 3)):  # fmt: skip
            rows.append(
                {"profile_id": pid, "lodged_month": m, "office_code": "A", "channel": "red",
                 "selection_source": "profile", "declarations": controls,
                 "controlled": controls, "irregular": hits, "sole_declarations": controls,
                 "sole_controlled": controls, "sole_irregular": hits}
            )  # fmt: skip
    profiles = pl.DataFrame(rows)
    declarations = profiles.drop("profile_id")
    cube = CubeFrames.build(declarations=declarations, profiles=profiles, register=register)
    config = QueueConfig(flags=FlagConfig(n_min=30, target_hit_rate=0.05), stale_months=6)
    queue = review_queue(cube, config, today=today)
    reasons = {r["profile_id"]: r["reasons"] for r in queue.iter_rows(named=True)}
    assert reasons["P-END"] == [Reason.VALIDITY_ENDING.value]
    assert Reason.STALE.value in reasons["P-QUIET"]
    assert Reason.ZERO_HITS.value in reasons["P-QUIET"]
    assert "P-OK" not in reasons
    assert reasons["P-LATE"] == [Reason.EXPIRED_OR_REVIEW_OVERDUE.value]
    # P-QUIET wastes inspections (zero hits: severity = its 48 recent controls); the others are
    # in the queue for register reasons only, after it.
    assert queue["profile_id"].to_list()[0] == "P-QUIET"
    assert queue["severity"].to_list()[0] == pytest.approx(48.0)
    assert queue["severity"].to_list()[1:] == [None] * (queue.height - 1)
    evidence = queue.filter(pl.col("profile_id") == "P-END")["evidence"][0].to_list()
    assert evidence == ["validity ends 2026-04-20 (20 days): extend, revise or let it expire"]
