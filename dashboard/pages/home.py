"""Overview (management): is risk management working this month?

Cards for the selected month (the filter bar's "to" month) with target, status, month-on-month
and year-on-year deltas and a sparkline; below them the trend of any card's KPI over the
period, the channel mix and the detections by selection source.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import dash
import polars as pl
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from appstate.roles import Role
from dashboard import filters as flt
from dashboard.components import palette
from dashboard.components.cards import CardData, card_status, kpi_card
from dashboard.components.download import download_button
from dashboard.components.figures import add_reference_line, stacked_bars, trend_figure
from dashboard.components.format import format_month
from dashboard.components.layout import graph, section
from dashboard.data import PageContext, guarded
from dashboard.pages import _frame as frame
from kpis import catalogue
from kpis.definitions import Unit
from kpis.domain import Channel, SelectionSource
from kpis.formatting import format_value
from kpis.grain import add_months
from kpis.stats import delta
from kpis.summary import Summary, lift_text, month_summary, summary_sentences
from kpis.summary import ignores_channel as channel_free
from kpis.targets import status_label

dash.register_page(__name__, path="/", name="Overview", title="Overview · Customs KPI", order=0)
# The filters → address bar sync, shared by every page (registered once per app, from here).
flt.register_url_sync()

PAGE = "overview"
CONTENT_ID = "overview-content"
TREND_KPI_ID = "overview-trend-kpi"
TREND_GRAPH_ID = "overview-trend-graph"
TREND_BOX_ID = "overview-trend-box"
TREND_STORE = "overview-trend-pick"  # the picked KPI survives a filter change
CARDS_ID = "overview-cards"
SUMMARY_ID = "overview-summary"
DOWNLOAD_ID = "overview-download"

# The headline KPIs, declared once in the catalogue: the monthly report shows the same list.
CARD_KPIS: tuple[str, ...] = catalogue.HEADLINE_KPIS
DEFAULT_TREND = "hit_rate"
CHANNEL_NOTE = "All channels: a share across channels, the channel filter does not apply."
SPARK_MONTHS = 13  # the selected month and the twelve before: sparkline and year-on-year


# --- Computations (what a chart shows and what its CSV contains) -----------------------------
def ignores_channel(kpi_id: str, filters: flt.PageFilters) -> bool:
    """A share across channels under a channel filter (:func:`kpis.summary.ignores_channel`):
    its card shows every channel and says so, as the summary band judges it."""
    return filters.channel is not None and channel_free(kpi_id)


def card_frame(ctx: PageContext, filters: flt.PageFilters, kpi_id: str) -> pl.DataFrame:
    """The KPI by month over the 13 months up to the selected month."""
    assert filters.end is not None
    span = (add_months(filters.end, -(SPARK_MONTHS - 1)), filters.end)
    if ignores_channel(kpi_id, filters):
        return ctx.compute(kpi_id, filters, by=("month",), period=span, channels=())
    return ctx.compute(kpi_id, filters, by=("month",), period=span)


def scoped_query(ctx: PageContext, filters: flt.PageFilters) -> str:
    """The filters as a query string with the offices the user may see (never echoes offices
    outside their scope into a link)."""
    offices = ctx.office_filter(filters) or tuple(ctx.viewer.offices or ())
    return flt.to_query(replace(filters, offices=offices))


def summary_facts(ctx: PageContext, filters: flt.PageFilters) -> Summary:
    """The summary band's facts (:func:`kpis.summary.month_summary`, the report cover's too)."""
    assert ctx.cube is not None and filters.end is not None
    return month_summary(
        ctx.cube,
        filters.end,
        ctx.settings.flag_config(),
        filters=ctx.kpi_filters(filters),
        min_sample=ctx.settings.min_sample,
    )


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tile(
    label: str, value: str, detail: str, tone: str, tile_id: str, link: Any = None
) -> html.Div:
    children = [
        html.Div(html.H3(label, className="card-title"), className="card-head"),
        html.Div(value, className="card-value"),
        html.Div(detail, className="card-detail"),
    ]
    return html.Div(
        [*children, link] if link is not None else children,
        id=tile_id,
        className=f"summary-tile kpi-card kpi-card-{tone}",
    )


_LABEL: dict[str, Any] = {"aria-label": "Summary of the month"}


def summary_band(facts: Summary, filters: flt.PageFilters, link_query: str = "") -> html.Section:
    """Is it working, what got worse? Four tiles and the same sentences as the report cover."""
    off = len(facts.off_target)
    n_flagged, n_worse = len(facts.flagged), len(facts.deteriorating)
    lift_tone = (
        "none"
        if facts.lift is None or not facts.lift_sufficient
        else "good"
        if facts.lift_significant
        else "bad"
        if facts.lift_high is not None and facts.lift_high <= 1
        else "warn"
    )
    lift_value = (
        format_value(facts.lift, catalogue.get("selection_lift").unit)
        if facts.lift is not None and facts.lift_sufficient
        else "—"
    )
    tiles = [
        _tile(
            "Off target",
            f"{off} of {facts.judged}",
            "headline KPIs with a target"
            + (f" · {len(facts.near_target)} near" if facts.near_target else ""),
            "bad" if off else "good",
            "summary-off-target",
        ),
        _tile(
            "Significant deteriorations",
            str(n_worse),
            "profiles whose hit rate fell significantly"
            + (f": {', '.join(facts.deteriorating)}" if facts.deteriorating else ""),
            "bad" if n_worse else "good",
            "summary-deteriorations",
        ),
        _tile(
            "Lift over random",
            lift_value,
            _sentence_case(lift_text(facts)),
            lift_tone,
            "summary-lift",
        ),
        _tile(
            "Profiles flagged",
            str(n_flagged),
            f"{facts.severity:,.0f} inspections wasted (severity, last "
            f"{facts.recent_months} months)",
            "bad" if n_flagged else "good",
            "summary-flagged",
            dcc.Link(
                "See them, costliest first →",
                href="/profiles" + link_query,
                className="card-link",
            )
            if n_flagged
            else None,
        ),
    ]
    notes = []
    if filters.channel is not None:
        notes.append(
            "The lift compares with random controls of every channel (the baseline ignores "
            "the channel filter)."
        )
    return html.Section(
        [
            html.H2(f"This month · {format_month(filters.end)}", className="section-title"),
            html.Div(tiles, className="card-grid"),
            html.Ul([html.Li(t) for t in summary_sentences(facts)], className="summary-text"),
            *(html.P(n, className="section-note") for n in notes),
        ],
        id=SUMMARY_ID,
        className="summary-band",
        **_LABEL,
    )


def _row(frame: pl.DataFrame, month: date) -> dict[str, Any] | None:
    rows = frame.filter(pl.col("month") == month).to_dicts()
    return rows[0] if rows else None


def _shown(row: dict[str, Any] | None) -> float | None:
    """The value a reader may compare: None when missing or below the minimum sample."""
    if row is None or row.get("value") is None or row.get("sufficient") is False:
        return None
    return float(row["value"])


def card_data(ctx: PageContext, filters: flt.PageFilters, kpi_id: str) -> CardData:
    assert filters.end is not None
    kpi = catalogue.get(kpi_id)
    frame = card_frame(ctx, filters, kpi_id)
    current = _row(frame, filters.end)
    value = _shown(current)
    mom, _ = delta(value, _shown(_row(frame, add_months(filters.end, -1))))
    yoy, _ = delta(value, _shown(_row(frame, add_months(filters.end, -12))))
    spark = tuple((row["month"], _shown(row)) for row in frame.sort("month").to_dicts())
    return CardData(
        kpi=kpi,
        month=filters.end,
        value=None if current is None else current.get("value"),
        numerator=None if current is None else current.get("numerator"),
        denominator=None if current is None else current.get("denominator"),
        ci_low=None if current is None else current.get("ci_low"),
        ci_high=None if current is None else current.get("ci_high"),
        sufficient=True if current is None else bool(current.get("sufficient", True)),
        target=kpi.default_target,
        mom_delta=mom,
        yoy_delta=yoy,
        sparkline=spark,
    )


def trend_frame(ctx: PageContext, filters: flt.PageFilters, kpi_id: str) -> pl.DataFrame:
    return ctx.compute(kpi_id, filters, by=("month",))


def channel_mix_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    # The channel filter would make the mix 100 % of one channel: the mix ignores it.
    return ctx.compute("channel_rates", filters, by=("month", "channel"), channels=())


def detections_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    return ctx.compute("detection_share", filters, by=("month", "selection_source"))


# --- Figures -----------------------------------------------------------------------------------
def trend_graph(frame: pl.DataFrame, kpi_id: str) -> Any:
    kpi = catalogue.get(kpi_id)
    fig = trend_figure(frame, unit=kpi.unit, x="month", band=kpi.is_rate, name=kpi.label)
    add_reference_line(fig, kpi.default_target, "Target", kpi.unit)
    return fig


def channel_mix_graph(frame: pl.DataFrame) -> Any:
    return stacked_bars(
        frame,
        x="month",
        series="channel",
        unit=catalogue.get("channel_rates").unit,
        colour_of=palette.channel_colour,
        order=[c.value for c in Channel],
    )


def detections_graph(frame: pl.DataFrame) -> Any:
    # Counts (the share's numerator), stacked: a month with few detections still shows what
    # found them, where a share would be "insufficient data".
    return stacked_bars(
        frame,
        x="month",
        series="selection_source",
        y="numerator",
        unit=Unit.COUNT,
        colour_of=palette.source_colour,
        order=[s.value for s in SelectionSource],
    )


# --- Layout ------------------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    return frame.page_layout(
        PAGE,
        title="Overview",
        intro="Is risk management working this month? Headline KPIs for the selected month, "
        "against their targets, with the trend behind them.",
        query=query,
        content_id=CONTENT_ID,
        extra=[
            dcc.Store(
                id=TREND_STORE, data=flt.choice_param(query.get("trend"), CARD_KPIS, DEFAULT_TREND)
            ),
            flt.view_param("trend", DEFAULT_TREND),
        ],
    )


# The trend KPI picked is the URL's ``trend`` (a reload or a shared link shows the same trend).
flt.sync_view_param("trend", TREND_STORE, "data")


def content(
    ctx: PageContext, filters: flt.PageFilters, trend_kpi: str = DEFAULT_TREND
) -> list[Any]:
    trend_kpi = trend_kpi if trend_kpi in CARD_KPIS else DEFAULT_TREND
    data = [card_data(ctx, filters, k) for k in CARD_KPIS]
    cards = [
        kpi_card(d, note=CHANNEL_NOTE if ignores_channel(d.kpi.id, filters) else None) for d in data
    ]
    month = format_month(filters.end)
    options = [{"label": catalogue.get(k).label, "value": k} for k in CARD_KPIS]
    trend_body = html.Div(
        [
            dcc.Dropdown(
                id=TREND_KPI_ID,
                options=options,
                value=trend_kpi,
                clearable=False,
                className="inline-select",
                searchable=False,
            ),
            html.Div(
                graph(
                    trend_graph(trend_frame(ctx, filters, trend_kpi), trend_kpi),
                    TREND_GRAPH_ID,
                ),
                id=TREND_BOX_ID,
            ),
        ]
    )
    return [
        # Drawn with the CSV buttons that use it: a callback whose output is already on the
        # page runs once for nothing (a round trip) every time its buttons are drawn.
        dcc.Download(id=DOWNLOAD_ID),
        summary_band(summary_facts(ctx, filters), filters, scoped_query(ctx, filters)),
        html.Div(
            [
                html.H2(f"Headline KPIs · {month}", className="section-title"),
                html.Div(download_button(PAGE, "cards"), className="section-tools"),
            ],
            className="section-head cards-head",
        ),
        html.Div(cards, className="card-grid", id=CARDS_ID),
        html.Div(
            [
                section(
                    "Trend over the period",
                    trend_body,
                    page=PAGE,
                    view="trend",
                    wide=True,
                    note="Pick a KPI. Shaded: 95 % interval; gaps: months below the minimum "
                    "sample.",
                ),
                section(
                    "Channel mix",
                    graph(channel_mix_graph(channel_mix_frame(ctx, filters))),
                    page=PAGE,
                    view="channel-mix",
                    kpis=[catalogue.get("channel_rates")],
                    note=(
                        "Ignores the channel filter: the mix shows every channel's share (one "
                        "channel alone would be 100 %)."
                        if filters.channel is not None
                        else None
                    ),
                ),
                section(
                    "Detections by selection source",
                    graph(detections_graph(detections_frame(ctx, filters))),
                    page=PAGE,
                    view="detections",
                    kpis=[catalogue.get("detection_share")],
                    note="Irregularities found, by what selected the declaration: what random "
                    "and officer selection find that profiles miss.",
                ),
            ],
            className="panel-grid",
        ),
    ]


update_content = frame.content_callback(
    __name__,
    CONTENT_ID,
    lambda ctx, filters, trend_kpi=None: content(ctx, filters, str(trend_kpi or DEFAULT_TREND)),
    State(TREND_STORE, "data"),
)


@callback(
    Output(TREND_BOX_ID, "children"),
    Output(TREND_STORE, "data"),
    Input(TREND_KPI_ID, "value"),
    *frame.filter_states(),
    State(TREND_STORE, "data"),
    prevent_initial_call=True,
)
@guarded(Role.VIEWER, on_error=frame.error_then_no_update)
def update_trend(
    ctx: PageContext,
    kpi_id: str,
    start: Any,
    end: Any,
    offices: Any,
    channel: Any,
    shown: Any = None,
) -> tuple[Any, str]:
    # Dash runs this when the content draws the picker (the store's output is outside the
    # content), but the content drew the picked KPI's trend already: nothing to redo.
    if kpi_id == shown:
        raise PreventUpdate
    filters = frame.filters_for(ctx, start, end, offices, channel)
    if filters is None or kpi_id not in CARD_KPIS:
        raise PreventUpdate
    figure = trend_graph(trend_frame(ctx, filters, kpi_id), kpi_id)
    return graph(figure, TREND_GRAPH_ID), kpi_id


def cards_frame(cards: list[CardData]) -> pl.DataFrame:
    """The cards as rows: what each card shows, with its parts, target and deltas."""
    return pl.DataFrame(
        [
            {
                "kpi": d.kpi.id, "label": d.kpi.label, "month": d.month, "unit": d.kpi.unit.value,
                "value": d.value if d.sufficient else None, "numerator": d.numerator,
                "denominator": d.denominator, "ci_low": d.ci_low, "ci_high": d.ci_high,
                "sufficient": d.sufficient, "target": d.target,
                "status": status_label(card_status(d)),
                "mom_delta": d.mom_delta, "yoy_delta": d.yoy_delta,
            }
            for d in cards
        ],
        schema_overrides={"numerator": pl.Float64, "denominator": pl.Float64,
                          "ci_low": pl.Float64, "ci_high": pl.Float64, "target": pl.Float64,
                          "value": pl.Float64, "mom_delta": pl.Float64,
                          "yoy_delta": pl.Float64},
    )  # fmt: skip


def download_frame(
    ctx: PageContext, filters: flt.PageFilters, view: str, trend_kpi: str | None
) -> pl.DataFrame:
    if view == "cards":
        return cards_frame([card_data(ctx, filters, k) for k in CARD_KPIS])
    if view == "trend":
        kpi_id = trend_kpi if trend_kpi in CARD_KPIS else DEFAULT_TREND
        return trend_frame(ctx, filters, kpi_id).with_columns(pl.lit(kpi_id).alias("kpi"))
    if view == "channel-mix":
        return channel_mix_frame(ctx, filters)
    if view == "detections":
        return detections_frame(ctx, filters)
    raise PreventUpdate


download = frame.download_callback(
    __name__,
    PAGE,
    DOWNLOAD_ID,
    lambda ctx, filters, view, trend_kpi: (
        download_frame(ctx, filters, view, trend_kpi),
        f"{PAGE}-{view}",
    ),
    State(TREND_KPI_ID, "value"),
)
