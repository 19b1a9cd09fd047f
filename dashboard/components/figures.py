"""Plotly figures as pure functions of a frame: one calm theme, Okabe-Ito colours, axes
formatted from the KPI unit, and an explicit message instead of an empty plot.

The axis helpers make every chart look right for any period (one month, a quarter, years) and
any data (empty, all zero, one point):

* :func:`month_axis`: monthly x axes, one tick per month, quarter or year by span, points in the
  middle of their month, the range padded half a month either side, never sub-day labels;
* :func:`value_axis` (and :func:`count_axis`, :func:`percent_axis`): explicit "nice" ticks
  (1-2-5 steps), integers for counts, enough decimals for percentages to stay distinct, zero
  shown as zero (an all-zero series gets a 0..1 axis, not −1..1);
* :func:`add_events`: change and decision markers kept inside the axis range (a later one is
  drawn at the edge with an arrow), labels shortened with the full text in the hover;
* :func:`short_label` / :func:`wrap_label`: long data text without overlap, escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
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


# --- Axis helpers -----------------------------------------------------------------------------
MONTH_BAR_DAYS = 24  # a monthly bar's width: the month less a gap either side
MONTH_TICK_FORMATS: dict[str, str] = {"M1": "%b %Y", "M3": "Q%q %Y", "M12": "%Y"}


def _month_start(moment: date) -> date:
    return date(moment.year, moment.month, 1)


def _add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_count(first: date, last: date) -> int:
    """Months from ``first`` to ``last`` inclusive (both taken as their month)."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def month_dtick(months: int) -> str:
    """Tick step of a monthly axis: every month up to 14 months, every quarter up to 40,
    then every year (at most about a dozen labels)."""
    if months <= 14:
        return "M1"
    if months <= 40:
        return "M3"
    return "M12"


def month_axis(
    fig: go.Figure, months: Iterable[date | datetime | None], *, hover: bool = True
) -> go.Figure:
    """Every x axis of ``fig`` as a monthly axis over ``months`` (the data's months): each
    scatter/bar trace is placed in the middle of its month (``xperiod`` M1, so a bar is a
    month wide even when there is one), ticks on month/quarter/year starts labelled as
    periods, the range from the first month's start to the end of the last month (half a month
    of padding around the points). Nothing is labelled with a time of day."""
    present = sorted({_month_start(m) for m in months if m is not None})
    if not present:
        return fig
    first, last = present[0], present[-1]
    dtick = month_dtick(month_count(first, last))
    if dtick == "M1":
        tick0 = first
    elif dtick == "M3":
        tick0 = date(first.year, (first.month - 1) // 3 * 3 + 1, 1)
    else:
        tick0 = date(first.year, 1, 1)
    fig.update_traces(xperiod="M1", xperiodalignment="middle", selector={"type": "scatter"})
    fig.update_traces(xperiod="M1", xperiodalignment="middle", selector={"type": "bar"})
    # A lone bar on a date axis gets no width from its neighbours (Plotly draws it a hair
    # wide): every bar is given most of a month, split between the traces of a grouped chart.
    bars = [t for t in fig.data if t.type == "bar" and t.orientation != "h"]
    if bars:
        month_ms = MONTH_BAR_DAYS * 86_400_000
        grouped = fig.layout.barmode == "group"
        width = month_ms / len(bars) if grouped else month_ms
        for i, bar in enumerate(bars):
            bar.width = width
            if grouped:
                bar.offset = -month_ms / 2 + i * width
    fig.update_xaxes(
        type="date",
        range=[first.isoformat(), _add_months(last, 1).isoformat()],
        autorange=False,
        dtick=dtick,
        tick0=tick0.isoformat(),
        tickformat=MONTH_TICK_FORMATS[dtick],
        ticklabelmode="period",
        hoverformat="%b %Y",
        showgrid=False,
    )
    if hover:
        fig.update_layout(hovermode="x unified")
    return fig


def axis_range(fig: go.Figure) -> tuple[date, date] | None:
    """The x range :func:`month_axis` set, as dates (None when the axis ranges itself)."""
    xaxis = fig.layout.xaxis
    if xaxis.range is None or xaxis.type != "date":
        return None
    low, high = (date.fromisoformat(str(v)[:10]) for v in xaxis.range)
    return low, high


def nice_step(span: float, max_ticks: int = 6, *, integer: bool = False) -> float:
    """The smallest 1-2-5 step giving at most ``max_ticks`` intervals over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max_ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    if integer:
        step = max(1.0, float(math.ceil(step)))
    return step


def nice_ticks(
    low: float, high: float, max_ticks: int = 6, *, integer: bool = False
) -> tuple[list[float], float]:
    """Tick values covering [low, high] on a 1-2-5 step, and the step. The first tick is at or
    below ``low``, the last at or above ``high``; no two ticks are equal."""
    if high < low:
        low, high = high, low
    step = nice_step(high - low, max_ticks, integer=integer)
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    if stop <= start:
        stop = start + step
    count = round((stop - start) / step)
    ticks = [round(start + i * step, 12) for i in range(count + 1)]
    return ticks, step


def percent_tickformat(step: float) -> str:
    """A d3 percent format with enough decimals that ticks ``step`` apart read differently
    (a step of 0.25 points needs two, of 2 points none)."""
    points = step * 100
    decimals = next((d for d in range(5) if abs(round(points, d) - points) < 1e-9), 4)
    return f".{decimals}%"


def _finite(values: Iterable[float | int | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


# Smallest axis top per unit: an all-zero series shows 0..1 (count), 0..1 % (percent).
_EMPTY_TOP: dict[Unit, float] = {
    Unit.COUNT: 1.0,
    Unit.CURRENCY: 1.0,
    Unit.PERCENT: 0.01,
    Unit.HOURS: 1.0,
    Unit.RATIO: 1.0,
}


def value_ticks(
    unit: Unit, values: Iterable[float | int | None], max_ticks: int = 6
) -> dict[str, Any]:
    """Axis settings (range, tickvals, tickformat) for values in ``unit``: from zero (or the
    lowest negative value) to a nice top; integer ticks for counts and money; a percent
    format with as many decimals as the step needs."""
    present = _finite(values)
    low = min([0.0, *present])
    high = max([0.0, *present])
    if high <= low or (high == 0 and low == 0):
        high = _EMPTY_TOP[unit]
    integer = unit in (Unit.COUNT, Unit.CURRENCY)
    ticks, step = nice_ticks(low, high, max_ticks, integer=integer)
    if unit is Unit.PERCENT:
        tickformat = percent_tickformat(step)
    elif integer:
        tickformat = ",d"
    elif unit is Unit.HOURS:
        tickformat = ",.0f" if step >= 1 else f",.{math.ceil(-math.log10(step) - 1e-9)}f"
    else:
        tickformat = ".0f" if step >= 1 else f".{math.ceil(-math.log10(step) - 1e-9)}f"
    top = ticks[-1]
    return {
        "range": [ticks[0], top + (top - ticks[0]) * 0.02],
        "autorange": False,
        "tickmode": "array",
        "tickvals": ticks,
        "tickformat": tickformat,
        "rangemode": "tozero" if low >= 0 else "normal",
    }


def value_axis(
    fig: go.Figure,
    unit: Unit,
    values: Iterable[float | int | None],
    *,
    axis: str = "y",
    **extra: Any,
) -> go.Figure:
    """Apply :func:`value_ticks` to the ``axis`` ("y", "x", "y2", …) of ``fig``."""
    settings = {**value_ticks(unit, values), **extra}
    name = axis[0] + "axis" + axis[1:]
    fig.update_layout({name: settings})
    return fig


def count_axis(fig: go.Figure, values: Iterable[float | int | None], **kw: Any) -> go.Figure:
    return value_axis(fig, Unit.COUNT, values, **kw)


def percent_axis(fig: go.Figure, values: Iterable[float | int | None], **kw: Any) -> go.Figure:
    return value_axis(fig, Unit.PERCENT, values, **kw)


def short_label(text: object, limit: int = 40) -> str:
    """Data text for a chart label, escaped, cut at a word boundary to ``limit`` characters
    with an ellipsis (the full text belongs in the hover: :func:`plot_text`)."""
    raw = " ".join(("" if text is None else str(text)).split())
    if len(raw) > limit:
        cut = raw[: limit - 1]
        if " " in cut[limit // 2 :]:
            cut = cut[: cut.rindex(" ")]
        raw = cut.rstrip(" ,;:") + "…"
    return plot_text(raw)


def wrap_label(text: object, width: int = 24, max_lines: int = 2) -> str:
    """Data text wrapped on words into at most ``max_lines`` lines of ``width`` characters
    (``<br>`` between them), the rest cut with an ellipsis; escaped."""
    words = " ".join(("" if text is None else str(text)).split()).split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(1, width - 1)].rstrip() + "…"
    return "<br>".join(plot_text(line[: width + 12]) for line in lines)


HISTOGRAM_NOTE = "from the release-time histogram, ±1 %"


def histogram_round(value: float | None) -> float | None:
    """A percentile read from the log-bucket histogram (kpis.measures: within
    HIST_RELATIVE_ERROR, buckets about 2 % wide) rounded to that resolution: the step is the
    power of ten at or above 2 % of the value, so a median moving to the next bucket does not
    read as a real change."""
    if value is None or not math.isfinite(value) or value <= 0:
        return value
    step = 10 ** math.ceil(math.log10(value * 0.02))
    return round(round(value / step) * step, 10)


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
        # Three significant digits: about the 1 % the release-time histogram resolves.
        Unit.HOURS: "%{y:,.3~g} h",
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


def _is_date(frame: pl.DataFrame, column: str) -> bool:
    return frame.schema[column] in (pl.Date, pl.Datetime) or isinstance(
        frame.schema[column], pl.Datetime
    )


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
    ``band`` and the frame has ``ci_low``/``ci_high`` (whiskers on a one-month series, where a
    band has no width). A date ``x`` gets a monthly axis (:func:`month_axis`), the values
    nice ticks from zero (:func:`value_axis`)."""
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
    shown_values: list[float | None] = []
    for i, (label, part) in enumerate(groups):
        part = part.sort(x)
        colour = colour_of(label) if colour_of else palette.SEQUENCE[i % len(palette.SEQUENCE)]
        shown = plot_text(label)
        ys = masked_values(part)
        shown_values += ys
        error: dict[str, Any] | None = None
        if band and "ci_low" in part.columns:
            lows = masked_values(part, "ci_low")
            highs = masked_values(part, "ci_high")
            shown_values += lows + highs
            if part.height == 1:
                error = {
                    "type": "data",
                    "array": [h - v if h is not None and v is not None else None
                              for h, v in zip(highs, ys, strict=True)],
                    "arrayminus": [v - lo if lo is not None and v is not None else None
                                   for lo, v in zip(lows, ys, strict=True)],
                    "color": _rgba(colour, 0.6),
                    "thickness": 2,
                    "width": 8,
                }  # fmt: skip
            else:
                fig.add_trace(
                    go.Scatter(
                        x=axis_values(part, x) + axis_values(part, x)[::-1],
                        y=highs + lows[::-1],
                        fill="toself",
                        fillcolor=_rgba(colour, 0.15),
                        line={"width": 0},
                        mode="lines",
                        hoverinfo="skip",
                        showlegend=False,
                        name=f"{shown} 95 % interval",
                    )
                )
        fig.add_trace(
            go.Scatter(
                x=axis_values(part, x),
                y=ys,
                mode="markers" if part.height == 1 else "lines+markers",
                name=shown,
                line={"color": colour, "width": 2},
                marker={"size": 9 if part.height == 1 else 5, "color": colour},
                error_y=error,
                hovertemplate=f"{shown}: {_hover(unit)}<extra></extra>",
            )
        )
    base_layout(fig, unit=unit, height=height, legend=bool(series) or band)
    if _is_date(frame, x):
        month_axis(fig, frame[x].to_list())
    return value_axis(fig, unit, shown_values)


def stacked_bars(
    frame: pl.DataFrame,
    *,
    x: str,
    series: str,
    unit: Unit,
    y: str = "value",
    colour_of: Callable[[str], str] | None = None,
    order: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    horizontal: bool = False,
    height: int = 320,
) -> go.Figure:
    """Bars of ``y`` per ``x``, stacked by ``series`` (in ``order``); ``categories`` fixes the
    order of a category ``x`` (lanes: :data:`palette.CHANNEL_ORDER`, the default when ``x`` is
    the channel). A date ``x`` gets a monthly axis; the value axis nice ticks up to the
    highest stack."""
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
    totals = (
        frame.filter(pl.col(series).is_in(labels))
        .group_by(x)
        .agg(pl.col(y).fill_null(0).clip(lower_bound=0).sum().alias("top"))["top"]
        .to_list()
    )
    value_axis(fig, unit, totals, axis="x" if horizontal else "y")
    if categories is None and x == "channel":
        categories = palette.CHANNEL_ORDER
    if categories is not None:
        shown_cats = plot_texts([c for c in categories if c in set(frame[x].to_list())])
        cat_axis = fig.update_yaxes if horizontal else fig.update_xaxes
        cat_axis(type="category", categoryorder="array", categoryarray=shown_cats)
        if horizontal:
            fig.update_yaxes(autorange="reversed")
    elif _is_date(frame, x) and not horizontal:
        month_axis(fig, frame[x].to_list())
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
    """One bar per category (sorted as given); optional interval whiskers from ci_low/ci_high.
    Long category labels are wrapped or shortened (full text in the hover)."""
    if frame.is_empty():
        return empty_figure("No data for the selected filters", height)
    full = [plot_text(c) for c in frame[category].to_list()]
    # Horizontal bars wrap a long label over two lines, vertical ones shorten it.
    shorten = (lambda c: wrap_label(c, 20, 2)) if horizontal else (lambda c: short_label(c, 28))
    cats = [shorten(c) for c in frame[category].to_list()]
    if len(set(cats)) < len(cats):  # shortening made two equal: keep the full text
        cats = full
    vals = masked_values(frame, y) if y == "value" else frame[y].to_list()
    err: dict[str, object] | None = None
    extent: list[float | None] = list(vals)
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
        extent += frame["ci_high"].to_list()
    value_hover = _hover(unit).replace("y", "x") if horizontal else _hover(unit)
    bar = go.Bar(
        x=vals if horizontal else cats,
        y=cats if horizontal else vals,
        orientation="h" if horizontal else "v",
        marker_color=colour,
        error_x=err if horizontal else None,
        error_y=None if horizontal else err,
        customdata=full,
        hovertemplate="%{customdata}: " + value_hover + "<extra></extra>",
    )
    fig = base_layout(go.Figure(bar), height=height, legend=False)
    if horizontal:
        value_axis(fig, unit, extent, axis="x")
        fig.update_yaxes(autorange="reversed", type="category")
        fig.update_layout(hovermode="closest", margin={"l": 120})
    else:
        value_axis(fig, unit, extent, axis="y")
        fig.update_xaxes(type="category")
    return fig


def add_reference_line(
    fig: go.Figure, value: float | None, label: str, unit: Unit, colour: str = palette.ORANGE
) -> go.Figure:
    """A dashed horizontal line (a target); the value axis grows to show it."""
    if value is None:
        return fig
    fig.add_hline(
        y=value,
        line={"color": colour, "dash": "dash", "width": 2},
        annotation_text=plot_text(f"{label} {format_value(value, unit)}"),
        annotation_position="top left",
        annotation_font_color=colour,
    )
    yaxis = fig.layout.yaxis
    if yaxis.tickvals is not None and yaxis.range is not None and value > yaxis.range[1]:
        value_axis(fig, unit, [*yaxis.tickvals, value])
    return fig


EVENT_LABEL_CHARS = 36


def add_events(
    fig: go.Figure,
    events: Sequence[tuple[datetime | date, str]],
    *,
    window: tuple[date, date] | None = None,
) -> go.Figure:
    """Vertical line + label for each event (profile changes, review decisions on a timeline),
    kept inside the x range (``window``, else the one :func:`month_axis` set): an event after
    it is drawn at the right edge with an arrow and its date, one before it at the left edge;
    the axis never stretches to reach them. Labels are shortened (full text in the hover) and
    alternate height so that close events stay readable."""
    window = window or axis_range(fig)
    for i, (moment, label) in enumerate(events):
        day = moment.date() if isinstance(moment, datetime) else moment
        text = short_label(label, EVENT_LABEL_CHARS)
        full = f"{day.isoformat()} {plot_text(label)}"
        y = 1.0 - 0.09 * (i % 3)
        common: dict[str, Any] = {
            "xref": "x",
            "yref": "paper",
            "y": y,
            "yanchor": "top",
            "hovertext": full,
            "font": {"size": 11, "color": palette.REDDISH_PURPLE},
            "bgcolor": "rgba(255,255,255,0.85)",
        }
        if window is not None and not window[0] <= day < window[1]:
            after = day >= window[1]
            edge = (window[1] - timedelta(days=1)) if after else window[0]
            arrow = f"{text} ({day.isoformat()}) →" if after else f"← {text} ({day.isoformat()})"
            fig.add_annotation(
                x=edge.isoformat(),
                text=arrow,
                showarrow=False,
                xanchor="right" if after else "left",
                **common,
            )
            continue
        x = moment.isoformat()
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
        # Right of the line in the first half of the range, left of it in the second: a
        # label never runs past the plot's edge.
        anchor = "left"
        if window is not None:
            middle = window[0] + (window[1] - window[0]) / 2
            anchor = "left" if day <= middle else "right"
        fig.add_annotation(x=x, text=text, showarrow=False, xanchor=anchor, **common)
    return fig


SCATTER_LABELS = 8  # offices named on the bubble chart (the largest); the rest in the hover


def _fitted(values: Sequence[float]) -> list[float]:
    """An axis range around the data (not from zero): 8 % of the span either side, at least
    half a percentage point, never below zero."""
    low, high = min(values), max(values)
    pad = max((high - low) * 0.08, 0.005, abs(high) * 0.02)
    return [max(0.0, low - pad), high + pad]


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
    labels: int = SCATTER_LABELS,
) -> go.Figure:
    """Bubbles of ``y`` against ``x`` sized by ``size``, axes fitted to the data; only the
    ``labels`` largest bubbles carry their label as text (every one has it in the hover)."""
    if frame.is_empty():
        return empty_figure("No data for the selected filters", height)
    sizes = frame[size].to_list() if size else None
    largest = max((s or 0 for s in sizes), default=0) if sizes else 0
    marker: dict[str, object] = {
        "color": palette.BLUE,
        "opacity": 0.6,
        "line": {"color": "white", "width": 1},
    }
    if sizes and largest > 0:
        marker.update(size=sizes, sizemode="area", sizeref=2.0 * largest / 32**2, sizemin=5)
    names = plot_texts(frame[label].to_list())
    rank = sorted(range(frame.height), key=lambda i: -(sizes[i] or 0) if sizes else i)
    named = set(rank[:labels])
    positions = ("top center", "bottom center", "middle right", "middle left")
    fig = go.Figure(
        go.Scatter(
            x=frame[x].to_list(),
            y=frame[y].to_list(),
            mode="markers+text",
            text=[n if i in named else "" for i, n in enumerate(names)],
            textposition=[positions[rank.index(i) % 4] for i in range(frame.height)],
            marker=marker,
            customdata=[[n, s] for n, s in zip(names, sizes or [None] * frame.height,
                                               strict=True)],
            hovertemplate=(
                f"<b>%{{customdata[0]}}</b><br>{plot_text(x_title)}: "
                f"%{{x:{axis_tickformat(x_unit)}}}"
                f"<br>{plot_text(y_title)}: %{{y:{axis_tickformat(y_unit)}}}"
                + ("<br>declarations: %{customdata[1]:,}" if sizes else "")
                + "<extra></extra>"
            ),
        )
    )  # fmt: skip
    base_layout(fig, height=height, legend=False)
    fig.update_layout(hovermode="closest")
    for axis, column, unit, title in (
        (fig.update_xaxes, x, x_unit, x_title),
        (fig.update_yaxes, y, y_unit, y_title),
    ):
        values = _finite(frame[column].to_list())
        span = _fitted(values) if values else [0.0, _EMPTY_TOP[unit]]
        ticks, step = nice_ticks(span[0], span[1])
        fmt = percent_tickformat(step) if unit is Unit.PERCENT else axis_tickformat(unit)
        axis(title=plot_text(title), range=span, autorange=False, tickmode="array",
             tickvals=[t for t in ticks if span[0] <= t <= span[1]], tickformat=fmt)  # fmt: skip
    return fig
