"""Building blocks every page shares: the page header with "data as of", sections with a
title, a "how is this computed" entry and a CSV button, and the loading wrapper."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard.components.download import download_button
from dashboard.components.explain import how_computed
from dashboard.components.figures import GRAPH_CONFIG
from dashboard.components.format import format_stamp
from kpis.definitions import KPI


def _aria(attributes: dict[str, str]) -> dict[str, Any]:
    """ARIA attributes for a Dash html component (its wildcard ``aria-*`` properties)."""
    return attributes


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


def graph(figure: go.Figure, graph_id: str | dict[str, str] | None = None) -> html.Div:
    """The chart with its text alternative: an accessible name (the figure's title, else its
    axes) and a visually hidden table of the numbers it draws, read from the figure's own
    traces (so from the same frame that draws it; Dash escapes the text)."""
    # A responsive graph fills its container's height, so the container gets the figure's:
    # without it the chart takes no room in the page flow and overlaps what follows.
    height = figure.layout.height or 320
    kwargs: dict[str, Any] = {"id": graph_id} if graph_id else {}
    name = chart_name(figure)
    chart = dcc.Graph(
        figure=figure,
        config=GRAPH_CONFIG,
        className="chart",
        style={"height": f"{height}px"},
        **kwargs,
    )
    # role figure (not img: a figure's children stay reachable, the chart's tools too).
    return html.Div(
        [chart, chart_numbers(figure, name)],
        role="figure",
        className="chart-block",
        **_aria({"aria-label": name}),
    )


def _plain(text: Any) -> str:
    """Text of a Plotly title or label without its markup (<b>, <br>), for a screen reader."""
    raw = str(text or "")
    return " ".join(re.sub(r"<[^>]*>", " ", raw).split())


def chart_name(figure: go.Figure) -> str:
    """The chart's accessible name: its title, else what its axes show."""
    layout = figure.layout
    title = _plain(layout.title.text if layout.title else "")
    if title:
        return f"Chart: {title}"
    axes = [
        _plain(axis.title.text)
        for axis in (layout.yaxis, layout.xaxis)
        if axis is not None and axis.title is not None and axis.title.text
    ]
    names = [_plain(t.name) for t in figure.data if getattr(t, "name", None)]
    what = " by ".join(a for a in axes if a) or ", ".join(names[:4]) or "figure"
    return f"Chart: {what}"


def _values(values: Any) -> list[Any]:
    if values is None:
        return []
    if isinstance(values, (str, bytes)):
        return [values]
    try:
        return list(values)
    except TypeError:
        return [values]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    text = _plain(value)
    return text[:200]


# At most this many rows per trace in the hidden table (a long series is summarised after).
MAX_ROWS = 200


def chart_numbers(figure: go.Figure, name: str) -> html.Div:
    """A visually hidden table per trace: its points (x and y, or label and value)."""
    tables: list[Any] = []
    for index, trace in enumerate(figure.data):
        if getattr(trace, "visible", True) is False:
            continue
        kind = getattr(trace, "type", "") or ""
        if kind == "pie":
            xs, ys = _values(trace.labels), _values(trace.values)
            heads = ("Label", "Value")
        elif kind == "heatmap":
            xs, ys = (
                _values(trace.y),
                [", ".join(_cell(v) for v in _values(row)) for row in _values(trace.z)],
            )
            heads = ("Row", "Values")
        else:
            xs, ys = _values(getattr(trace, "x", None)), _values(getattr(trace, "y", None))
            if getattr(trace, "orientation", None) == "h":
                xs, ys = ys, xs
            heads = ("x", "y")
        if not xs and not ys:
            continue
        length = max(len(xs), len(ys))
        rows = [
            html.Tr(
                [
                    html.Td(_cell(xs[i]) if i < len(xs) else ""),
                    html.Td(_cell(ys[i]) if i < len(ys) else ""),
                ]
            )
            for i in range(min(length, MAX_ROWS))
        ]
        if length > MAX_ROWS:
            rows.append(html.Tr(html.Td(f"… {length - MAX_ROWS:,} more points", colSpan=2)))
        caption = _plain(getattr(trace, "name", None)) or f"Series {index + 1}"
        tables.append(
            html.Table(
                [
                    html.Caption(caption),
                    html.Thead(html.Tr([html.Th(heads[0]), html.Th(heads[1])])),
                    html.Tbody(rows),
                ]
            )
        )
    if not tables:
        tables = [html.P("The chart has no data points.")]
    return html.Div(
        [html.P(f"Numbers behind the {name[0].lower()}{name[1:]}"), *tables], className="sr-only"
    )


def loading(child: Any) -> dcc.Loading:
    """``child`` with a loading indicator; an empty content area shows a skeleton until its
    callback fills it (instead of a blank page or a bare "Loading…")."""
    from dashboard.components.states import skeleton

    if isinstance(child, html.Div) and getattr(child, "children", None) is None:
        child.children = skeleton()
    return dcc.Loading(child, type="dot", delay_show=300, color="#005A8C")
