"""Every KPI of the catalogue on the hand-made cube (tests/kpis_handmade.py): hand-counted
numerators, denominators and values; calendar spine; sufficiency; filters; roll-ups."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from kpis_handmade import FEB, JAN, MAR, handmade_cube
from scipy import stats

from kpis import catalogue
from kpis.catalogue import UnknownKPI
from kpis.cube import CubeFrames, Filters
from kpis.engine import compute
from kpis.measures import hist_bin, hist_value

CUBE = handmade_cube()
Q1 = (date(2026, 1, 1), date(2026, 3, 31))


def by_month(kpi_id: str, **kwargs: Any) -> dict[date, dict[str, Any]]:
    frame = compute(kpi_id, CUBE, ["month"], min_sample=kwargs.pop("min_sample", 1), **kwargs)
    assert frame["month"].to_list() == sorted(frame["month"].to_list())
    return {row["month"]: row for row in frame.iter_rows(named=True)}


def parts(row: dict[str, Any]) -> tuple[Any, Any]:
    return row["numerator"], row["denominator"]


def hist(hours: float) -> float:
    """The histogram's representative value of a duration (within 1 % of it)."""
    return hist_value(hist_bin(hours))


# --- Selection ------------------------------------------------------------------------------
def test_declarations_by_month_with_empty_february() -> None:
    rows = by_month("declarations")
    assert list(rows) == [JAN, FEB, MAR]
    assert [rows[m]["value"] for m in (JAN, FEB, MAR)] == [100.0, None, 54.0]
    assert [rows[m]["numerator"] for m in (JAN, FEB, MAR)] == [100, 0, 54]
    assert rows[JAN]["denominator"] is None


def test_declarations_national_total_is_one_row() -> None:
    frame = compute("declarations", CUBE)
    assert frame.height == 1
    assert frame["value"].item() == 154.0


def test_physical_inspection_rate() -> None:
    rows = by_month("physical_inspection_rate")
    assert parts(rows[JAN]) == (30, 100)
    assert parts(rows[MAR]) == (10, 54)
    assert rows[JAN]["value"] == pytest.approx(0.30)
    assert parts(rows[FEB]) == (0, 0) and rows[FEB]["value"] is None


def test_channel_rates_list_every_channel() -> None:
    frame = compute("channel_rates", CUBE, ["month"], period=(JAN, date(2026, 1, 31)))
    got = {r["channel"]: parts(r) for r in frame.iter_rows(named=True)}
    assert got == {"blue": (0, 100), "green": (60, 100), "red": (30, 100), "yellow": (10, 100)}
    assert frame.filter(pl.col("channel") == "blue")["value"].item() == 0.0
    assert frame["value"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kpi_id", "jan", "mar"),
    [
        ("channel_rate_green", (60, 100), (40, 54)),
        ("channel_rate_yellow", (10, 100), (0, 54)),
        ("channel_rate_red", (30, 100), (10, 54)),
        ("channel_rate_blue", (0, 100), (4, 54)),
        ("rerouting_rate", (5, 30), (0, 10)),
        ("random_share", (15, 100), (10, 54)),
    ],
)
def test_selection_proportions(kpi_id: str, jan: tuple[int, int], mar: tuple[int, int]) -> None:
    rows = by_month(kpi_id)
    assert parts(rows[JAN]) == jan
    assert parts(rows[MAR]) == mar
    assert rows[JAN]["value"] == pytest.approx(jan[0] / jan[1])


def test_profile_volume_counts_each_profile_that_fired() -> None:
    frame = compute("profile_volume", CUBE)
    assert frame.columns[0] == "profile"
    assert dict(zip(frame["profile"], frame["value"], strict=True)) == {
        "P1": 12.0, "P2": 15.0, "P3": 2.0, "P9": 4.0,
    }  # fmt: skip


# --- Effectiveness --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kpi_id", "jan", "mar"),
    [
        ("hit_rate", (9, 38), (5, 12)),
        ("hit_rate_red", (8, 28), (2, 8)),
        ("hit_rate_yellow", (1, 10), (0, 0)),
        ("hit_rate_blue", (0, 0), (3, 4)),
        ("hit_rate_profile_selected", (6, 18), (0, 0)),
        ("non_resultant_rate", (29, 38), (7, 12)),
        ("seizure_rate", (3, 38), (0, 12)),
        ("random_hit_rate", (1, 15), (2, 8)),
        ("compliance_rate", (14, 15), (6, 8)),
        ("released_within_1h", (58, 97), (40, 54)),
        ("released_within_3h", (58, 97), (44, 54)),
        ("released_within_6h", (68, 97), (44, 54)),
        ("released_within_24h", (93, 97), (44, 54)),
        ("released_within_48h", (93, 97), (54, 54)),
        ("released_within_72h", (97, 97), (54, 54)),
    ],
)
def test_rates_by_month(kpi_id: str, jan: tuple[int, int], mar: tuple[int, int]) -> None:
    rows = by_month(kpi_id)
    for month, expected in ((JAN, jan), (MAR, mar)):
        row = rows[month]
        assert parts(row) == expected
        if expected[1] == 0:
            assert row["value"] is None and row["ci_low"] is None
        else:
            assert row["value"] == pytest.approx(expected[0] / expected[1])
            ci = stats.binomtest(expected[0], expected[1]).proportion_ci(method="wilson")
            assert row["ci_low"] == pytest.approx(ci.low, abs=1e-12)
            assert row["ci_high"] == pytest.approx(ci.high, abs=1e-12)
    assert parts(rows[FEB]) == (0, 0) and rows[FEB]["value"] is None


def test_wilson_interval_known_values() -> None:
    # 9 hits in 38 controls, by hand: centre 0.28739, half-width 0.14432, scale 1.10109
    # → Wilson 95 % = [0.1299, 0.3921]
    row = by_month("hit_rate")[JAN]
    assert row["ci_low"] == pytest.approx(0.1299, abs=5e-5)
    assert row["ci_high"] == pytest.approx(0.3921, abs=5e-5)


def test_revenue_total_and_per_control() -> None:
    total = by_month("revenue_total")
    assert [total[m]["value"] for m in (JAN, FEB, MAR)] == [1250.0, None, 500.0]
    per_control = by_month("revenue_per_control")
    assert parts(per_control[JAN]) == (1250.0, 38)
    assert per_control[JAN]["value"] == pytest.approx(1250 / 38)
    assert per_control[MAR]["value"] == pytest.approx(500 / 12)
    assert "ci_low" not in per_control[JAN]  # not a proportion: no binomial interval


def test_detection_share_by_source() -> None:
    frame = compute("detection_share", CUBE, ["month"], period=(MAR, date(2026, 3, 31)))
    got = {r["selection_source"]: parts(r) for r in frame.iter_rows(named=True)}
    assert got == {
        "intelligence": (3, 5), "none": (0, 5), "officer": (0, 5), "profile": (0, 5),
        "random": (2, 5), "unknown": (0, 5),
    }  # fmt: skip
    national = compute("detection_share", CUBE)
    assert {r["selection_source"]: r["numerator"] for r in national.iter_rows(named=True)} == {
        "intelligence": 3, "none": 0, "officer": 2, "profile": 6, "random": 3, "unknown": 0,
    }  # fmt: skip
    assert national["denominator"].unique().to_list() == [14]


def test_lift_per_profile_against_random_baseline() -> None:
    frame = compute("lift", CUBE, min_sample=5)
    rows = {r["profile"]: r for r in frame.iter_rows(named=True)}
    # baseline: random controls 10 + 5 + 8 = 23 with 1 + 0 + 2 = 3 hits
    assert {r["baseline_numerator"] for r in rows.values()} == {3}
    assert {r["baseline_denominator"] for r in rows.values()} == {23}
    assert rows["P1"]["value"] == pytest.approx((5 / 11) / (3 / 23))
    assert rows["P3"]["value"] == 0.0
    expected_p = stats.fisher_exact([[5, 6], [3, 20]]).pvalue
    assert rows["P1"]["p_value"] == pytest.approx(expected_p, rel=1e-9)
    assert rows["P1"]["test"] == "fisher"
    assert rows["P1"]["sufficient"] is True
    assert rows["P3"]["sufficient"] is False  # 2 controls


def test_lift_baseline_follows_office_scope() -> None:
    frame = compute("lift", CUBE, filters=Filters(offices=("A",)), min_sample=1)
    rows = {r["profile"]: r for r in frame.iter_rows(named=True)}
    # office A random controls: 10 with 1 hit
    assert rows["P1"]["baseline_rate"] == pytest.approx(0.1)
    assert rows["P1"]["value"] == pytest.approx((5 / 11) / 0.1)
    assert "P3" not in rows  # P3 only fired in office B


def test_selection_lift_by_month() -> None:
    rows = by_month("selection_lift")
    assert rows[JAN]["value"] == pytest.approx((6 / 18) / (1 / 15))
    assert rows[MAR]["value"] is None  # no profile-selected control in March


# --- Time -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kpi_id", "jan", "mar"),
    [
        ("release_time", (898.0, 97), (328.0, 54)),
        ("inspection_time", (280.0, 28), (160.0, 8)),
        ("release_time_from_arrival", (700.0, 70), (0.0, 0)),
        ("stage_arrival_lodgement", (50.0, 50), (0.0, 0)),
        ("stage_lodgement_channel", (10.0, 20), (0.0, 0)),
        ("stage_channel_result", (180.0, 18), (0.0, 0)),
        ("stage_result_release", (252.0, 18), (0.0, 0)),
    ],
)
def test_means_from_sums(kpi_id: str, jan: tuple[float, int], mar: tuple[float, int]) -> None:
    rows = by_month(kpi_id)
    assert parts(rows[JAN]) == jan
    assert rows[JAN]["value"] == pytest.approx(jan[0] / jan[1])
    assert parts(rows[MAR]) == mar
    assert rows[MAR]["value"] == (pytest.approx(mar[0] / mar[1]) if mar[1] else None)


def test_release_time_counts_open_declarations() -> None:
    rows = by_month("release_time")
    assert [rows[m]["open"] for m in (JAN, FEB, MAR)] == [3, 0, 0]


@pytest.mark.parametrize(
    ("kpi_id", "jan", "mar"),
    [
        ("release_time_median", (1.0, 10), (0.5, 40)),
        ("release_time_p90", (100.0, 10), (0.5, 40)),
        ("inspection_time_median", (4.0, 4), (0.0, 1)),
        ("inspection_time_p90", (8.0, 4), (0.0, 1)),
        ("release_time_from_arrival_median", (2.0, 4), (None, 0)),
        ("release_time_from_arrival_p90", (2.0, 4), (None, 0)),
    ],
)
def test_percentiles_from_histogram(
    kpi_id: str, jan: tuple[float, int], mar: tuple[float | None, int]
) -> None:
    rows = by_month(kpi_id)
    for month, (hours, n) in ((JAN, jan), (MAR, mar)):
        assert rows[month]["denominator"] == n
        if hours is None:
            assert rows[month]["value"] is None
        elif hours == 0:
            assert rows[month]["value"] == 0.0
        else:
            assert rows[month]["value"] == pytest.approx(hist(hours), rel=1e-12)
            assert rows[month]["value"] == pytest.approx(hours, rel=0.01)
    assert rows[FEB]["value"] is None and rows[FEB]["denominator"] == 0


def test_percentiles_merge_across_months() -> None:
    # 0.5 h ×40, 1 h ×5, 10 h ×3, 100 h ×2: rank 25 → 0.5 h; rank 45 → 1 h
    assert compute("release_time_median", CUBE)["value"].item() == pytest.approx(hist(0.5))
    assert compute("release_time_p90", CUBE)["value"].item() == pytest.approx(hist(1.0))


def test_composites_stack_their_parts_in_order() -> None:
    frame = compute("stage_times", CUBE, period=(JAN, date(2026, 1, 31)))
    assert frame["component"].to_list() == [
        "stage_arrival_lodgement", "stage_lodgement_channel", "stage_channel_result",
        "stage_result_release",
    ]  # fmt: skip
    assert frame["value"].to_list() == pytest.approx([1.0, 0.5, 10.0, 14.0])
    within = compute("released_within", CUBE, ["month"], period=(MAR, date(2026, 3, 31)))
    assert within["numerator"].to_list() == [40, 44, 44, 44, 54, 54]
    assert within["component"].to_list()[0] == "released_within_1h"


# --- Profile management ---------------------------------------------------------------------
def test_active_profiles_today_and_per_month() -> None:
    today = date(2026, 3, 31)
    assert compute("active_profiles", CUBE, today=today)["value"].item() == 2.0
    frame = compute("active_profiles", CUBE, ["month"], period=Q1, today=today)
    # January: P3 was active until its suspension on 10 February
    assert frame["value"].to_list() == [3.0, 2.0, 2.0]


def test_active_profiles_month_after_today_uses_today() -> None:
    frame = compute("active_profiles", CUBE, ["month"], period=Q1, today=date(2026, 2, 5))
    assert frame["value"].to_list() == [3.0, 3.0, 3.0]


def test_review_overdue() -> None:
    today = date(2026, 3, 31)
    # P1 reviewed 2025-12-15 + 90 d = 2026-03-15; P3 2025-06-01 + 180 d = 2025-11-28
    assert compute("review_overdue", CUBE, today=today)["value"].item() == 2.0
    frame = compute("review_overdue", CUBE, ["month"], period=Q1, today=today)
    assert frame["value"].to_list() == [1.0, 1.0, 2.0]


def test_zero_hit_profiles_uses_min_sample() -> None:
    frame = compute("zero_hit_profiles", CUBE, min_sample=2)
    assert parts(frame.row(0, named=True)) == (1, 4)  # P3: 2 controls, no hit
    frame = compute("zero_hit_profiles", CUBE, min_sample=5)
    assert parts(frame.row(0, named=True)) == (0, 2)  # only P1 (11) and P2 (9) qualify


def test_controls_low_lift() -> None:
    row = compute("controls_low_lift", CUBE, min_sample=1).row(0, named=True)
    # baseline 3/23; P2 (1/9) and P3 (0/2) have lift ≤ 1: 9 + 2 of 26 profile controls
    assert parts(row) == (11, 26)
    assert row["value"] == pytest.approx(11 / 26)


def test_controls_low_lift_unknown_without_random_controls() -> None:
    no_random = CubeFrames.build(
        declarations=CUBE.declarations.filter(pl.col("selection_source") != "random"),
        profiles=CUBE.profiles,
    )
    assert compute("controls_low_lift", no_random)["value"].item() is None


def test_profile_changes_per_month_and_type() -> None:
    frame = compute(
        "profile_changes", CUBE, ["month"], period=(date(2025, 12, 1), MAR.replace(day=31))
    )
    counts = {(r["month"], r["change_type"]): r["numerator"] for r in frame.iter_rows(named=True)}
    assert counts[(date(2025, 12, 1), "reviewed")] == 1
    assert counts[(date(2025, 12, 1), "retired")] == 1
    assert counts[(JAN, "created")] == 1
    assert counts[(FEB, "suspended")] == 1 and counts[(FEB, "modified")] == 1
    assert sum(counts.values()) == 5
    assert frame.height == 4 * 6  # every month × every change type


# --- Grain, spine, filters, sufficiency -----------------------------------------------------
def test_explicit_period_spans_months_without_data() -> None:
    period = (date(2025, 12, 1), date(2026, 4, 30))
    frame = compute("hit_rate", CUBE, ["office", "month"], period=period)
    assert frame.height == 2 * 5
    assert frame.filter(pl.col("office") == "B")["denominator"].to_list() == [0, 10, 0, 8, 0]


def test_office_rows_add_up_to_the_national_figure() -> None:
    offices = compute("hit_rate", CUBE, ["office"])
    national = compute("hit_rate", CUBE).row(0, named=True)
    assert offices["numerator"].sum() == national["numerator"] == 14
    assert offices["denominator"].sum() == national["denominator"] == 50


def test_quarter_and_year_grains() -> None:
    quarter = compute("hit_rate", CUBE, ["quarter"])
    assert quarter.row(0, named=True)["quarter"] == "2026-Q1"
    assert parts(quarter.row(0, named=True)) == (14, 50)
    year = compute("declarations", CUBE, ["year"])
    assert year["year"].to_list() == [2026] and year["value"].to_list() == [154.0]


def test_sufficient_flag_keeps_the_value() -> None:
    rows = by_month("hit_rate", min_sample=30)
    assert rows[JAN]["sufficient"] is True  # 38 controls
    assert rows[MAR]["sufficient"] is False  # 12 controls
    assert rows[MAR]["value"] == pytest.approx(5 / 12)


def test_filters_restrict_before_summing() -> None:
    frame = compute("hit_rate", CUBE, filters=Filters(offices=("A",)))
    assert parts(frame.row(0, named=True)) == (10, 32)
    frame = compute(
        "hit_rate", CUBE, filters=Filters(channels=("red",), selection_sources=("random",))
    )
    assert parts(frame.row(0, named=True)) == (2, 13)


def test_profile_filter_reads_the_profile_cube() -> None:
    frame = compute("hit_rate", CUBE, filters=Filters(profiles=("P1", "P2")))
    assert parts(frame.row(0, named=True)) == (6, 20)


def test_breakdown_refused_when_not_allowed() -> None:
    with pytest.raises(ValueError, match="cannot be broken down by channel"):
        compute("hit_rate_red", CUBE, ["channel"])
    with pytest.raises(ValueError, match="unknown dimension"):
        compute("hit_rate", CUBE, ["week"])
    with pytest.raises(ValueError, match="not kept per profile"):
        compute("release_time_median", CUBE, filters=Filters(profiles=("P1",)))
    with pytest.raises(ValueError, match="not available per profile"):
        compute("selection_lift", CUBE, filters=Filters(profiles=("P1",)))
    with pytest.raises(UnknownKPI, match="did you mean hit_rate"):
        compute("hit_rat", CUBE)


def test_every_catalogue_entry_computes_on_the_cube() -> None:
    for kpi in catalogue.CATALOGUE:
        frame = compute(kpi, CUBE, today=date(2026, 3, 31))
        assert {"value", "numerator", "denominator"} <= set(frame.columns), kpi.id
        assert frame.height >= 1, kpi.id
        if kpi.is_rate:
            assert {"ci_low", "ci_high", "sufficient"} <= set(frame.columns), kpi.id


def test_empty_cube_gives_one_empty_row() -> None:
    frame = compute("hit_rate", CubeFrames.build())
    assert frame.height == 1
    assert parts(frame.row(0, named=True)) == (0, 0)
    assert frame["value"].item() is None


def test_control_stages_leave_out_post_release_audits() -> None:
    rows = [
        {"lodged_month": JAN, "office_code": "A", "channel": channel, "selection_source": "none",
         "stage_result_release": n, "stage_result_release_hours": hours}
        for channel, n, hours in (("red", 4, 20.0), ("yellow", 1, 2.0), ("blue", 2, -500.0))
    ]  # fmt: skip
    cube = CubeFrames.build(declarations=pl.DataFrame(rows))
    row = compute("stage_result_release", cube).row(0, named=True)
    assert parts(row) == (22.0, 5)
    by_channel = compute("stage_result_release", cube, ["channel"])
    got = {r["channel"]: parts(r) for r in by_channel.iter_rows(named=True)}
    assert got == {"blue": (0.0, 0), "green": (0.0, 0), "red": (20.0, 4), "yellow": (2.0, 1)}
