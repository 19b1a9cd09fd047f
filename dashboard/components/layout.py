"""Building blocks every page shares: the page header with "data as of", sections with a
title, a "how is this computed" entry and a CSV button, and the loading wrapper."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard.components.download import download_button
from dashboard.components.explain import how_computed
from dashboard.components.figures import GRAPH_CONFIG
from dashboard.components.format import format_stamp
from kpis.definitions import KPI


def page_header(
    title: str,
    intro: str,
    data_as_of: datetime | None,
    version: str | None = None,
    stale: bool = False,
) -> html.Div:
    as_of = (
        f"Data as of {format_stamp(data_as_of)}" if data_as_of is not None else "No data loaded yet"
    )
    return html.Div(
        [
            html.Div(
                [html.H1(title, className="page-title"), html.P(intro, className="page-intro")]
            ),
            html.Div(
                [
                    html.Span(as_of, className="data-as-of-text"),
                    html.Span(f"version {version}", className="data-as-of-version")
                    if version
                    else None,
                    html.Span("stale", className="badge badge-warn") if stale else None,
                ],
                className="data-as-of" + (" data-as-of-stale" if stale else ""),
                title="When the latest successful load finished",
            ),
        ],
        className="page-header",
    )


def section(
    title: str,
    body: Any,
    *,
    page: str | None = None,
    view: str | None = None,
    kpis: Sequence[KPI] = (),
    note: str | None = None,
    section_id: str | None = None,
    wide: bool = False,
) -> html.Section:
    """A titled panel. With ``page`` and ``view`` it gets a CSV button whose download is built
    by the page's download callback from the same computation as ``body``."""
    tools: list[Any] = []
    if page and view:
        tools.append(download_button(page, view))
    head = html.Div(
        [html.H2(title, className="section-title"), html.Div(tools, className="section-tools")],
        className="section-head",
    )
    identity = section_id or (f"{page}-{view}-section" if page and view else None)
    extra: dict[str, Any] = {"id": identity} if identity else {}
    if view:
        extra["data-view"] = view
    return html.Section(
        [
            head,
            html.P(note, className="section-note") if note else None,
            body,
            *(how_computed(k, named=len(kpis) > 1) for k in kpis),
        ],
        className="panel" + (" panel-wide" if wide else ""),
        **extra,
    )


def stat(label: str, value: str, detail: str | None = None) -> html.Div:
    """One figure of a ``stat-list``: its label, the value, an optional line under it."""
    lines = [html.Div(label, className="stat-label"), html.Div(value, className="stat-value")]
    if detail is not None:
        lines.append(html.Div(detail, className="stat-label"))
    return html.Div(lines, className="stat")


def graph(figure: go.Figure, graph_id: str | dict[str, str] | None = None) -> dcc.Graph:
    # A responsive graph fills its container's height, so the container gets the figure's:
    # without it the chart takes no room in the page flow and overlaps what follows.
    height = figure.layout.height or 320
    kwargs: dict[str, Any] = {"id": graph_id} if graph_id else {}
    return dcc.Graph(
        figure=figure,
        config=GRAPH_CONFIG,
        className="chart",
        style={"height": f"{height}px"},
        **kwargs,
    )


def loading(child: Any) -> dcc.Loading:
    return dcc.Loading(child, type="dot", delay_show=300, color="#0072B2")
