"""Underperformance flags, the profile table and the profile detail on the hand-made cube."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from kpis_handmade import JAN, MAR, handmade_cube
from scipy import stats

from kpis.cube import CubeFrames, Filters
from kpis.engine import profile_detail, profile_table, trend_stats
from kpis.flags import FlagConfig, FlagRule, ProfileFigures, evaluate
from kpis.stats import wilson_interval

CUBE = handmade_cube()
TODAY = date(2026, 3, 31)
Q1 = (JAN, TODAY)
CONFIG = FlagConfig(n_min=5, target_hit_rate=0.2, cost_per_control=60.0)


def figures(**changes: object) -> ProfileFigures:
    base: dict[str, object] = {
        "profile_id": "PX", "controlled": 100, "irregular": 10, "hit_rate": 0.10,
        "ci_high": 0.17, "random_hit_rate": 0.05, "revenue_per_control": 100.0,
        "declarations": 120, "status": "active",
    }  # fmt: skip
    base.update(changes)
    return ProfileFigures(**base)  # type: ignore[arg-type]


def test_no_flag_for_a_good_profile() -> None:
    assert evaluate(figures(), FlagConfig(), TODAY) == []


def test_no_better_than_random_and_zero_hits() -> None:
    high = wilson_interval(0, 100)[1]  # type: ignore[index]
    fired = evaluate(
        figures(irregular=0, hit_rate=0.0, ci_high=high, random_hit_rate=0.05),
        FlagConfig(),
        TODAY,
    )
    rules = [f.rule for f in fired]
    assert rules == [FlagRule.NO_BETTER_THAN_RANDOM, FlagRule.BELOW_TARGET, FlagRule.ZERO_HITS]
    first = fired[0]
    # Wilson upper bound at 0 of n: z² / (n + z²) = 3.841459 / 103.841459
    assert first.number("ci_high") == pytest.approx(0.0369935, abs=1e-7)
    assert first.number("random_hit_rate") == 0.05
    assert "below the random hit rate 5.0 %" in first.message
    assert fired[2].number("controlled") == 100


def test_below_target_and_low_yield_name_their_numbers() -> None:
    fired = evaluate(figures(hit_rate=0.10, revenue_per_control=40.0), CONFIG, TODAY)
    assert [f.rule for f in fired] == [FlagRule.BELOW_TARGET, FlagRule.LOW_YIELD]
    assert fired[0].number("target_hit_rate") == 0.2
    assert "10.0 % (10/100) is below the target 20.0 %" in fired[0].message
    assert fired[1].number("revenue_per_control") == 40.0
    assert fired[1].number("cost_per_control") == 60.0


def test_small_samples_are_not_judged() -> None:
    fired = evaluate(figures(controlled=4, irregular=0, hit_rate=0.0, ci_high=0.49), CONFIG, TODAY)
    assert fired == []


def test_expired_profile_still_selecting_is_flagged() -> None:
    fired = evaluate(figures(status="retired"), FlagConfig(), TODAY)
    assert [f.rule for f in fired] == [FlagRule.EXPIRED_OR_REVIEW_OVERDUE]
    assert fired[0].number("declarations") == 120
    past = evaluate(figures(valid_to=date(2026, 1, 1)), FlagConfig(), TODAY)
    assert "validity ended 2026-01-01" in past[0].message
    idle = evaluate(figures(status="retired", declarations=0), FlagConfig(), TODAY)
    assert idle == []


def test_rules_can_be_switched_off_and_thresholds_checked() -> None:
    config = FlagConfig(rules=frozenset({FlagRule.ZERO_HITS}))
    fired = evaluate(figures(irregular=0, hit_rate=0.0, ci_high=0.03), config, TODAY)
    assert [f.rule for f in fired] == [FlagRule.ZERO_HITS]
    with pytest.raises(ValueError):
        FlagConfig(target_hit_rate=3.4)
    assert FlagConfig().target_hit_rate == pytest.approx(0.034)  # catalogue's hit_rate target


def test_profile_table_rows_and_flags() -> None:
    table = profile_table(CUBE, Q1, CONFIG, TODAY)
    assert table["profile_id"].to_list() == ["P1", "P2", "P3", "P4", "P5", "P9"]
    rows = {r["profile_id"]: r for r in table.iter_rows(named=True)}
    p1 = rows["P1"]
    assert (p1["declarations"], p1["controlled"], p1["irregular"], p1["seizures"]) == (12, 11, 5, 2)
    assert p1["hit_rate"] == pytest.approx(5 / 11)
    ci = stats.binomtest(5, 11).proportion_ci(method="wilson")
    assert (p1["ci_low"], p1["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert p1["random_hit_rate"] == pytest.approx(3 / 23) and p1["random_controls"] == 23
    assert p1["lift"] == pytest.approx((5 / 11) / (3 / 23))
    assert p1["p_value"] == pytest.approx(stats.fisher_exact([[5, 6], [3, 20]]).pvalue)
    assert p1["revenue_per_control"] == pytest.approx(600 / 11)
    # what-if of retiring P1: 7 inspections saved, 3 detections at risk
    assert (p1["sole_controlled"], p1["sole_irregular"], p1["sole_revenue"]) == (7, 3, 400.0)
    assert p1["flags"] == ["low_yield", "expired_or_review_overdue"]
    assert "review overdue since 2026-03-15" in p1["flag_reasons"][1]
    assert rows["P2"]["flags"] == ["below_target", "low_yield"]
    assert "11.1 % (1/9)" in rows["P2"]["flag_reasons"][0]
    assert rows["P3"]["status"] == "suspended"
    assert rows["P3"]["flags"] == ["expired_or_review_overdue"]  # 2 controls: (a)–(d) not judged
    assert rows["P9"]["status"] == "unregistered" and rows["P9"]["declarations"] == 4
    assert rows["P4"]["declarations"] == 0 and rows["P4"]["flags"] == []
    assert rows["P5"]["hit_rate"] is None and rows["P5"]["sufficient"] is False


def test_profile_table_for_some_profiles_has_their_rows_of_the_full_table() -> None:
    full = profile_table(CUBE, Q1, CONFIG, TODAY)
    for ids in (("P1",), ("P2", "P9"), ("P4",), ("P3", "P5")):
        some = profile_table(CUBE, Q1, CONFIG, TODAY, Filters(profiles=ids))
        assert some["profile_id"].to_list() == sorted(ids)  # registered or not, fired or not
        assert some.to_dicts() == full.filter(pl.col("profile_id").is_in(ids)).to_dicts()
    # The random baseline is the same whatever profiles are asked for.
    p1 = profile_table(CUBE, Q1, CONFIG, TODAY, Filters(profiles=("P1",))).row(0, named=True)
    assert p1["random_hit_rate"] == pytest.approx(3 / 23) and p1["random_controls"] == 23
    assert profile_detail(CUBE, "P1", Q1, CONFIG, TODAY).summary.to_dicts() == (
        full.filter(pl.col("profile_id") == "P1").to_dicts()
    )


def test_profile_table_default_window_is_last_months_of_data() -> None:
    table = profile_table(CUBE, flag_config=FlagConfig(window_months=1), today=TODAY)
    # window = March only: P1 did not fire, P2 fired on 5 uncontrolled declarations
    rows = {r["profile_id"]: r for r in table.iter_rows(named=True)}
    assert rows["P1"]["declarations"] == 0
    assert (rows["P2"]["declarations"], rows["P2"]["controlled"]) == (5, 0)
    assert rows["P9"]["random_controls"] == 8


def test_profile_detail() -> None:
    detail = profile_detail(CUBE, "P1", Q1, CONFIG, TODAY)
    assert detail.summary["profile_id"].to_list() == ["P1"]
    monthly = detail.monthly
    assert monthly["month"].to_list() == [JAN, date(2026, 2, 1), MAR]
    assert monthly["controlled"].to_list() == [11, 0, 0]
    assert monthly["random_hit_rate"].to_list()[0] == pytest.approx(1 / 15)
    assert monthly["lift"].to_list()[0] == pytest.approx((5 / 11) / (1 / 15))
    assert detail.by_channel["channel"].to_list() == ["red"]
    assert detail.overlaps.row(0, named=True) == {
        "other_profile": "P2", "declarations": 4, "controlled": 4, "irregular": 2,
        "overlap_share": pytest.approx(4 / 12),
    }  # fmt: skip
    change = detail.changes.filter(pl.col("change_type") == "modified").row(0, named=True)
    # modified 2026-02-15: three months before = Nov–Jan (11 controls, 5 hits), after = Mar–May
    assert (change["controlled_before"], change["irregular_before"]) == (11, 5)
    assert change["controlled_after"] == 0 and change["delta"] is None


def test_change_impact_before_and_after() -> None:
    profiles = pl.DataFrame(
        {
            "profile_id": ["PM"] * 4,
            "lodged_month": [date(2026, m, 1) for m in (1, 2, 4, 5)],
            "office_code": ["A"] * 4, "channel": ["red"] * 4, "selection_source": ["profile"] * 4,
            "declarations": [50] * 4, "controlled": [50] * 4, "irregular": [2, 3, 10, 15],
        }
    )  # fmt: skip
    changes = pl.DataFrame(
        {"profile_id": ["PM"], "changed_at": [datetime(2026, 3, 10)], "change_type": ["modified"],
         "summary": ["narrowed"]}
    )  # fmt: skip
    cube = CubeFrames.build(profiles=profiles, changes=changes)
    detail = profile_detail(cube, "PM", today=date(2026, 5, 31))
    row = detail.changes.row(0, named=True)
    assert (row["irregular_before"], row["controlled_before"]) == (5, 100)
    assert (row["irregular_after"], row["controlled_after"]) == (25, 100)
    assert row["delta"] == pytest.approx(0.20)
    assert row["p_value"] < 0.001


def test_trend_stats_on_the_cube() -> None:
    row = trend_stats("hit_rate", CUBE, min_sample=1).row(0, named=True)
    assert row["month"] == MAR
    assert row["value"] == pytest.approx(5 / 12)
    assert row["previous_value"] is None  # February has no controls
    assert row["slope_6m"] == pytest.approx((5 / 12 - 9 / 38) / 2)
    by_office = trend_stats("hit_rate", CUBE, ["office"], min_sample=1)
    assert by_office["office"].to_list() == ["A", "B"]


def test_the_rule_set_describes_itself() -> None:
    assert FlagConfig(n_min=30, target_hit_rate=0.034).describe() == (
        "at least 30 controls; hit-rate target 3.4%; no cost per control set (low-yield flag off)"
    )
    assert FlagConfig(n_min=50, target_hit_rate=0.1, cost_per_control=1250.0).describe() == (
        "at least 50 controls; hit-rate target 10.0%; low yield below 1,250.00 revenue per control"
    )
