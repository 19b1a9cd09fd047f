"""KPI cards: value, target with a red/amber/green status, month-on-month and year-on-year
deltas, a sparkline and the "how is this computed" entry. Pure functions of (KPI definition,
data). The status itself is :func:`kpis.targets.kpi_status`, the verdict every surface shows;
this module only chooses its symbol and colour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard.components import palette
from dashboard.components.explain import how_computed
from dashboard.components.figures import TEMPLATE
from dashboard.components.format import (
    format_count,
    format_delta,
    format_month,
)
from kpis.definitions import KPI, Direction, Unit
from kpis.formatting import INSUFFICIENT, format_interval, format_value
from kpis.targets import TargetStatus, kpi_status, status_label


class Status(StrEnum):
    """Colour tone of a verdict (CSS ``status-*``, ``kpi-card-*``)."""

    GOOD = "good"
    WARN = "warn"
    BAD = "bad"
    NONE = "none"  # nothing to pass or miss: no target, policy value, no or too little data


# (tone, symbol) of each verdict: colour is never the only signal, the word goes with it.
STATUS_STYLE: dict[TargetStatus, tuple[Status, str]] = {
    TargetStatus.ON: (Status.GOOD, "●"),
    TargetStatus.NEAR: (Status.WARN, "▲"),
    TargetStatus.OFF: (Status.BAD, "■"),
    TargetStatus.NO_TARGET: (Status.NONE, "○"),
    TargetStatus.POLICY: (Status.NONE, "○"),
    TargetStatus.INSUFFICIENT: (Status.NONE, "○"),
    TargetStatus.NO_DATA: (Status.NONE, "○"),
}
# The words back to the verdict (tables and downloads carry the words).
STATUS_OF_LABEL: dict[str, TargetStatus] = {status_label(s): s for s in TargetStatus}


def status_mark(status: TargetStatus) -> html.Span:
    """The verdict's symbol in its colour, with the words as tooltip and for screen readers."""
    tone, symbol = STATUS_STYLE[status]
    word = status_label(status)
    aria: dict[str, Any] = {"aria-label": word}
    return html.Span(symbol, className=f"status-mark status-{tone.value}", title=word, **aria)


@dataclass(frozen=True)
class CardData:
    """One KPI for the selected month, with what the card needs around it."""

    kpi: KPI
    month: date | None
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    sufficient: bool = True
    target: float | None = None
    mom_delta: float | None = None  # value − value of the previous month
    yoy_delta: float | None = None  # value − value of the same month a year earlier
    sparkline: tuple[tuple[date, float | None], ...] = field(default=())


def card_status(data: CardData) -> TargetStatus:
    """The card's verdict: :func:`kpis.targets.kpi_status` of its value and target."""
    return kpi_status(data.kpi, data.value, data.sufficient, target=data.target)


def delta_tone(direction: Direction, delta: float | None) -> str:
    """CSS class of a delta: 'better', 'worse' or 'flat' given the KPI's direction."""
    if delta is None or delta == 0 or direction is Direction.NEUTRAL:
        return "flat"
    improving = delta > 0 if direction is Direction.HIGHER else delta < 0
    return "better" if improving else "worse"


def _arrow(delta: float | None) -> str:
    if delta is None or delta == 0:
        return "→"
    return "↑" if delta > 0 else "↓"


def sparkline_figure(points: tuple[tuple[date, float | None], ...], unit: Unit) -> go.Figure:
    months = [m for m, _ in points]
    values = [v for _, v in points]
    fig = go.Figure(
        go.Scatter(
            x=months,
            y=values,
            mode="lines",
            line={"color": palette.BLUE, "width": 2},
            connectgaps=False,
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        template=TEMPLATE,  # the small theme: plotly's default adds ~10 KB to every card
        margin={"l": 0, "r": 0, "t": 2, "b": 2},
        height=40,
        showlegend=False,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return fig


def _deltas(data: CardData) -> html.Div:
    unit, direction = data.kpi.unit, data.kpi.direction
    items = []
    for label, delta in (("MoM", data.mom_delta), ("YoY", data.yoy_delta)):
        items.append(
            html.Span(
                [
                    html.Span(label, className="delta-label"),
                    f" {_arrow(delta)} {format_delta(delta, unit)}",
                ],
                className=f"delta delta-{delta_tone(direction, delta)}",
                title=f"{'Month-on-month' if label == 'MoM' else 'Year-on-year'} change",
            )
        )
    return html.Div(items, className="card-deltas")


def kpi_card(data: CardData, card_id: str | None = None, note: str | None = None) -> html.Div:
    """The card of one KPI. Below the minimum sample the value reads "insufficient data".
    ``note``: a line under the value (why a filter does not apply to it)."""
    kpi = data.kpi
    verdict = card_status(data)
    st, symbol = STATUS_STYLE[verdict]
    word = status_label(verdict)
    if data.value is None:
        value_text, value_class = "no data", "card-value card-value-empty"
    elif not data.sufficient:
        value_text, value_class = INSUFFICIENT, "card-value card-value-empty"
    else:
        value_text, value_class = format_value(data.value, kpi.unit, compact=True), "card-value"
    details: list[str] = []
    if data.numerator is not None and data.denominator is not None and kpi.is_quotient:
        details.append(f"{format_count(data.numerator)} / {format_count(data.denominator)}")
    if kpi.is_rate and data.sufficient and data.ci_low is not None:
        details.append(f"95 % CI {format_interval(data.ci_low, data.ci_high, kpi.unit)}")
    target_text = (
        f"Target {format_value(data.target, kpi.unit)}" if data.target is not None else "No target"
    )
    children = [
        html.Div(
            [
                html.H3(kpi.label, className="card-title"),
                html.Span(
                    [symbol, " ", word],
                    className=f"card-status status-{st.value}",
                    title=f"Status: {word}",
                ),
            ],
            className="card-head",
        ),
        html.Div(value_text, className=value_class),
        html.Div(" · ".join(details), className="card-detail") if details else None,
        html.Div(note, className="card-detail card-note") if note else None,
        html.Div(
            [target_text, html.Span(f" · {format_month(data.month)}", className="card-month")],
            className="card-target",
        ),
        _deltas(data),
        dcc.Graph(
            figure=sparkline_figure(data.sparkline, kpi.unit),
            config={"staticPlot": True, "displayModeBar": False},
            className="card-sparkline",
        )
        if data.sparkline
        else None,
        how_computed(kpi),
    ]
    attributes: dict[str, Any] = {"data-kpi": kpi.id, "data-status": verdict.value}
    return html.Div(
        [c for c in children if c is not None],
        id=card_id or f"card-{kpi.id}",
        className=f"kpi-card kpi-card-{st.value}",
        **attributes,
    )
