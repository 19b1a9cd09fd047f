"""Plotly figures as pure functions of a frame: one calm theme, Okabe-Ito colours, axes
formatted from the KPI unit, and an explicit message instead of an empty plot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from dashboard.components import palette
from dashboard.components.format import axis_tickformat
from kpis.definitions import Unit
from kpis.formatting import format_value
from kpis.formatting import plot_text as plot_text  # re-exported: the pages escape data text
from kpis.formatting import plot_texts as plot_texts

FONT = "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
GRAPH_CONFIG: Any = {
    "displaylogo": False,
    "responsive": True,
    # The CSV button next to each chart replaces the PNG camera (and works on a closed network).
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toImage"],
}

TEMPLATE = "customs_kpi"
# Trace types the pages draw; the template keeps plotly_white's defaults for these only.
_TEMPLATE_TRACES = ("bar", "scatter", "heatmap")
# Layout parts of plotly_white that apply to 2-D cartesian charts (no polar, geo, scene, ...).
_TEMPLATE_LAYOUT = (
    "autotypenumbers",
    "font",
    "hoverlabel",
    "paper_bgcolor",
    "plot_bgcolor",
    "xaxis",
    "yaxis",
    "shapedefaults",
    "annotationdefaults",
    "title",
)


def axis_values(frame: pl.DataFrame, column: str) -> list[Any]:
    """A column as axis values: text (category axes) through :func:`plot_texts`, dates and
    numbers as they are."""
    dtype = frame.schema[column]
    values = frame[column].to_list()
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return plot_texts(values)
    return values


def _register_template() -> None:
    """The calm theme as a small named template, registered once. Naming "plotly_white" in
    every figure made plotly copy its whole template (every trace type, polar, geo, 3-D scene)
    into each chart: ~20 ms and ~7 KB of JSON per chart; this subset is a tenth of a ms and
    a few hundred bytes, and draws the same 2-D charts."""
    white = pio.templates["plotly_white"]
    layout = {key: white.layout[key] for key in _TEMPLATE_LAYOUT if white.layout[key] is not None}
    data = {kind: white.data[kind] for kind in _TEMPLATE_TRACES}
    # The one heatmap names its own colour scale: the default one is 10 colour stops of JSON.
    data["heatmap"] = [go.Heatmap(colorbar=white.data["heatmap"][0].colorbar)]
    pio.templates[TEMPLATE] = go.layout.Template(layout=layout, data=data)


_register_template()


def base_layout(
    fig: go.Figure, *, unit: Unit | None = None, height: int = 320, legend: bool = True
) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 56, "r": 16, "t": 16, "b": 40},
        font={"family": FONT, "size": 12, "color": palette.INK},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hovermode="x unified",
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "title": None},
        colorway=list(palette.SEQUENCE),
    )
    fig.update_xaxes(gridcolor=palette.GRID, linecolor=palette.GRID, color=palette.MUTED)
    fig.update_yaxes(gridcolor=palette.GRID, zerolinecolor=palette.GRID, color=palette.MUTED)
    if unit is not None:
        fig.update_yaxes(tickformat=axis_tickformat(unit), rangemode="tozero")
    return fig


def empty_figure(message: str, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=plot_text(message),
        showarrow=False,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        font={"size": 14, "color": palette.MUTED},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, height=height, legend=False)


def _hover(unit: Unit) -> str:
    return {
        Unit.PERCENT: "%{y:.2%}",
        Unit.COUNT: "%{y:,.0f}",
        Unit.CURRENCY: "%{y:,.0f}",
        Unit.HOURS: "%{y:,.2f} h",
        Unit.RATIO: "%{y:.2f}×",
    }[unit]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def masked_values(frame: pl.DataFrame, column: str = "value") -> list[float | None]:
    """Values with insufficient-sample points blanked: a rate on 3 controls is not plotted as a
    real point (the gap shows, and the table/CSV says why)."""
    if "sufficient" not in frame.columns:
        return frame[column].to_list()
    return [v if ok else None for v, ok in zip(frame[column], frame["sufficient"], strict=True)]


def trend_figure(
    frame: pl.DataFrame,
    *,
    unit: Unit,
    x: str = "lodged_month",
    series: str | None = None,
    colour_of: Callable[[str], str] | None = None,
    band: bool = False,
    name: str = "value",
    height: int = 320,
) -> go.Figure:
    """Lines of ``value`` over ``x``, one per ``series`` value; a shaded 95 % interval band when
    ``band`` and the frame has ``ci_low``/``ci_high``."""
    if frame.is_empty():
        return empty_figure("No data for the selected filters", height)
    fig = go.Figure()
    groups = (
        [
            (str(key[0]), part)
            for key, part in frame.sort(series).group_by(series, maintain_order=True)
        ]
        if series
        else [(name, frame)]
    )
    for i, (label, part) in enumerate(groups):
        part = part.sort(x)
        colour = colour_of(label) if colour_of else palette.SEQUENCE[i % len(palette.SEQUENCE)]
        shown = plot_text(label)
        ys = masked_values(part)
        if band and "ci_low" in part.columns:
            lows = masked_values(part, "ci_low")
            highs = masked_values(part, "ci_high")
            fig.add_trace(
                go.Scatter(
                    x=axis_values(part, x) + axis_values(part, x)[::-1],
                    y=highs + lows[::-1],
                    fill="toself",
                    fillcolor=_rgba(colour, 0.15),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    name=f"{shown} 95 % interval",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=axis_values(part, x),
                y=ys,
                mode="lines+markers",
                name=shown,
                line={"color": colour, "width": 2},
                marker={"size": 5},
                hovertemplate=f"{shown}: {_hover(unit)}<extra></extra>",
            )
        )
    return base_layout(fig, unit=unit, height=height, legend=bool(series) or band)


def stacked_bars(
    frame: pl.DataFrame,
    *,
    x: str,
    series: str,
    unit: Unit,
    y: str = "value",
    colour_of: Callable[[str], str] | None = None,
    order: Sequence[str] | None = None,
    horizontal: bool = False,
    height: int = 320,
) -> go.Figure:
    if frame.is_empty():
        return empty_figure("No data for the selected filters", height)
    present = frame[series].unique().to_list()
    labels = [s for s in order if s in present] if order else sorted(present)
    hover = _hover(unit).replace("y", "x") if horizontal else _hover(unit)
    fig = go.Figure()
    for i, label in enumerate(labels):
        part = frame.filter(pl.col(series) == label).sort(x)
        colour = colour_of(label) if colour_of else palette.SEQUENCE[i % len(palette.SEQUENCE)]
        xs = axis_values(part, x)
        ys = masked_values(part) if y == "value" else part[y].to_list()
        shown = plot_text(label)
        fig.add_trace(
            go.Bar(
                x=ys if horizontal else xs,
                y=xs if horizontal else ys,
                name=shown,
                orientation="h" if horizontal else "v",
                marker_color=colour,
                hovertemplate=f"{shown}: {hover}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", legend={"traceorder": "normal"})
    base_layout(fig, height=height)
    axis = fig.update_xaxes if horizontal else fig.update_yaxes
    axis(tickformat=axis_tickformat(unit))
    if horizontal:
        fig.update_layout(hovermode="y unified")
    return fig


def bar_figure(
    frame: pl.DataFrame,
    *,
    category: str,
    unit: Unit,
    y: str = "value",
    horizontal: bool = True,
    colour: str = palette.BLUE,
    height: int = 320,
    error: bool = False,
) -> go.Figure:
    """One bar per category (sorted as given); optional interval whiskers from ci_low/ci_high."""
    if frame.is_empty():
        return empty_figure("No data for the selected filters", height)
    cats = [plot_text(c) for c in frame[category].to_list()]
    vals = masked_values(frame, y) if y == "value" else frame[y].to_list()
    err: dict[str, object] | None = None
    if error and "ci_low" in frame.columns:
        highs = [
            h - v if h is not None and v is not None else None
            for h, v in zip(frame["ci_high"].to_list(), vals, strict=True)
        ]
        lows = [
            v - lo if lo is not None and v is not None else None
            for lo, v in zip(frame["ci_low"].to_list(), vals, strict=True)
        ]
        err = {"type": "data", "array": highs, "arrayminus": lows, "color": palette.MUTED}
    bar = go.Bar(
        x=vals if horizontal else cats,
        y=cats if horizontal else vals,
        orientation="h" if horizontal else "v",
        marker_color=colour,
        error_x=err if horizontal else None,
        error_y=None if horizontal else err,
        hovertemplate=(_hover(unit).replace("y", "x") if horizontal else _hover(unit))
        + "<extra></extra>",
    )
    fig = base_layout(go.Figure(bar), height=height, legend=False)
    if horizontal:
        fig.update_xaxes(tickformat=axis_tickformat(unit), rangemode="tozero")
        fig.update_yaxes(autorange="reversed", type="category")
        fig.update_layout(hovermode="closest", margin={"l": 120})
    else:
        fig.update_yaxes(tickformat=axis_tickformat(unit), rangemode="tozero")
        fig.update_xaxes(type="category")
    return fig


def add_reference_line(
    fig: go.Figure, value: float | None, label: str, unit: Unit, colour: str = palette.ORANGE
) -> go.Figure:
    if value is None:
        return fig
    fig.add_hline(
        y=value,
        line={"color": colour, "dash": "dash", "width": 2},
        annotation_text=plot_text(f"{label} {format_value(value, unit)}"),
        annotation_position="top left",
        annotation_font_color=colour,
    )
    return fig


def add_events(fig: go.Figure, events: Sequence[tuple[datetime | date, str]]) -> go.Figure:
    """Vertical line + label for each event (profile changes on a timeline). Labels alternate
    height so that close events stay readable."""
    for i, (moment, label) in enumerate(events):
        x = moment.isoformat() if isinstance(moment, date) else moment
        fig.add_shape(
            type="line",
            x0=x,
            x1=x,
            xref="x",
            y0=0,
            y1=1,
            yref="paper",
            line={"color": palette.REDDISH_PURPLE, "width": 1.5, "dash": "dot"},
        )
        fig.add_annotation(
            x=x,
            xref="x",
            y=1.0 - 0.09 * (i % 3),
            yref="paper",
            text=plot_text(label),
            showarrow=False,
            xanchor="left",
            yanchor="top",
            font={"size": 11, "color": palette.REDDISH_PURPLE},
            bgcolor="rgba(255,255,255,0.8)",
        )
    return fig


def scatter_figure(
    frame: pl.DataFrame,
    *,
    x: str,
    y: str,
    label: str,
    size: str | None,
    x_unit: Unit,
    y_unit: Unit,
    x_title: str,
    y_title: str,
    height: int = 420,
) -> go.Figure:
    if frame.is_empty():
        return empty_figure("No data for the selected filters", height)
    sizes = frame[size].to_list() if size else None
    largest = max((s or 0 for s in sizes), default=0) if sizes else 0
    marker: dict[str, object] = {
        "color": palette.BLUE,
        "opacity": 0.75,
        "line": {"color": "white", "width": 1},
    }
    if sizes and largest > 0:
        marker.update(size=sizes, sizemode="area", sizeref=2.0 * largest / 40**2, sizemin=6)
    fig = go.Figure(
        go.Scatter(
            x=frame[x].to_list(),
            y=frame[y].to_list(),
            mode="markers+text",
            text=plot_texts(frame[label].to_list()),
            textposition="top center",
            marker=marker,
            customdata=sizes,
            hovertemplate=(
                f"<b>%{{text}}</b><br>{plot_text(x_title)}: %{{x:{axis_tickformat(x_unit)}}}"
                f"<br>{plot_text(y_title)}: %{{y:{axis_tickformat(y_unit)}}}"
                + ("<br>declarations: %{customdata:,}" if sizes else "")
                + "<extra></extra>"
            ),
        )
    )
    base_layout(fig, height=height, legend=False)
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(
        title=plot_text(x_title), tickformat=axis_tickformat(x_unit), rangemode="tozero"
    )
    fig.update_yaxes(
        title=plot_text(y_title), tickformat=axis_tickformat(y_unit), rangemode="tozero"
    )
    return fig
