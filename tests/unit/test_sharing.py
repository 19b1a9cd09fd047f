"""Issue 13 points 4 and 5, the pure parts: one default period and its presets, view choices
in the URL (round trips), saved links cleaned to the user's scope, currency on amounts and CSV
headers, empty states that name what is filtered, and the saved-views store (migration,
per-user isolation, audit)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from dash_helpers import component_text as _text

from appstate import AppState
from appstate.audit import Actor
from appstate.db import SCHEMA_VERSION
from appstate.roles import Role
from appstate.saved_views import SavedViewError, SavedViewStore, clean_url
from customs_kpi.settings import load_settings
from dashboard import filters as flt
from dashboard.components import states
from dashboard.components.download import csv_text
from dashboard.components.format import format_delta
from kpis.definitions import Unit
from kpis.domain import Channel
from kpis.formatting import currency_headers, format_interval, format_value, using_currency

MONTHS = [date(2024, m, 1) for m in range(1, 13)] + [date(2025, m, 1) for m in range(1, 13)]


# --- One default period, presets ----------------------------------------------------------------
def test_default_period_is_one_setting() -> None:
    settings = load_settings(environ={})
    assert settings.default_period_months == 12
    assert (
        load_settings(environ={"CUSTOMS_KPI_DEFAULT_PERIOD_MONTHS": "3"}).default_period_months == 3
    )
    with pytest.raises(ValueError, match="DEFAULT_PERIOD_MONTHS"):
        load_settings(environ={"CUSTOMS_KPI_DEFAULT_PERIOD_MONTHS": "0"})
    resolved = flt.resolve(flt.PageFilters(), MONTHS, [], settings.default_period_months)
    assert resolved.period == (date(2025, 1, 1), date(2025, 12, 1))


@pytest.mark.parametrize(
    ("n", "start"),
    [
        (1, date(2025, 12, 1)),
        (3, date(2025, 10, 1)),
        (12, date(2025, 1, 1)),
        (24, date(2024, 1, 1)),
    ],
)
def test_presets_end_with_the_latest_month(n: int, start: date) -> None:
    assert flt.preset_period(MONTHS, n) == (start, date(2025, 12, 1))
    filters = flt.PageFilters(start=start, end=date(2025, 12, 1))
    assert flt.active_preset(filters, MONTHS) == n


def test_a_preset_longer_than_the_data_starts_with_the_first_month() -> None:
    assert flt.preset_period(MONTHS[-5:], 12) == (date(2025, 8, 1), date(2025, 12, 1))
    assert flt.preset_period([], 3) is None
    other = flt.PageFilters(start=date(2025, 2, 1), end=date(2025, 6, 1))
    assert flt.active_preset(other, MONTHS) is None


def test_filter_bar_has_the_presets_and_the_default_period() -> None:
    filters = flt.resolve(flt.PageFilters(), MONTHS, ["A"], 12)
    bar = flt.filter_bar(filters, MONTHS, ["A"], default_period=filters.period)
    text = _text(bar)
    for _n, label in flt.PRESETS:
        assert label in text
    attrs = bar.to_plotly_json()["props"]
    assert attrs["data-default-from"] == "2025-01" and attrs["data-default-to"] == "2025-12"


# --- View choices in the URL --------------------------------------------------------------------
def test_grid_sort_round_trip() -> None:
    columns = [{"field": "profile"}, {"field": "hits", "sort": "desc"}, {"field": "lift"}]
    assert flt.parse_sort("lift:asc,hits:desc,bad,x:sideways") == [
        ("lift", "asc"),
        ("hits", "desc"),
    ]
    shown = flt.sorted_columns(columns, "lift:asc,hits:desc")
    assert shown[2]["sort"] == "asc" and shown[2]["sortIndex"] == 0
    assert shown[1]["sort"] == "desc" and shown[1]["sortIndex"] == 1
    assert "sort" not in shown[0]
    # No sort in the URL: the grid's own default sort.
    assert flt.sorted_columns(columns, None)[1]["sort"] == "desc"
    assert columns[2] == {"field": "lift"}  # the module's definitions are not changed


def test_json_and_choice_params_never_raise() -> None:
    model = '{"office": {"filterType": "text", "type": "contains", "filter": "DK"}}'
    assert flt.json_param(model) == {
        "office": {"filterType": "text", "type": "contains", "filter": "DK"}
    }
    for bad in (None, "", "{not json", "[1, 2]", "x" * 5000, 3):
        assert flt.json_param(bad) is None
    assert flt.choice_param("lift", ("hit_rate", "lift"), "hit_rate") == "lift"
    assert flt.choice_param("<script>", ("hit_rate", "lift"), "hit_rate") == "hit_rate"


def test_view_param_marker_names_its_key_and_default() -> None:
    store = flt.view_param("trend", "hit_rate")
    assert store.id == {"type": flt.VIEW_PARAM, "key": "trend"}
    assert store.data == {"key": "trend", "default": "hit_rate"}


def test_cross_filter_ids_and_lane_tags() -> None:
    import plotly.graph_objects as go

    assert flt.cross_filter_id("office", "scatter", "text") == {
        "type": flt.CROSS_FILTER, "dim": "office", "field": "text", "name": "scatter",
    }  # fmt: skip
    fig = go.Figure([go.Scatter(x=[1, 2], y=[3, 4], name="red median"),
                     go.Scatter(x=[1], y=[2], name="target")])  # fmt: skip
    flt.tag_lanes(fig)
    assert list(fig.data[0].customdata) == ["red", "red"]
    assert fig.data[1].customdata is None


# --- A saved link never names offices outside the scope ----------------------------------------
def test_scoped_url_drops_offices_outside_the_scope() -> None:
    url = "/offices?from=2025-01&office=DKR,ZIG,THS&channel=red"
    assert flt.scoped_url(url, {"DKR", "THS"}) == "/offices?from=2025-01&office=DKR,THS&channel=red"
    assert flt.scoped_url(url, {"ABC"}) == "/offices?from=2025-01&channel=red"
    assert flt.scoped_url(url, None) == url  # no scope: every office
    assert flt.scoped_url("/profiles", {"DKR"}) == "/profiles"


@pytest.mark.parametrize(
    "url",
    ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "offices", "/a#frag",
     "/a\\b", "", "/" + "x" * 2100],
)  # fmt: skip
def test_saved_links_stay_inside_the_app(url: str) -> None:
    with pytest.raises(SavedViewError):
        clean_url(url)


# --- Currency -------------------------------------------------------------------------------------
def test_currency_setting_is_an_iso_code() -> None:
    assert load_settings(environ={}).currency == ""
    assert load_settings(environ={"CUSTOMS_KPI_CURRENCY": "XOF"}).currency == "XOF"
    for bad in ("xof", "EURO", "€", "12A"):
        with pytest.raises(ValueError, match="CUSTOMS_KPI_CURRENCY"):
            load_settings(environ={"CUSTOMS_KPI_CURRENCY": bad})


def test_amounts_carry_the_currency_in_one_format() -> None:
    assert format_value(1234.5, Unit.CURRENCY) == "1,234.50"
    with using_currency("XOF"):
        assert format_value(1234.5, Unit.CURRENCY) == "1,234.50 XOF"
        assert format_value(129_700, Unit.CURRENCY, compact=True) == "129.7 k XOF"
        assert format_value(None, Unit.CURRENCY) == "–"
        assert format_value(5, Unit.CURRENCY, sufficient=False) == "insufficient data"
        assert format_interval(1, 2, Unit.CURRENCY) == "1.00 – 2.00 XOF"
        assert format_delta(-50_800, Unit.CURRENCY) == "−50.8 k XOF"
        assert format_value(0.5, Unit.PERCENT) == "50.0 %"  # other units unchanged
    assert format_value(1234.5, Unit.CURRENCY) == "1,234.50"  # reset after the block


def test_csv_header_says_the_currency() -> None:
    frame = pl.DataFrame({"office": ["DKR"], "revenue": [1.5], "revenue_per_control": [0.5]})
    assert csv_text(frame).splitlines()[0] == "office,revenue,revenue_per_control"
    with using_currency("EUR"):
        assert csv_text(frame).splitlines()[0] == ("office,revenue (EUR),revenue_per_control (EUR)")
    assert currency_headers(frame, "XOF").columns == ["office", "revenue (XOF)",
                                                      "revenue_per_control (XOF)"]  # fmt: skip


# --- Empty states say what is filtered ----------------------------------------------------------
def test_empty_state_names_only_what_is_filtered() -> None:
    everything = flt.PageFilters(start=MONTHS[0], end=MONTHS[-1])
    assert "Nothing is filtered out" in flt.empty_hint(everything, MONTHS)
    assert "widen" not in flt.empty_hint(everything, MONTHS).lower()
    narrow = replace(everything, start=date(2025, 12, 1), offices=("DKR",), channel=Channel.RED)
    hint = flt.empty_hint(narrow, MONTHS)
    assert "the period Dec 2025" in hint and "office DKR" in hint and "red channel" in hint
    offices_only = replace(everything, offices=("DKR", "THS"))
    assert flt.empty_hint(offices_only, MONTHS) == (
        "Filtered to offices DKR, THS (clear them for every office)."
    )
    token = flt.SHOWN.set((offices_only, tuple(MONTHS)))
    try:
        assert "offices DKR, THS" in _text(states.no_rows())
    finally:
        flt.SHOWN.reset(token)


# --- Saved views store --------------------------------------------------------------------------
@pytest.fixture
def state(tmp_path: Path) -> AppState:
    s = AppState(tmp_path / "app.db")
    for name in ("ann", "bob"):
        s.add_user(name, Role.ANALYST, "hash", ())
    return s


def test_migration_adds_saved_views(state: AppState, tmp_path: Path) -> None:
    assert state.schema_version() == SCHEMA_VERSION == 5
    with sqlite3.connect(tmp_path / "app.db") as con:
        columns = [r[1] for r in con.execute("PRAGMA table_info(saved_views)")]
    assert columns == ["view_id", "user_id", "name", "url", "created_at"]


def test_saved_views_are_per_user_and_audited(state: AppState, tmp_path: Path) -> None:
    store = SavedViewStore(tmp_path / "app.db")
    ann, bob = Actor("ann", "analyst"), Actor("bob", "analyst")
    first = store.save_view(ann, "  Dakar   Q3 ", "/offices?office=DKR&from=2025-07&to=2025-09")
    assert first.name == "Dakar Q3"
    store.save_view(bob, "Mine", "/profiles?sort=lift:desc")
    assert [v.name for v in store.list_views("ann")] == ["Dakar Q3"]
    assert [v.name for v in store.list_views("bob")] == ["Mine"]
    # Same name again replaces (one entry), other users' ids delete nothing.
    store.save_view(ann, "Dakar Q3", "/offices?office=DKR")
    assert [v.url for v in store.list_views("ann")] == ["/offices?office=DKR"]
    assert store.delete_view(bob, first.view_id) is False
    assert len(store.list_views("ann")) == 1
    assert store.delete_view(ann, first.view_id) is True
    assert store.list_views("ann") == []
    with sqlite3.connect(tmp_path / "app.db") as con:
        logged = [r[0] for r in con.execute(
            "SELECT action FROM audit WHERE action LIKE 'view.%' ORDER BY audit_id")]  # fmt: skip
    assert logged == ["view.save", "view.save", "view.save", "view.delete"]
    with pytest.raises(SavedViewError):
        store.save_view(ann, "", "/")
    with pytest.raises(SavedViewError):
        store.save_view(Actor("nobody"), "x", "/")


def test_saved_views_go_with_their_user(state: AppState, tmp_path: Path) -> None:
    store = SavedViewStore(tmp_path / "app.db")
    store.save_view(Actor("ann"), "v", "/")
    with sqlite3.connect(tmp_path / "app.db") as con:
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("DELETE FROM users WHERE name = 'ann'")
        assert con.execute("SELECT COUNT(*) FROM saved_views").fetchone()[0] == 0
