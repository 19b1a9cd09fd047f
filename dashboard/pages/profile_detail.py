"""Profile detail (``/profiles/<profile_id>``): what one profile finds, and what happened after
each change made to it.

Hit-rate trend with its 95 % interval and the random baseline, every change-log entry drawn on
the timeline, before/after per change, volume and revenue, breakdowns by office and offence
type, the profiles it fires together with, and (analysts) the latest controlled declarations.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any
from urllib.parse import quote, unquote

import dash
import plotly.graph_objects as go
import polars as pl
from dash import Input, Output, State, callback, dcc, html
from dash import ctx as dash_ctx
from dash.exceptions import PreventUpdate
from flask import has_request_context, request

from appstate.audit import Actor
from appstate.review import ReviewError, store_for, timeline_events
from appstate.review import State as ReviewState
from appstate.roles import Role
from dashboard import filters as flt
from dashboard.components import palette, states
from dashboard.components.figures import (
    add_events,
    bar_figure,
    base_layout,
    count_axis,
    empty_figure,
    masked_values,
    month_axis,
    trend_figure,
    value_axis,
)
from dashboard.components.format import (
    format_count,
    format_p_value,
    format_timestamp,
)
from dashboard.components.layout import graph, section, stat
from dashboard.components.tables import data_table
from dashboard.data import PageContext, guarded
from dashboard.pages import _frame as frame
from dashboard.pages._profile_facts import (
    PAGE_SIZE,
    declarations_frame,
    offence_frame,
    overlap_frame,
)
from kpis import catalogue
from kpis.beforeafter import verdict_label
from kpis.definitions import Unit
from kpis.formatting import INSUFFICIENT, format_interval, format_value
from kpis.grain import period_end_day
from kpis.profiles import (
    change_impact,
    profile_breakdown,
    profile_monthly,
    profile_table,
)

dash.register_page(
    __name__,
    path_template="/profiles/<profile_id>",
    name="Profile",
    title="Profile · Customs KPI",
    order=11,
    nav=False,
)

log = logging.getLogger(__name__)

PAGE = "profile"
CONTENT_ID = "profile-content"
PROFILE_STORE = "profile-id"
DOWNLOAD_ID = "profile-download"
DECL_TABLE_ID = "profile-declarations"
DECL_PAGE_STORE = "profile-declarations-page"
DECL_PREV_ID = "profile-declarations-prev"
DECL_NEXT_ID = "profile-declarations-next"
ADD_REVIEW_ID = "profile-add-review"
ADD_REVIEW_MESSAGE = "profile-add-review-message"

PCT = Unit.PERCENT


# --- Computations --------------------------------------------------------------------------------
def _period(filters: flt.PageFilters) -> tuple[date, date]:
    assert filters.start is not None and filters.end is not None
    return filters.start, period_end_day(filters.end)


def known(ctx: PageContext, profile_id: str) -> bool:
    assert ctx.cube is not None
    return bool(
        ctx.cube.register.filter(pl.col("profile_id") == profile_id).height
        or ctx.cube.profiles.filter(pl.col("profile_id") == profile_id).height
    )


def summary_row(ctx: PageContext, filters: flt.PageFilters, profile_id: str) -> dict[str, Any]:
    assert ctx.cube is not None
    table = profile_table(
        ctx.cube,
        period=_period(filters),
        flag_config=ctx.settings.flag_config(),
        filters=ctx.kpi_filters(filters, profiles=(profile_id,)),  # this profile's row only
    ).filter(pl.col("profile_id") == profile_id)
    return table.to_dicts()[0] if table.height else {}


def monthly_frame(ctx: PageContext, filters: flt.PageFilters, profile_id: str) -> pl.DataFrame:
    """Per month: volume, controls, hits, revenue, hit rate with interval, random baseline,
    lift; ``sufficient`` marks months with the minimum sample of the profile's controls,
    ``baseline_sufficient`` those of random controls (same months and offices)."""
    assert ctx.cube is not None
    monthly = profile_monthly(ctx.cube, profile_id, _period(filters), ctx.kpi_filters(filters))
    # The baseline's scope is the offices only (kpis.lift.random_baseline): same here.
    baseline = ctx.compute("random_hit_rate", filters, by=("month",), channels=()).select(
        "month", pl.col("sufficient").alias("baseline_sufficient")
    )
    return monthly.with_columns(
        (pl.col("controlled") >= ctx.settings.min_sample).alias("sufficient")
    ).join(baseline, on="month", how="left")


def changes_frame(ctx: PageContext, filters: flt.PageFilters, profile_id: str) -> pl.DataFrame:
    assert ctx.cube is not None
    config = ctx.settings.flag_config()  # the rule set's window: the flags' own verdicts
    return change_impact(
        ctx.cube,
        profile_id,
        months=config.change_window_months,
        filters=ctx.kpi_filters(filters),
        min_sample=config.n_min,
        # The committee's decisions have their before/after too (too early to tell at first).
        decisions=store_for(ctx.settings.app_db_path).decisions_frame(profile_id),
    )


def office_frame(ctx: PageContext, filters: flt.PageFilters, profile_id: str) -> pl.DataFrame:
    assert ctx.cube is not None
    return profile_breakdown(
        ctx.cube, profile_id, "office_code", _period(filters), ctx.kpi_filters(filters)
    ).with_columns((pl.col("controlled") >= ctx.settings.min_sample).alias("sufficient"))


# --- Figures --------------------------------------------------------------------------------------
def trend_graph(monthly: pl.DataFrame, changes: pl.DataFrame) -> go.Figure:
    shown = monthly.select(
        "month", pl.col("hit_rate").alias("value"), "ci_low", "ci_high", "sufficient"
    )
    fig = trend_figure(shown, unit=PCT, x="month", band=True, name="Hit rate", height=360)
    if monthly.height:
        fig.add_trace(
            go.Scatter(
                x=monthly["month"].to_list(),
                y=masked_values(
                    monthly.select(
                        pl.col("random_hit_rate").alias("value"),
                        pl.col("baseline_sufficient").fill_null(False).alias("sufficient"),
                    )
                ),
                mode="markers" if monthly.height == 1 else "lines",
                name="Random baseline",
                line={"color": palette.ORANGE, "dash": "dash", "width": 2},
                hovertemplate="random: %{y:.2%}<extra></extra>",
            )
        )
        months: list[date] = monthly["month"].to_list()
        # The baseline shares the month axis and the value scale with the hit rate.
        month_axis(fig, months)
        value_axis(
            fig,
            PCT,
            [*masked_values(shown), *masked_values(shown, "ci_high"), *fig.data[-1].y],
        )
        first, last = months[0], period_end_day(months[-1])
        events = [
            (row["changed_at"], f"{row['change_type']}: {row['summary'] or ''}".strip(": "))
            for row in changes.iter_rows(named=True)
            if first <= row["changed_at"].date() <= last
        ]
        add_events(fig, events)
    return fig


def volume_graph(monthly: pl.DataFrame) -> go.Figure:
    if monthly.is_empty():
        return empty_figure("No data for the selected filters")
    fig = go.Figure()
    for column, name, colour in (
        ("declarations", "Declarations selected", palette.SKY_BLUE),
        ("controlled", "Controls completed", palette.BLUE),
    ):
        fig.add_trace(
            go.Bar(
                x=monthly["month"].to_list(),
                y=monthly[column].to_list(),
                name=name,
                marker_color=colour,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=monthly["month"].to_list(),
            y=monthly["revenue"].to_list(),
            name="Revenue",
            yaxis="y2",
            mode="lines+markers",
            line={"color": palette.BLUISH_GREEN, "width": 2},
        )
    )
    base_layout(fig, unit=Unit.COUNT)
    fig.update_layout(
        barmode="group",
        yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "title": "revenue"},
    )
    month_axis(fig, monthly["month"].to_list())
    count_axis(fig, monthly["declarations"].to_list() + monthly["controlled"].to_list())
    return value_axis(fig, Unit.CURRENCY, monthly["revenue"].to_list(), axis="y2")


def profile_href(profile_id: str, query: str = "") -> str:
    return f"/profiles/{quote(profile_id, safe='')}{query}"


# --- Layout ------------------------------------------------------------------------------------
def layout(profile_id: str | None = None, **query: Any) -> html.Div:
    # Ids may hold spaces or slashes: links quote them (profile_href), the path arrives quoted.
    pid = unquote(profile_id or "").strip()
    return frame.page_layout(
        PAGE,
        title=f"Profile {pid}" if pid else "Profile",
        intro="Does this profile find more than random selection, and what happened after each "
        "change made to it?",
        query=query,
        content_id=CONTENT_ID,
        extra=[dcc.Store(id=PROFILE_STORE, data=pid)],
    )


def _p_text(p: float | None) -> str:
    text = format_p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def summary_block(row: dict[str, Any], min_sample: int) -> html.Div:
    ok = bool(row.get("sufficient"))
    insufficient = f"{INSUFFICIENT} (< {min_sample} controls)"
    rate = format_value(row.get("hit_rate"), PCT) if ok else insufficient
    interval = format_interval(row.get("ci_low"), row.get("ci_high"), PCT) if ok else None
    lift = format_value(row.get("lift"), Unit.RATIO) if ok else "–"
    reasons = row.get("flag_reasons") or []
    severity = row.get("severity")
    register = " · ".join(
        part
        for part in (
            row.get("name"),
            f"status {row.get('status')}",
            row.get("risk_area"),
            f"target channel {row['target_channel']}" if row.get("target_channel") else None,
        )
        if part
    )
    return html.Div(
        [
            html.P(register, className="page-intro"),
            html.Div(
                [
                    stat("Selected", format_count(row.get("declarations"))),
                    stat("Controls", format_count(row.get("controlled"))),
                    stat("Hits", format_count(row.get("irregular"))),
                    stat("Hit rate", rate, f"95 % CI {interval}" if interval else None),
                    stat(
                        "Lift over random",
                        lift,
                        _p_text(row.get("p_value")) if ok else None,
                    ),
                    stat(
                        "Revenue per control",
                        format_value(row.get("revenue_per_control"), Unit.CURRENCY) if ok else "–",
                    ),
                    stat(
                        "Inspections only it selects",
                        format_count(row.get("sole_controlled")),
                        f"{format_count(row.get('sole_irregular'))} hits at risk if retired",
                    ),
                ],
                className="stat-list",
            ),
            html.Div(
                [
                    html.Strong("Flags: "),
                    *(html.Span(r, className="flag badge badge-warn") for r in reasons),
                    *(
                        [
                            html.Span(
                                f"wasted inspections: {format_count(severity)}", className="badge"
                            )
                        ]
                        if severity is not None
                        else []
                    ),
                ]
                if reasons
                else [
                    html.Span(
                        "No underperformance flag over the rules' evidence window.",
                        className="muted",
                    )
                ],
            ),
            *(html.P(n, className="muted notice-undecided") for n in row.get("notices") or []),
        ]
    )


def _changes_table(changes: pl.DataFrame, min_sample: int) -> Any:
    """Before/after per change. A side with fewer than ``min_sample`` controls shows no rate
    (and the comparison no delta): three hits in four controls is not "75 %"."""
    if changes.is_empty():
        return states.no_rows(
            "No entry in the change log and no review decision for this profile.", hint=None
        )
    insufficient = INSUFFICIENT

    def rate(value: float | None, controls: int) -> str:
        return insufficient if controls < min_sample else format_value(value, PCT)

    rows = []
    for r in changes.iter_rows(named=True):
        judged = min(r["controlled_before"], r["controlled_after"]) >= min_sample
        rows.append(
            {
                "When": format_timestamp(r["changed_at"]),
                "Change": r["change_type"],
                "From": "review decision" if r["source"] == "decision" else "change log",
                "What": r["summary"] or "",
                "Hit rate before": rate(r["hit_rate_before"], r["controlled_before"]),
                "Controls before": format_count(r["controlled_before"]),
                "Hit rate after": rate(r["hit_rate_after"], r["controlled_after"]),
                "Controls after": format_count(r["controlled_after"]),
                "Change in hit rate": f"{r['delta'] * 100:+.1f} pp"
                if judged and r["delta"] is not None
                else "–",
                "p-value": format_p_value(r["p_value"]) if judged else "–",
                "Verdict": verdict_label(r["verdict"]),
            }
        )
    return data_table(
        rows,
        numeric={
            "Hit rate before",
            "Controls before",
            "Hit rate after",
            "Controls after",
            "Change in hit rate",
            "p-value",
        },
    )


def _office_graph(offices: pl.DataFrame) -> go.Figure:
    shown = offices.select(
        pl.col("office_code"),
        pl.col("hit_rate").alias("value"),
        "ci_low",
        "ci_high",
        "sufficient",
    )
    return bar_figure(
        shown,
        category="office_code",
        unit=PCT,
        error=True,
        height=max(220, 40 * offices.height + 80),
    )


def content(ctx: PageContext, filters: flt.PageFilters, profile_id: str) -> Any:
    if not profile_id or not known(ctx, profile_id):
        return states.no_rows(
            f"There is no profile “{profile_id}” in the published data.",
            hint="Open the Profiles page to see every profile.",
        )
    row = summary_row(ctx, filters, profile_id)
    monthly = monthly_frame(ctx, filters, profile_id)
    changes = changes_frame(ctx, filters, profile_id)
    offices = office_frame(ctx, filters, profile_id)
    offences = offence_frame(ctx, filters, profile_id)
    overlaps = overlap_frame(ctx, filters, profile_id)
    hit_kpi = catalogue.get("hit_rate")
    sections = [
        section(
            "Hit rate, interval and random baseline",
            graph(_with_decisions(ctx, trend_graph(monthly, changes), monthly, profile_id)),
            page=PAGE,
            view="trend",
            kpis=[hit_kpi, catalogue.get("lift"), catalogue.get("random_hit_rate")],
            wide=True,
            note="Shaded: 95 % interval. Dashed: the random hit rate of the same months and "
            "offices. Dotted lines: change-log entries. Months with fewer than "
            f"{ctx.settings.min_sample} controls are not plotted.",
        ),
        section(
            f"Before and after each change ({ctx.settings.flag_change_window_months} months "
            "each side)",
            _changes_table(changes, ctx.settings.min_sample),
            page=PAGE,
            view="changes",
            wide=True,
            note="The month of the change is left out (it mixes both). p-value: "
            "two-proportion test, Fisher's exact test for small counts.",
        ),
        section("Volume and revenue", graph(volume_graph(monthly)), page=PAGE, view="monthly"),
        section("Hit rate by office", graph(_office_graph(offices)), page=PAGE, view="offices"),
        section(
            "Hits by offence type",
            graph(
                bar_figure(
                    offences,
                    category="offence_type",
                    unit=Unit.COUNT,
                    y="hits",
                    height=max(220, 40 * offences.height + 80),
                )
            )
            if offences.height
            else states.no_rows("No hit in the period."),
            page=PAGE,
            view="offences",
        ),
        section(
            "Profiles firing on the same declarations",
            _overlap_table(overlaps),
            page=PAGE,
            view="overlaps",
        ),
        _declarations_section(ctx, filters, profile_id),
    ]
    return [
        # Drawn with the buttons that use them (for every role, so the download callback's
        # State exists): a callback whose outputs are all drawn with its inputs does not run
        # when they appear, one with an output outside the content would run for nothing.
        # A new draw (profile or filters) thus also starts the pager again at the first page.
        dcc.Download(id=DOWNLOAD_ID),
        dcc.Store(id=DECL_PAGE_STORE, data=0),
        actions_bar(ctx, filters, profile_id),
        summary_block(row, ctx.settings.min_sample) if row else None,
        html.Div(sections, className="panel-grid"),
    ]


def actions_bar(ctx: PageContext, filters: flt.PageFilters, profile_id: str) -> html.Div:
    """Simulate (the What-if with this profile chosen, period kept, by its URL) and, for
    analysts, Add to review (the profile's review starts: the queue lists it)."""
    pid = quote(profile_id, safe="")
    query = flt.to_query(filters)
    simulate = f"/what-if{query}{'&' if query else '?'}profiles={pid}"
    items: list[Any] = [dcc.Link("Simulate", href=simulate, id="profile-simulate",
                                 className="button-link")]  # fmt: skip
    if ctx.viewer.may(Role.ANALYST):
        items += [
            html.Button("Add to review", id=ADD_REVIEW_ID, n_clicks=0),
            html.Span(id=ADD_REVIEW_MESSAGE, role="status"),
        ]
    return html.Div(items, className="pager profile-actions")


@callback(
    Output(ADD_REVIEW_MESSAGE, "children"),
    Input(ADD_REVIEW_ID, "n_clicks"),
    State(PROFILE_STORE, "data"),
    prevent_initial_call=True,
)
@guarded(Role.ANALYST, on_error=frame.error_then_no_update)
def add_to_review(ctx: PageContext, clicks: Any, profile_id: Any) -> Any:
    """Start the profile's review (appstate.review, audited): the Review queue lists it."""
    if not clicks or not profile_id:
        raise PreventUpdate
    pid = str(profile_id)
    if not known(ctx, pid):  # a crafted request: reviews are only about profiles in the data
        return html.Span(f"There is no profile “{pid}” in the published data.",
                         className="state state-error")  # fmt: skip
    store = store_for(ctx.settings.app_db_path)
    link = dcc.Link("open the Review queue", href="/review")
    if store.get(pid).state is ReviewState.UNDER_REVIEW:
        return html.Span([f"{pid} is already under review · ", link], className="state state-ok")
    try:
        store.transition(
            pid,
            ReviewState.UNDER_REVIEW,
            Actor(name=ctx.viewer.name, role=ctx.viewer.role.value,
                  remote_addr=request.remote_addr if has_request_context() else None),
        )  # fmt: skip
    except ReviewError as exc:
        return html.Span(str(exc), className="state state-error")
    return html.Span([f"{pid} is now under review · ", link], className="state state-ok")


def _with_decisions(
    ctx: PageContext, fig: go.Figure, monthly: pl.DataFrame, profile_id: str
) -> go.Figure:
    """Review decisions (appstate.review) on the timeline next to the change log. A
    meeting decides after the latest month of data, so when the trend reaches that month the
    decisions after it are drawn too: at the axis' right edge with an arrow and their date
    (figures.add_events), the axis stays on the data's months."""
    if monthly.is_empty():
        return fig
    months = monthly["month"].to_list()
    first, last = min(months), max(months)
    latest = last == max(ctx.months(), default=last)
    events = [
        (r["changed_at"], f"{r['change_type']}: {r['summary']}")
        for r in timeline_events(ctx.settings.app_db_path, profile_id).iter_rows(named=True)
        if first <= r["changed_at"].date()
        and (latest or r["changed_at"].date() <= period_end_day(last))
    ]
    return add_events(fig, events)


def _overlap_table(overlaps: pl.DataFrame) -> Any:
    if overlaps.is_empty():
        return states.no_rows("No other profile fired on the same declarations.")
    rows = [
        {
            "Profile": dcc.Link(r["other_profile"], href=profile_href(r["other_profile"])),
            "Shared declarations": format_count(r["declarations"]),
            "Shared controls": format_count(r["controlled"]),
            "Shared hits": format_count(r["irregular"]),
        }
        for r in overlaps.iter_rows(named=True)
    ]
    return data_table(rows, numeric={"Shared declarations", "Shared controls", "Shared hits"})


def _declarations_section(
    ctx: PageContext, filters: flt.PageFilters, profile_id: str
) -> html.Section:
    if not ctx.viewer.may(Role.ANALYST):
        body: Any = states.forbidden("declaration-level detail (analyst role)")
        return section("Latest controlled declarations", body, wide=True)
    # The first page is drawn with the rest of the content: a separate callback could only
    # start once the content (and its pager buttons) had reached the browser.
    try:
        rows, total = declarations_frame(ctx, filters, profile_id, 0)
        first_page: Any = declarations_view(rows, total, 0)
    except Exception:
        # As when it had its own callback: a failure here leaves the rest of the page shown.
        reference = uuid.uuid4().hex[:8]
        log.exception("declarations of %s failed (reference %s)", profile_id, reference)
        first_page = states.error_message(reference)
    body = html.Div(
        [
            html.Div(first_page, id=DECL_TABLE_ID),
            html.Div(
                [
                    html.Button("← Newer", id=DECL_PREV_ID, n_clicks=0),
                    html.Button("Older →", id=DECL_NEXT_ID, n_clicks=0),
                ],
                className="pager",
            ),
        ]
    )
    return section(
        "Latest controlled declarations",
        body,
        page=PAGE,
        view="declarations",
        wide=True,
        note=f"{PAGE_SIZE} per page, latest first; your offices only.",
    )


# --- Callbacks ------------------------------------------------------------------------------------
update_content = frame.content_callback(
    __name__,
    CONTENT_ID,
    lambda ctx, filters, profile_id: content(ctx, filters, str(profile_id or "")),
    State(PROFILE_STORE, "data"),
)


@callback(
    Output(DECL_TABLE_ID, "children"),
    Output(DECL_PAGE_STORE, "data"),
    Input(DECL_PREV_ID, "n_clicks"),
    Input(DECL_NEXT_ID, "n_clicks"),
    State(DECL_PAGE_STORE, "data"),
    State(PROFILE_STORE, "data"),
    *frame.filter_states(),
    prevent_initial_call=True,
)
@guarded(Role.ANALYST, on_error=frame.error_then_no_update)
def update_declarations(
    ctx: PageContext,
    _prev: Any,
    _next: Any,
    page: Any,
    profile_id: Any,
    start: Any,
    end: Any,
    offices: Any,
    channel: Any,
) -> tuple[Any, int]:
    if dash_ctx.triggered_id not in (DECL_PREV_ID, DECL_NEXT_ID):
        # Not a button press: the content already shows the first page.
        return dash.no_update, 0
    filters = frame.filters_for(ctx, start, end, offices, channel)
    if filters is None:
        raise PreventUpdate
    current = 0
    if dash_ctx.triggered_id == DECL_PREV_ID:
        current = max(int(page or 0) - 1, 0)
    elif dash_ctx.triggered_id == DECL_NEXT_ID:
        current = int(page or 0) + 1
    rows, total = declarations_frame(ctx, filters, str(profile_id or ""), current)
    last_page = max((total - 1) // PAGE_SIZE, 0)
    if current > last_page:
        current = last_page
        rows, total = declarations_frame(ctx, filters, str(profile_id or ""), current)
    return declarations_view(rows, total, current), current


def declarations_view(rows: pl.DataFrame, total: int, page: int) -> Any:
    if total == 0:
        return states.no_rows("No controlled declaration for this profile in the period.")
    first = page * PAGE_SIZE + 1
    shown = [
        {
            "Declaration": r["declaration_id"],
            "Lodged": format_timestamp(r["lodged_at"]),
            "Office": r["office_code"],
            "Channel": r["channel"],
            "Selected by": r["selection_source"],
            "Result": r["control_result"],
            "Offence": r["offence_type"] or "",
            "Revenue": format_value(r["additional_revenue"], Unit.CURRENCY),
            "Released": format_timestamp(r["released_at"]) if r["released_at"] else "open",
            "Importer": r["importer_id"] or "",
            "HS code": r["hs_code"] or "",
        }
        for r in rows.iter_rows(named=True)
    ]
    return html.Div(
        [
            html.P(f"{first:,}–{first + rows.height - 1:,} of {total:,}", className="section-note"),
            data_table(shown, numeric={"Revenue"}),
        ]
    )


def download_frame(
    ctx: PageContext, filters: flt.PageFilters, profile_id: str, view: str, page: int
) -> pl.DataFrame:
    if view in ("trend", "monthly"):
        return monthly_frame(ctx, filters, profile_id)
    if view == "changes":
        return changes_frame(ctx, filters, profile_id)
    if view == "offices":
        return office_frame(ctx, filters, profile_id)
    if view == "offences":
        return offence_frame(ctx, filters, profile_id)
    if view == "overlaps":
        return overlap_frame(ctx, filters, profile_id)
    if view == "declarations" and ctx.viewer.may(Role.ANALYST):
        return declarations_frame(ctx, filters, profile_id, page)[0]
    raise PreventUpdate


def download_table(
    ctx: PageContext, filters: flt.PageFilters, view: str, profile_id: Any, page: Any
) -> tuple[pl.DataFrame, str]:
    pid = str(profile_id or "")
    return download_frame(ctx, filters, pid, view, int(page or 0)), f"profile-{pid}-{view}"


download = frame.download_callback(
    __name__,
    PAGE,
    DOWNLOAD_ID,
    download_table,
    State(PROFILE_STORE, "data"),
    State(DECL_PAGE_STORE, "data"),
)
