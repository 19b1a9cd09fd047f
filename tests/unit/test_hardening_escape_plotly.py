"""Data text never becomes markup in a chart (issue 11, point 11): Plotly renders a subset of HTML
in trace names, text, hover labels, annotations, tick labels and legend entries, so an office
code or change summary holding ``<a href=...>`` would be a clickable external link. Every chart
builder that takes data text is given such text and its figure JSON is searched for ``<a``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import ModuleType, SimpleNamespace
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pytest

from dashboard.components import figures
from kpis.definitions import Unit
from kpis.flags import FlagConfig
from kpis.formatting import plot_text, plot_texts
from monthly_report.charts import build_figures
from monthly_report.content import ReportContent

EVIL = '<a href="http://evil">x</a>'
MONTHS = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _strings(value)


def assert_no_link(fig: go.Figure) -> None:
    found = [s for s in _strings(fig.to_plotly_json()) if "<a" in s.lower()]
    assert not found, found
    # Not an empty figure: the escaped text is there, so the data did reach the chart.
    assert any("&lt;a href" in s for s in _strings(fig.to_plotly_json()))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """Page modules as the app loads them (pages register only inside an app)."""
    from auth_helpers import cheap_passwords

    from customs_kpi.settings import load_settings
    from dashboard.app import create_app

    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("escape-plotly"))
    create_app(settings, passwords=cheap_passwords())
    names = ("home", "offices", "overlap", "profile_detail", "clearance")
    return {n: sys.modules[f"dashboard.pages.{n}"] for n in names}


def test_plot_text_escapes_markup_and_keeps_gaps() -> None:
    assert plot_text(EVIL) == '&lt;a href="http://evil"&gt;x&lt;/a&gt;'
    assert plot_text("A&B") == "A&amp;B"
    assert plot_text("THS") == "THS"
    assert plot_texts(["<b>", None]) == ["&lt;b&gt;", None]


def _series_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "month": MONTHS * 2,
            "office": [EVIL] * 3 + ["THS"] * 3,
            "value": [0.1, 0.2, 0.3] * 2,
            "ci_low": [0.05] * 6,
            "ci_high": [0.4] * 6,
            "sufficient": [True] * 6,
        }
    )


def test_trend_figure_escapes_series_names() -> None:
    fig = figures.trend_figure(
        _series_frame(), unit=Unit.PERCENT, x="month", series="office", band=True
    )
    assert_no_link(fig)
    fig = figures.trend_figure(
        _series_frame().filter(pl.col("office") == EVIL), unit=Unit.PERCENT, x="office", name=EVIL
    )
    assert_no_link(fig)


def test_stacked_bars_escape_series_and_categories() -> None:
    frame = _series_frame().with_columns(pl.lit(EVIL).alias("category"))
    assert_no_link(figures.stacked_bars(frame, x="month", series="office", unit=Unit.PERCENT))
    assert_no_link(
        figures.stacked_bars(frame, x="category", series="office", unit=Unit.COUNT, horizontal=True)
    )


def test_bar_and_scatter_figures_escape_categories_and_labels() -> None:
    frame = pl.DataFrame(
        {
            "office": [EVIL, "THS"],
            "value": [0.2, 0.3],
            "ci_low": [0.1, 0.2],
            "ci_high": [0.3, 0.4],
            "sufficient": [True, True],
            "declarations": [10, 20],
        }
    )
    for horizontal in (True, False):
        fig = figures.bar_figure(
            frame, category="office", unit=Unit.PERCENT, horizontal=horizontal, error=True
        )
        assert_no_link(fig)
    fig = figures.scatter_figure(
        frame,
        x="value",
        y="ci_low",
        label="office",
        size="declarations",
        x_unit=Unit.PERCENT,
        y_unit=Unit.PERCENT,
        x_title=EVIL,
        y_title="hit rate",
    )
    assert_no_link(fig)


def test_annotations_escape_events_reference_lines_and_messages() -> None:
    fig = figures.trend_figure(_series_frame(), unit=Unit.PERCENT, x="month", series="office")
    figures.add_events(fig, [(datetime(2026, 2, 3, 10, 0), f"decision: {EVIL}")])
    figures.add_reference_line(fig, 0.2, EVIL, Unit.PERCENT)
    assert_no_link(fig)
    assert_no_link(figures.empty_figure(EVIL))


def test_overview_and_offices_charts_escape_office_codes(pages: dict[str, ModuleType]) -> None:
    home, offices = pages["home"], pages["offices"]
    # Channels and selection sources are drawn in the catalogue's order (constants); any other
    # value is not drawn at all, so the KPI trend's name is the data text reaching Plotly here.
    mix = pl.DataFrame(
        {"month": MONTHS, "channel": [EVIL, "green", "red"], "value": [0.2, 0.5, 0.3]}
    )
    figure = home.channel_mix_graph(mix)
    assert not [s for s in _strings(figure.to_plotly_json()) if "<a" in s.lower()]
    table = pl.DataFrame(
        {
            "office": [EVIL, "THS"],
            "inspection_rate": [0.1, 0.2],
            "hit_rate": [0.3, 0.4],
            "declarations": [100, 200],
        }
    )
    assert_no_link(offices.scatter_graph(table))
    assert_no_link(offices.volume_graph(table))


def test_overlap_matrix_escapes_profile_ids(pages: dict[str, ModuleType]) -> None:
    ranked = pl.DataFrame(
        {
            "profile_a": [EVIL, EVIL],
            "profile_b": ["P-1", "P-2"],
            "jaccard": [0.5, 0.25],
        }
    )
    assert_no_link(pages["overlap"].matrix_figure(ranked))


def test_profile_page_charts_escape_change_summaries_and_offices(
    pages: dict[str, ModuleType],
) -> None:
    detail = pages["profile_detail"]
    monthly = pl.DataFrame(
        {
            "month": MONTHS,
            "hit_rate": [0.1, 0.2, 0.3],
            "ci_low": [0.05] * 3,
            "ci_high": [0.4] * 3,
            "sufficient": [True] * 3,
            "random_hit_rate": [0.05] * 3,
            "baseline_sufficient": [True] * 3,
        }
    )
    changes = pl.DataFrame(
        {
            "changed_at": [datetime(2026, 2, 10, 9, 0)],
            "change_type": [EVIL],
            "summary": [EVIL],
        }
    )
    assert_no_link(detail.trend_graph(monthly, changes))
    offices = pl.DataFrame(
        {
            "office_code": [EVIL],
            "hit_rate": [0.2],
            "ci_low": [0.1],
            "ci_high": [0.3],
            "sufficient": [True],
        }
    )
    assert_no_link(detail._office_graph(offices))


def test_profile_timeline_escapes_review_rationale(
    pages: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review decisions (rationale typed by an analyst) drawn on the profile's trend."""
    detail = pages["profile_detail"]
    decisions = pl.DataFrame(
        {
            "changed_at": [datetime(2026, 3, 20, 15, 0)],
            "change_type": ["decision: retire"],
            "summary": [f"{EVIL} (anna)"],
        }
    )
    monkeypatch.setattr(detail, "timeline_events", lambda _path, _pid: decisions)
    ctx = SimpleNamespace(settings=SimpleNamespace(app_db_path=None), months=lambda: list(MONTHS))
    monthly = pl.DataFrame({"month": MONTHS, "value": [0.1, 0.2, 0.3]})
    fig = figures.trend_figure(monthly, unit=Unit.PERCENT, x="month")
    assert_no_link(detail._with_decisions(ctx, fig, monthly, "P-1"))


def test_report_charts_escape_table_text() -> None:
    trend = pl.DataFrame(
        {
            "kpi_id": ["hit_rate"] * 3,
            "kpi": [EVIL] * 3,
            "month": MONTHS,
            "value": [0.1, 0.2, 0.3],
        }
    )
    by_channel = pl.DataFrame(
        {
            "kpi_id": ["channel_rates", "hit_rate"],
            "channel": [EVIL, EVIL],
            "value": [0.4, 0.2],
            "ci_low": [0.3, 0.1],
            "ci_high": [0.5, 0.3],
        }
    )
    times = pl.DataFrame(
        {"metric": ["release"], "channel": [EVIL], "median_hours": [2.0], "p90_hours": [9.0]}
    )
    content = ReportContent(
        month=MONTHS[-1],
        period=(MONTHS[-1], date(2026, 3, 31)),
        generated_at=datetime(2026, 4, 1, tzinfo=UTC),
        data_as_of=None,
        published_version="v000001",
        pending_controls=0,
        headline=pl.DataFrame(),
        flags=FlagConfig(),
        tables={
            "trend_12_months": trend,
            "kpis_by_channel": by_channel,
            "clearance_times": times,
        },
    )
    figs = build_figures(content)
    assert set(figs) == {"trend", "channel_mix", "hit_rate_by_channel", "release_times"}
    for fig in figs.values():
        assert_no_link(fig)
