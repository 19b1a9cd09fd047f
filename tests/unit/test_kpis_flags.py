"""Underperformance flags, the profile table and the profile detail on the hand-made cube."""

from __future__ import annotations

import math
from datetime import date, datetime

import polars as pl
import pytest
from kpis_handmade import JAN, MAR, handmade_cube
from scipy import stats

from kpis import catalogue
from kpis.cube import CubeFrames, Filters
from kpis.engine import profile_detail, profile_table, trend_stats
from kpis.flags import (
    ChangeOutcome,
    Flag,
    FlagConfig,
    FlagRule,
    ProfileFigures,
    assess,
    evaluate,
)
from kpis.stats import controls_to_show_lift, trend_test
from kpis.targets import TargetStatus, kpi_status

CUBE = handmade_cube()
TODAY = date(2026, 3, 31)
Q1 = (JAN, TODAY)
CONFIG = FlagConfig(n_min=5, target_hit_rate=0.2, cost_per_control=60.0)


# A random lane of 12 months × 100 controls at 5 % hits.
RANDOM_12 = ((5, 100),) * 12


def figures(**changes: object) -> ProfileFigures:
    base: dict[str, object] = {
        "profile_id": "PX", "controlled": 100, "irregular": 10, "hit_rate": 0.10,
        "random_hit_rate": 0.05, "revenue_per_control": 100.0,
        "declarations": 120, "status": "active", "sole_controlled": 100, "sole_irregular": 10,
        "monthly_random": RANDOM_12,
    }  # fmt: skip
    base.update(changes)
    return ProfileFigures(**base)  # type: ignore[arg-type]


def by_month(hits: list[int], controls: list[int]) -> dict[str, object]:
    """Window totals and monthly series (all = sole) for the figures."""
    series = tuple(zip(hits, controls, strict=True))
    x, n = sum(hits), sum(controls)
    return {
        "monthly": series, "monthly_sole": series, "controlled": n, "irregular": x,
        "sole_controlled": n, "sole_irregular": x, "hit_rate": x / n,
    }  # fmt: skip


def rules(fired: list[Flag]) -> list[FlagRule]:
    return [f.rule for f in fired]


def test_no_flag_for_a_good_profile() -> None:
    good = figures(**by_month([4] * 12, [25] * 12))  # 16 % against random 5 %: lift 3.2
    assert evaluate(good, FlagConfig(), TODAY) == []


def test_no_evidence_of_beating_random_once_the_sample_decides() -> None:
    p0, n0 = 60 / 1200, 1200
    needed = controls_to_show_lift(p0, n0, 2.0, 0.8)
    assert needed is not None
    # The formula: ln 2 = (z95 + z80)·√((1−p1)/(n·p1) + (1−p0)/(n0·p0)) at n = needed.
    p1 = 2 * p0
    se = math.sqrt((1 - p1) / (needed * p1) + (1 - p0) / (n0 * p0))
    assert math.log(2) >= (1.959964 + 0.841621) * se - 1e-9
    se_before = math.sqrt((1 - p1) / ((needed - 1) * p1) + (1 - p0) / (n0 * p0))
    assert math.log(2) < (1.959964 + 0.841621) * se_before
    # At random's own hit rate with enough controls: flagged, with the numbers.
    n = needed + 20
    x = round(n * p0)
    fired = evaluate(figures(controlled=n, irregular=x, hit_rate=x / n, sole_controlled=n,
                             sole_irregular=x), FlagConfig(), TODAY)  # fmt: skip
    assert rules(fired) == [FlagRule.NO_BETTER_THAN_RANDOM]
    flag = fired[0]
    interval = stats.contingency.relative_risk(x, n, 60, 1200).confidence_interval(0.95)
    assert flag.number("lift_ci_low") == pytest.approx(interval.low, rel=1e-9)
    assert flag.number("lift_ci_high") == pytest.approx(interval.high, rel=1e-9)
    assert flag.number("controls_needed") == needed and flag.number("basis") == "all"
    assert f"over the {n} controls all it selected in the last 12 months" in flag.message
    assert "no evidence it beats random selection" in flag.message


def test_too_few_controls_say_how_many_more_decide() -> None:
    assessment = assess(figures(controlled=60, irregular=4, hit_rate=4 / 60, sole_controlled=60,
                                sole_irregular=4), FlagConfig(), TODAY)  # fmt: skip
    assert assessment.flags == ()
    needed = controls_to_show_lift(0.05, 1200, 2.0, 0.8)
    assert needed is not None and assessment.controls_to_decide == needed - 60
    assert (
        assessment.notices
        and f"about {needed - 60} more controls decide" in (assessment.notices[0])
    )


def test_a_profile_riding_on_others_hits_is_judged_on_what_it_adds() -> None:
    # All it selected: 20 % (lift 4); of the 400 only it selected, 5 % (random's rate).
    rider = figures(controlled=800, irregular=160, hit_rate=0.2, sole_controlled=400,
                    sole_irregular=20)  # fmt: skip
    fired = evaluate(rider, FlagConfig(), TODAY)
    assert rules(fired) == [FlagRule.NO_BETTER_THAN_RANDOM]
    assert fired[0].number("basis") == "sole"
    assert "over the 400 controls only it selected" in fired[0].message


def test_a_short_window_is_lengthened_but_never_across_the_latest_change() -> None:
    # 150 controls a year at 1.2× random: undecided over 12 months, decided over 24.
    year = [1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1], [12] * 6 + [13] * 6
    config = FlagConfig(history_months=24)
    history = by_month([*year[0], *year[0]], [*year[1], *year[1]])
    window = {k: v for k, v in by_month(*year).items() if not k.startswith("monthly")}
    base = {**history, **window, "monthly_random": RANDOM_12 * 2}
    assert assess(figures(**base), FlagConfig(history_months=12), TODAY).controls_to_decide
    decided = evaluate(figures(**base), config, TODAY)
    assert rules(decided) == [FlagRule.NO_BETTER_THAN_RANDOM]
    assert "in the last 24 months" in decided[0].message
    changed = figures(**base, months_since_change=12)
    assert assess(changed, config, TODAY).flags == ()


def test_deteriorating_trend_and_recent_drop() -> None:
    falling = by_month([12, 11, 11, 10, 9, 8, 8, 6, 5, 4, 3, 3], [60] * 12)
    fired = evaluate(figures(**falling), FlagConfig(), TODAY)
    assert FlagRule.DETERIORATING in rules(fired)
    trend = next(f for f in fired if f.rule is FlagRule.DETERIORATING)
    z, p = trend_test(falling["monthly"])  # type: ignore[misc, arg-type]
    assert trend.number("trend_z") == z < -3 and trend.number("p_value") == p < 0.001
    assert "18.9 % (34/180) in the first 3, 5.6 % (10/180) in the last 3" in trend.message
    steady = by_month([9, 10, 9, 11, 10, 9, 10, 11, 9, 10, 10, 9], [60] * 12)
    assert FlagRule.DETERIORATING not in rules(evaluate(figures(**steady), FlagConfig(), TODAY))
    rising = by_month(list(reversed(falling["monthly"])) and [3, 3, 4, 5, 6, 8, 8, 9, 10, 11,
                      11, 12], [60] * 12)  # fmt: skip
    assert FlagRule.DETERIORATING not in rules(evaluate(figures(**rising), FlagConfig(), TODAY))


def test_worse_after_change_uses_the_before_after_verdict() -> None:
    change = ChangeOutcome(date(2025, 9, 10), "modified", "worsened", 30, 120, 6, 130, 0.0001)
    fired = evaluate(figures(latest_change=change), FlagConfig(), TODAY)
    assert rules(fired) == [FlagRule.WORSE_AFTER_CHANGE]
    assert "fell from 25.0 % (30/120) to 4.6 % (6/130)" in fired[0].message
    better = ChangeOutcome(date(2025, 9, 10), "modified", "improved", 6, 130, 30, 120, 0.0001)
    assert evaluate(figures(latest_change=better), FlagConfig(), TODAY) == []


def test_zero_hits_and_below_target() -> None:
    fired = evaluate(figures(**by_month([0] * 12, [10] * 12)), FlagConfig(), TODAY)
    assert rules(fired) == [FlagRule.NO_BETTER_THAN_RANDOM, FlagRule.ZERO_HITS,
                            FlagRule.BELOW_TARGET]  # fmt: skip
    assert fired[1].number("controlled") == 120


def test_flag_texts_never_contradict_their_rounding() -> None:
    # 3/89 = 3.37 % reads "3.4 %": on target for the card, so not below target for the flag.
    on = evaluate(figures(controlled=89, irregular=3, hit_rate=3 / 89), FlagConfig(), TODAY)
    assert FlagRule.BELOW_TARGET not in rules(on)
    assert kpi_status(catalogue.get("hit_rate"), 3 / 89, True) is TargetStatus.ON
    fired = evaluate(figures(controlled=90, irregular=3, hit_rate=3 / 90), FlagConfig(), TODAY)
    below = next(f for f in fired if f.rule is FlagRule.BELOW_TARGET)
    assert "hit rate 3.3 % (3/90) is below the target 3.4 %, near target" in below.message
    assert kpi_status(catalogue.get("hit_rate"), 3 / 90, True) is TargetStatus.NEAR
    # A target at or below random's hit rate is said to be met by random selection alone.
    assert "the target is not above the random hit rate 5.0 %" in below.message
    low = evaluate(figures(revenue_per_control=59.996), CONFIG, TODAY)
    yield_flag = next(f for f in low if f.rule is FlagRule.LOW_YIELD)
    assert "revenue per control 59.996 is below the cost of a control 60.000" in (
        yield_flag.message
    )


def test_below_target_and_low_yield_name_their_numbers() -> None:
    fired = evaluate(figures(hit_rate=0.10, revenue_per_control=40.0), CONFIG, TODAY)
    assert rules(fired) == [FlagRule.BELOW_TARGET, FlagRule.LOW_YIELD]
    assert fired[0].number("target_hit_rate") == 0.2
    assert "10.0 % (10/100) is below the target 20.0 %, off target" in fired[0].message
    assert fired[1].number("revenue_per_control") == 40.0
    assert fired[1].number("cost_per_control") == 60.0


def test_small_samples_and_inactive_profiles_are_not_judged() -> None:
    fired = evaluate(figures(controlled=4, irregular=0, hit_rate=0.0), CONFIG, TODAY)
    assert fired == []
    for status in ("retired", "suspended", "draft"):
        quiet = figures(status=status, declarations=0, controlled=200, irregular=0, hit_rate=0.0)
        assert evaluate(quiet, FlagConfig(), TODAY) == []


def test_expired_profile_still_selecting_is_flagged() -> None:
    fired = evaluate(figures(status="retired"), FlagConfig(), TODAY)
    assert rules(fired) == [FlagRule.EXPIRED_OR_REVIEW_OVERDUE]
    assert fired[0].number("declarations") == 120
    past = evaluate(figures(valid_to=date(2026, 1, 1)), FlagConfig(), TODAY)
    assert "validity ended 2026-01-01" in past[0].message
    idle = evaluate(figures(status="retired", declarations=0), FlagConfig(), TODAY)
    assert idle == []


def test_severity_is_the_inspections_wasted_recently() -> None:
    # Last 3 months only it selected: 90 controls, 3 hits; reference 2 × 5 % = 10 %.
    poor = by_month([1] * 12, [30] * 12)
    assessment = assess(figures(**poor), FlagConfig(), TODAY)
    assert assessment.flags and assessment.severity == pytest.approx(90 - 3 / 0.10)
    none = assess(figures(**by_month([0] * 12, [30] * 12)), FlagConfig(), TODAY)
    assert none.severity == pytest.approx(90.0)  # a zero-hit profile wastes all it alone caused
    assert assess(figures(), FlagConfig(), TODAY).severity is None  # not flagged


def test_rules_can_be_switched_off_and_thresholds_checked() -> None:
    config = FlagConfig(rules=frozenset({FlagRule.ZERO_HITS}))
    fired = evaluate(figures(irregular=0, hit_rate=0.0, sole_irregular=0), config, TODAY)
    assert rules(fired) == [FlagRule.ZERO_HITS]
    for bad in ({"target_hit_rate": 3.4}, {"window_months": 0}, {"recent_months": 13},
                {"history_months": 6}, {"min_lift": 1.0}, {"power": 1.0},
                {"trend_alpha": 0.0}):  # fmt: skip
        with pytest.raises(ValueError):
            FlagConfig(**bad)  # type: ignore[arg-type]
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
    config = FlagConfig(window_months=1, recent_months=1)
    table = profile_table(CUBE, flag_config=config, today=TODAY)
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
        "evidence window 12 months (recent 3, history 24); at least 30 controls; expected lift "
        "2× (80% power); trend level 0.001; hit-rate target 3.4 %; no cost per control set "
        "(low-yield flag off)"
    )
    described = dict(FlagConfig(cost_per_control=1250.0).rule_descriptions())
    assert set(described) == set(FlagRule)
    assert "below 1,250.00" in described[FlagRule.LOW_YIELD]
    assert "a 2× lift with 80% power" in described[FlagRule.NO_BETTER_THAN_RANDOM]
    off = dict(FlagConfig(rules=frozenset({FlagRule.ZERO_HITS})).rule_descriptions())
    assert list(off) == [FlagRule.ZERO_HITS]
