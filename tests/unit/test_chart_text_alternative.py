"""Every chart's text alternative (issue 13.6): a name and the numbers of its own traces."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from dashboard.components.layout import chart_name, chart_numbers, graph


def _texts(component: Any) -> list[str]:
    children = getattr(component, "children", component)
    if children is None:
        return []
    if isinstance(children, str):
        return [children]
    if not isinstance(children, list):
        children = [children]
    return [t for child in children for t in _texts(child)]


def test_graph_has_a_name_and_a_hidden_table_of_its_numbers() -> None:
    figure = go.Figure(
        go.Bar(x=["DKR", "THS"], y=[1200.0, 35.5], name="Declarations <b>2026</b>"),
        layout={"title": {"text": "Declarations by office"}},
    )
    block = graph(figure)
    assert getattr(block, "role") == "figure"  # noqa: B009 (a wildcard property)
    assert getattr(block, "aria-label") == "Chart: Declarations by office"
    hidden = block.children[1]
    assert hidden.className == "sr-only"
    texts = _texts(hidden)
    assert "Declarations 2026" in texts  # markup stripped
    assert [t for t in texts if t in {"DKR", "1,200", "THS", "35.5"}] == [
        "DKR",
        "1,200",
        "THS",
        "35.5",
    ]


def test_name_from_axes_and_data_text_stays_text() -> None:
    figure = go.Figure(
        go.Scatter(x=[1, 2], y=[3, None], name="<script>alert(1)</script>x"),
        layout={"xaxis": {"title": {"text": "Month"}}, "yaxis": {"title": {"text": "Hits"}}},
    )
    assert chart_name(figure) == "Chart: Hits by Month"
    texts = _texts(chart_numbers(figure, chart_name(figure)))
    # Dash renders children as text (escaped); tags are dropped from the caption anyway.
    assert all("<script>" not in t for t in texts)
    assert "" in texts  # the missing value is an empty cell, not "None"


def test_an_empty_figure_says_so() -> None:
    texts = _texts(chart_numbers(go.Figure(), "Chart: figure"))
    assert "The chart has no data points." in texts
