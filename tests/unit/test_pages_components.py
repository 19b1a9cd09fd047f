"""Pure pieces of the pages: URL filters, formats, card status, sparklines, CSV, office scope."""

from __future__ import annotations

from datetime import date

import polars as pl

from dashboard import filters as flt
from dashboard.components.cards import CardData, card_status, delta_tone, kpi_card
from dashboard.components.download import csv_text, filename
from dashboard.components.format import format_delta
from dashboard.components.sparkline import GAP, spark_text
from dashboard.data import scope_cube
from kpis import catalogue
from kpis.cube import CubeFrames
from kpis.definitions import Unit
from kpis.domain import Channel
from kpis.formatting import format_value
from kpis.targets import TargetStatus


# --- Filters in the URL -----------------------------------------------------------------------
def test_query_round_trip() -> None:
    filters = flt.PageFilters(
        start=date(2025, 1, 1), end=date(2026, 3, 1), offices=("DKR", "ZIG"), channel=Channel.RED
    )
    query = flt.to_query(filters)
    assert query == "?from=2025-01&to=2026-03&office=DKR,ZIG&channel=red"
    parsed = flt.parse_query(dict(part.split("=") for part in query[1:].split("&")))
    assert parsed == filters


def test_parse_tolerates_bad_and_repeated_values() -> None:
    parsed = flt.parse_query(
        {"from": "2025-13", "to": "garbage", "office": ["DKR", "THS,DKR"], "channel": "purple"}
    )
    assert parsed == flt.PageFilters(start=None, end=None, offices=("DKR", "THS"), channel=None)
    assert flt.parse_query({"channel": "all"}).channel is None
    assert flt.to_query(flt.PageFilters()) == ""


def test_resolve_defaults_clamps_and_drops_offices_outside_scope() -> None:
    months = [date(2024, m, 1) for m in range(1, 13)] + [date(2025, m, 1) for m in range(1, 13)]
    months += [date(2026, 1, 1)]
    resolved = flt.resolve(flt.PageFilters(offices=("DKR", "SECRET")), months, ["DKR", "THS"])
    # Default: the latest month and 12 months (the app passes CUSTOMS_KPI_DEFAULT_PERIOD_MONTHS);
    # an office outside scope is dropped.
    assert resolved.end == date(2026, 1, 1)
    assert resolved.start == date(2025, 2, 1)
    assert resolved.offices == ("DKR",)
    swapped = flt.resolve(flt.PageFilters(start=date(2025, 6, 1), end=date(2025, 2, 1)), months, [])
    assert (swapped.start, swapped.end) == (date(2025, 2, 1), date(2025, 6, 1))
    outside = flt.resolve(flt.PageFilters(end=date(2030, 1, 1)), months, [], default_months=3)
    assert (outside.start, outside.end) == (date(2025, 11, 1), date(2026, 1, 1))
    assert flt.resolve(flt.PageFilters(end=date(2025, 1, 1)), [], ["DKR"]).end is None


# --- Formats and statuses ---------------------------------------------------------------------
def test_formats_follow_the_unit() -> None:
    assert format_value(0.034, Unit.PERCENT) == "3.4 %"
    assert format_value(1_234_567, Unit.COUNT) == "1,234,567"
    assert format_value(1_234_567, Unit.CURRENCY, compact=True) == "1.23 M"
    assert format_value(None, Unit.HOURS) == "–"
    assert format_delta(-0.012, Unit.PERCENT) == "−1.2 pp"
    assert format_delta(2.5, Unit.HOURS) == "+2.5 h"


def test_insufficient_sample_has_no_status_and_no_number() -> None:
    kpi = catalogue.get("hit_rate")
    data = CardData(
        kpi=kpi,
        month=date(2026, 3, 1),
        value=1.0,
        numerator=3,
        denominator=3,
        sufficient=False,
        target=0.034,
    )
    assert card_status(data) is TargetStatus.INSUFFICIENT
    card = kpi_card(data)
    text = str(card)
    assert "insufficient data" in text
    assert "100.0 %" not in text
    assert card.className == "kpi-card kpi-card-none"


def test_card_shows_value_target_deltas_in_kpi_terms() -> None:
    kpi = catalogue.get("physical_inspection_rate")  # lower is better, target 5 %
    card = kpi_card(
        CardData(
            kpi=kpi,
            month=date(2026, 3, 1),
            value=0.12,
            numerator=120,
            denominator=1000,
            ci_low=0.10,
            ci_high=0.14,
            target=0.05,
            mom_delta=-0.01,
            yoy_delta=0.02,
        )
    )
    text = str(card)
    assert "12.0 %" in text and "Target 5.0 %" in text and "120 / 1,000" in text
    assert card.className == "kpi-card kpi-card-bad"
    # A fall in a lower-is-better rate is good news, a rise is bad news.
    assert delta_tone(kpi.direction, -0.01) == "better"
    assert delta_tone(kpi.direction, 0.02) == "worse"
    assert "How is this computed?" in text and kpi.formula in text


def test_spark_text_scales_and_shows_gaps() -> None:
    assert spark_text([0.0, 0.5, 1.0]) == "▁▅█"
    assert spark_text([None, 0.2, 0.2]) == GAP + "▅▅"
    assert spark_text([]) == ""


def test_csv_joins_list_columns_and_names_files() -> None:
    frame = pl.DataFrame(
        {"profile": ["P1"], "flags": [["zero_hits", "below_target"]], "month": [date(2026, 3, 1)]}
    )
    assert csv_text(frame).splitlines() == [
        "profile,flags,month",
        "P1,zero_hits;below_target,2026-03-01",
    ]
    assert (
        filename("overview/trend", month=date(2026, 3, 1))
        == "customs-kpi-overview-trend-2026-03.csv"
    )


# --- Office scope on the server ---------------------------------------------------------------
def test_scope_cube_keeps_only_the_users_offices() -> None:
    rows = {
        "lodged_month": [date(2026, 1, 1)] * 3,
        "office_code": ["DKR", "THS", "ZIG"],
        "channel": ["red"] * 3,
        "selection_source": ["profile"] * 3,
        "declarations": [5, 7, 11],
    }
    cube = CubeFrames.build(
        declarations=pl.DataFrame(rows),
        profiles=pl.DataFrame({**rows, "profile_id": ["P"] * 3}),
        profile_pairs=pl.DataFrame(
            {
                "lodged_month": [date(2026, 1, 1)],
                "profile_a": ["P"],
                "profile_b": ["Q"],
                "declarations": [4],
            }
        ),
    )
    scoped = scope_cube(cube, ("DKR", "ZIG"))
    assert sorted(scoped.declarations["office_code"].to_list()) == ["DKR", "ZIG"]
    assert scoped.declarations["declarations"].sum() == 16
    assert scoped.profiles["office_code"].to_list() == ["DKR", "ZIG"]
    assert scoped.profile_pairs.is_empty()  # national co-occurrence is not theirs to see
    assert scope_cube(cube, None) is cube
