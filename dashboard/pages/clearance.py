"""Clearance times: how long goods wait, per channel and office (WCO Time Release Study; WTO
TFA art. 7.6 asks for published averages).

Distributions per channel, median and 90th-percentile trends (red-lane tails dominate a mean),
the stage breakdown where milestones exist, the share released within X hours, the COMCEC
physical-inspection time, and the offices compared.
"""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
import polars as pl
from dash import Input, State, dcc, html
from dash.exceptions import PreventUpdate
from plotly.subplots import make_subplots

from dashboard import filters as flt
from dashboard.components import palette
from dashboard.components.figures import (
    HISTOGRAM_NOTE,
    base_layout,
    empty_figure,
    histogram_round,
    month_axis,
    percent_axis,
    stacked_bars,
    trend_figure,
    value_ticks,
)
from dashboard.components.format import format_count
from dashboard.components.layout import graph, section, stat
from dashboard.components.tables import data_table
from dashboard.data import PageContext
from dashboard.pages import _frame as frame
from kpis import catalogue, engine
from kpis.definitions import Unit
from kpis.domain import Channel
from kpis.durations import DURATIONS, RELEASE, duration
from kpis.formatting import INSUFFICIENT, format_value
from kpis.grain import period_end_day
from kpis.measures import RELEASED_WITHIN
from kpis.timecalc import DURATION_BANDS, duration_distribution

dash.register_page(
    __name__,
    path="/clearance",
    name="Clearance times",
    title="Clearance times · Customs KPI",
    order=20,
)

PAGE = "clearance"
CONTENT_ID = "clearance-content"
DOWNLOAD_ID = "clearance-download"
METRIC_ID = "clearance-metric"
CHANNEL_ORDER = list(palette.CHANNEL_ORDER)  # green, yellow, red, blue
HOURS = Unit.HOURS

# The "measured from" choice: the durations that end at release (kpis.durations).
METRICS: dict[str, str] = {d.name: d.interval.capitalize() for d in DURATIONS if d.to_release}
STAGES: dict[str, str] = {
    "stage_arrival_lodgement": "Arrival → lodgement",
    "stage_lodgement_channel": "Lodgement → channel",
    "stage_channel_result": "Channel → control result",
    "stage_result_release": "Result → release",
}


# --- Computations --------------------------------------------------------------------------------
def _period(filters: flt.PageFilters) -> tuple[Any, Any]:
    assert filters.start is not None and filters.end is not None
    return filters.start, period_end_day(filters.end)


def stats_frame(
    ctx: PageContext, filters: flt.PageFilters, by: tuple[str, ...], metric: str
) -> pl.DataFrame:
    """Count, mean, median, p90 (and open releases) per ``by`` + channel, from the engine."""
    assert ctx.cube is not None
    return engine.release_time_stats(
        ctx.cube,
        by=by,
        period=_period(filters),
        filters=ctx.kpi_filters(filters),
        metric=metric,
        min_sample=ctx.settings.min_sample,
    )


def distribution_frame(ctx: PageContext, filters: flt.PageFilters, metric: str) -> pl.DataFrame:
    """Share of releases per duration band and channel (kpis.timecalc.duration_distribution)."""
    assert ctx.cube is not None
    return duration_distribution(
        ctx.cube, metric, filters=ctx.kpi_filters(filters), period=_period(filters)
    )


def stages_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    return ctx.compute("stage_times", filters, by=("channel",))


def within_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    return ctx.compute("released_within", filters, by=("channel",))


def inspection_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    """COMCEC inspection time (red lane) by month: mean, median, p90."""
    return stats_frame(ctx, filters, ("month",), "inspection").filter(
        pl.col("channel") == Channel.RED.value
    )


def office_frame(ctx: PageContext, filters: flt.PageFilters, metric: str) -> pl.DataFrame:
    """Per office (every channel together): released, mean, median, p90, open."""
    kpi_ids = duration(metric).kpi_ids
    mean = ctx.compute(kpi_ids[0], filters, by=("office",))
    keep = [
        "office",
        pl.col("denominator").alias("released"),
        pl.col("value").alias("mean_hours"),
        pl.col("sufficient"),
    ]
    if "open" in mean.columns:
        keep.append(pl.col("open"))
    out = mean.select(keep)
    for kpi_id, name in zip(kpi_ids[1:], ("median_hours", "p90_hours"), strict=True):
        part = ctx.compute(kpi_id, filters, by=("office",)).select(
            "office", pl.col("value").alias(name)
        )
        out = out.join(part, on="office", how="left")
    return out.sort("office")


# --- Figures --------------------------------------------------------------------------------------
def distribution_graph(dist: pl.DataFrame) -> go.Figure:
    if dist.is_empty():
        return empty_figure("No release recorded for the selected filters")
    fig = go.Figure()
    labels = [label for _b, label in DURATION_BANDS]
    for channel in CHANNEL_ORDER:
        part = dist.filter(pl.col("channel") == channel)
        if part.is_empty():
            continue
        shares = dict(zip(part["bucket"].to_list(), part["share"].to_list(), strict=True))
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[shares.get(label, 0.0) for label in labels],
                name=channel,
                marker_color=palette.channel_colour(channel),
                hovertemplate=f"{channel}: %{{y:.1%}}<extra></extra>",
            )
        )
    base_layout(fig, unit=Unit.PERCENT)
    percent_axis(fig, dist["share"].to_list())
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category", title="time to release")
    return fig


def percentile_graph(stats: pl.DataFrame) -> go.Figure:
    """Median (solid) and 90th percentile (dotted) over the months, one panel per lane with
    its own hour scale (green releases in minutes, red in days: one 0–120 h axis flattened
    the quick lanes). Percentiles come from the log-bucket histogram and are drawn rounded to
    its resolution (:func:`histogram_round`), which the hover says."""
    if stats.is_empty():
        return empty_figure("No release recorded for the selected filters")
    lanes = [
        channel
        for channel in CHANNEL_ORDER
        if not (part := stats.filter(pl.col("channel") == channel)).is_empty()
        and part["count"].sum() > 0
    ]
    if not lanes:
        return empty_figure("No release recorded for the selected filters")
    fig = make_subplots(
        rows=len(lanes),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=[f"{lane} lane" for lane in lanes],
    )
    for row, channel in enumerate(lanes, start=1):
        part = stats.filter(pl.col("channel") == channel).sort("month")
        ok = part["sufficient"].to_list()
        colour = palette.channel_colour(channel)
        extent: list[float | None] = []
        for column, dash_style, label in (
            ("median_hours", "solid", "median"),
            ("p90_hours", "dot", "p90"),
        ):
            ys = [
                histogram_round(v) if good else None
                for v, good in zip(part[column].to_list(), ok, strict=True)
            ]
            extent += ys
            fig.add_trace(
                go.Scatter(
                    x=part["month"].to_list(),
                    y=ys,
                    mode="markers" if part.height == 1 else "lines+markers",
                    name=f"{channel} {label}",
                    legendgroup=channel,
                    line={"color": colour, "dash": dash_style},
                    marker={
                        "color": colour,
                        "size": 8 if part.height == 1 else 5,
                        # A lone month has no line style: the symbol tells median from p90.
                        "symbol": "circle" if label == "median" else "diamond-open",
                    },
                    hovertemplate=(
                        f"{channel} {label}: %{{y:,.3~g}} h ({HISTOGRAM_NOTE})<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(title="hours", row=row, col=1, **value_ticks(HOURS, extent, 3))
    base_layout(fig, height=max(260, 150 * len(lanes) + 60))
    fig.update_annotations(font={"size": 12, "color": palette.MUTED})
    month_axis(fig, stats["month"].to_list())
    return fig


def stages_graph(stages: pl.DataFrame) -> go.Figure:
    shown = stages.filter(pl.col("sufficient")).with_columns(
        pl.col("component").replace_strict(STAGES, default=pl.col("component")).alias("stage")
    )
    fig = stacked_bars(
        shown,
        x="channel",
        series="stage",
        unit=HOURS,
        horizontal=True,
        order=list(STAGES.values()),
        colour_of=lambda stage: palette.stage_colour(list(STAGES.values()).index(stage)),
        categories=CHANNEL_ORDER,
        height=280,
    )
    fig.update_xaxes(title="mean hours")
    return fig


def within_graph(within: pl.DataFrame) -> go.Figure:
    if within.is_empty():
        return empty_figure("No release recorded for the selected filters")
    hours = {kpi_id: h for h, kpi_id in RELEASED_WITHIN}
    frame_ = within.with_columns(
        pl.col("component").replace_strict(hours, return_dtype=pl.Int64).alias("hours")
    )
    fig = go.Figure()
    for channel in CHANNEL_ORDER:
        part = frame_.filter(pl.col("channel") == channel, pl.col("sufficient")).sort("hours")
        if part.is_empty():
            continue
        fig.add_trace(
            go.Scatter(
                x=[f"{h} h" for h in part["hours"].to_list()],
                y=part["value"].to_list(),
                mode="lines+markers",
                name=channel,
                line={"color": palette.channel_colour(channel), "width": 2},
                hovertemplate=f"{channel}: %{{y:.1%}}<extra></extra>",
            )
        )
    base_layout(fig, unit=Unit.PERCENT)
    fig.update_yaxes(range=[0, 1.02])
    fig.update_xaxes(type="category", title="released within")
    return fig


def inspection_graph(insp: pl.DataFrame) -> go.Figure:
    rows = []
    for column, label in (
        ("mean_hours", "mean"),
        ("median_hours", "median"),
        ("p90_hours", "90th percentile"),
    ):
        rows.append(
            insp.select(
                "month",
                pl.col(column).alias("value"),
                "sufficient",
                pl.lit(label).alias("statistic"),
            )
        )
    long = pl.concat(rows) if rows else pl.DataFrame()
    if insp.is_empty() or insp["count"].sum() == 0:
        return empty_figure("No timed physical inspection for the selected filters")
    fig = trend_figure(long, unit=HOURS, x="month", series="statistic")
    fig.update_yaxes(title="hours")
    return fig


def _office_table(offices: pl.DataFrame, min_sample: int) -> Any:
    if offices.is_empty():
        return frame.no_data_rows()
    rows = []
    for r in offices.iter_rows(named=True):
        ok = bool(r["sufficient"])
        rows.append(
            {
                "Office": r["office"],
                "Released": format_count(r["released"]),
                "Still open": format_count(r.get("open")) if "open" in r else "–",
                "Mean": format_value(r["mean_hours"], HOURS) if ok else INSUFFICIENT,
                "Median": format_value(histogram_round(r["median_hours"]), HOURS) if ok else "–",
                "90th percentile": format_value(histogram_round(r["p90_hours"]), HOURS)
                if ok
                else "–",
            }
        )
    return data_table(rows, numeric={"Released", "Still open", "Mean", "Median", "90th percentile"})


# --- Layout and callbacks ------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    metric = query.get("metric") if query.get("metric") in METRICS else RELEASE.name
    return frame.page_layout(
        PAGE,
        title="Clearance times",
        intro="How long declarations wait from lodgement (or arrival) to release, per channel "
        "and office. Median and 90th percentile, because red-lane tails dominate a mean.",
        query=query,
        content_id=CONTENT_ID,
        controls=[
            flt.labelled(
                "Measured from",
                dcc.RadioItems(
                    id=METRIC_ID,
                    options=[{"label": v, "value": k} for k, v in METRICS.items()],
                    value=metric,
                    inline=True,
                    className="radio-inline",
                ),
            )
        ],
    )


def content(ctx: PageContext, filters: flt.PageFilters, metric: str) -> Any:
    stats = stats_frame(ctx, filters, ("month",), metric)
    overall = stats_frame(ctx, filters, (), metric)
    min_sample = ctx.settings.min_sample
    summary = []
    for r in overall.sort("channel").iter_rows(named=True):
        if not r["count"]:
            continue
        ok = bool(r["sufficient"])
        summary.append(
            stat(
                f"{r['channel'].capitalize()} lane",
                format_value(histogram_round(r["median_hours"]), HOURS) if ok else INSUFFICIENT,
                "median · p90 "
                f"{format_value(histogram_round(r['p90_hours']), HOURS) if ok else '–'} · "
                f"{format_count(r['count'])} released, {format_count(r.get('open'))} open",
            )
        )
    kpi = catalogue.get
    release_kpis = [kpi("release_time_median"), kpi("release_time_p90")]
    return [
        # Drawn with the CSV buttons that use it: a callback whose output is already on the
        # page runs once for nothing (a round trip) every time its buttons are drawn.
        dcc.Download(id=DOWNLOAD_ID),
        section(
            "Per channel over the period",
            html.Div(summary, className="stat-list"),
            page=PAGE,
            view="summary",
            wide=True,
            note="Median time to release; the 90th percentile, releases and still-open "
            "declarations below it.",
        ),
        html.Div(
            [
                section(
                    "Median and 90th percentile by month",
                    # A click on a lane's line filters the page to that lane.
                    graph(
                        flt.tag_lanes(percentile_graph(stats)),
                        flt.cross_filter_id("channel", "percentiles"),
                    ),
                    page=PAGE,
                    view="percentiles",
                    wide=True,
                    kpis=release_kpis,
                    note=f"Months with fewer than {min_sample} releases in a channel are not "
                    "plotted. Percentiles within 1 % (merged histogram).",
                ),
                section(
                    "Distribution per channel",
                    graph(distribution_graph(distribution_frame(ctx, filters, metric))),
                    page=PAGE,
                    view="distribution",
                    note="Share of each channel's releases in each duration band.",
                ),
                section(
                    "Released within X hours",
                    graph(
                        flt.tag_lanes(within_graph(within_frame(ctx, filters))),
                        flt.cross_filter_id("channel", "within"),
                    ),
                    page=PAGE,
                    view="within",
                    kpis=[kpi("released_within")],
                ),
                section(
                    "Stage breakdown (mean hours)",
                    graph(stages_graph(stages_frame(ctx, filters))),
                    page=PAGE,
                    view="stages",
                    kpis=[kpi("stage_times")],
                    note="Only where the milestones are recorded.",
                ),
                section(
                    "Physical inspection time (red lane)",
                    graph(inspection_graph(inspection_frame(ctx, filters))),
                    page=PAGE,
                    view="inspection",
                    kpis=[kpi("inspection_time")],
                ),
                section(
                    "By office",
                    _office_table(office_frame(ctx, filters, metric), min_sample),
                    page=PAGE,
                    view="offices",
                    wide=True,
                    kpis=[kpi(duration(metric).mean_kpi)],
                ),
            ],
            className="panel-grid",
        ),
    ]


def _metric(raw: Any) -> str:
    return raw if raw in METRICS else RELEASE.name


update_content = frame.content_callback(
    __name__,
    CONTENT_ID,
    lambda ctx, filters, metric: content(ctx, filters, _metric(metric)),
    Input(METRIC_ID, "value"),
)


def download_frame(
    ctx: PageContext, filters: flt.PageFilters, view: str, metric: str
) -> pl.DataFrame:
    match view:
        case "summary":
            return stats_frame(ctx, filters, (), metric)
        case "percentiles":
            return stats_frame(ctx, filters, ("month",), metric)
        case "distribution":
            return distribution_frame(ctx, filters, metric).drop("bucket_order")
        case "within":
            return within_frame(ctx, filters)
        case "stages":
            return stages_frame(ctx, filters)
        case "inspection":
            return inspection_frame(ctx, filters)
        case "offices":
            return office_frame(ctx, filters, metric)
    raise PreventUpdate


download = frame.download_callback(
    __name__,
    PAGE,
    DOWNLOAD_ID,
    lambda ctx, filters, view, metric: (
        download_frame(ctx, filters, view, _metric(metric)),
        f"{PAGE}-{view}",
    ),
    State(METRIC_ID, "value"),
)
