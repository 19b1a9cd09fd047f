"""Review queue (risk unit, analysts and admins): the profiles the monthly meeting must decide on.

Flagged by the underperformance rules, stale, validity ending within 30 days or review overdue;
ranked by what they cost (severity: inspections wasted); each with its evidence and workflow state
(flagged → under review → decided: keep, modify, suspend, retire, with the rationale). Every
transition is recorded with the audit trail (appstate.review) and drawn on the profile's
timeline. The queue exports to Excel for the committee (role-checked and audited).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import dash
import dash_ag_grid as dag
import polars as pl
import xlsxwriter
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html
from dash import ctx as dash_ctx
from dash.exceptions import PreventUpdate
from flask import has_request_context, request

from appstate.audit import Actor
from appstate.review import Decision, ReviewError, store_for
from appstate.review import State as ReviewState
from appstate.roles import Role
from dashboard import filters as flt
from dashboard.audit import audit
from dashboard.components import states
from dashboard.components.download import filename
from dashboard.components.format import format_p_value, format_stamp
from dashboard.components.layout import section
from dashboard.components.sparkline import spark_text
from dashboard.components.tables import data_table
from dashboard.data import PageContext, Viewer, guarded
from dashboard.pages import _frame as frame
from kpis.definitions import Unit
from kpis.formatting import INSUFFICIENT, WORKBOOK_OPTIONS, format_interval
from kpis.grain import period_end_day
from kpis.profiles import by_severity
from kpis.review import review_queue

dash.register_page(
    __name__,
    path="/review",
    name="Review queue",
    title="Review queue · Customs KPI",
    order=12,
    min_role="analyst",
)

PAGE = "review"
CONTENT_ID = "review-content"
GRID_ID = "review-grid"
EXPORT_BUTTON = "review-export-button"
EXPORT_ID = "review-export"
SHOW_DECIDED_ID = "review-show-decided"
PICK_ID = "review-profile"
PICK_STATE_ID = "review-profile-state"
SEEN_STATE_STORE = "review-seen-state"
DECISION_ID = "review-decision"
RATIONALE_ID = "review-rationale"
START_ID = "review-start"
DECIDE_ID = "review-decide"
REOPEN_ID = "review-reopen"
RELEASE_ID = "review-release"
MESSAGE_ID = "review-message"
REFRESH_STORE = "review-refresh"
FOCUS_STORE = "review-focus"
HISTORY_ROWS = 10
GRID_AUTO_HEIGHT_ROWS = 15  # up to this many rows the grid grows with them, then it scrolls

STATE_LABELS = {
    ReviewState.FLAGGED: "flagged",
    ReviewState.UNDER_REVIEW: "under review",
    ReviewState.DECIDED: "decided",
}


# --- Computation ---------------------------------------------------------------------------------
def queue_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    """kpis.review.review_queue over the selected period (rules judged with the settings'
    minimum sample), with each profile's workflow state. Profiles under review stay listed
    even when no reason holds any more."""
    assert ctx.cube is not None and filters.start is not None and filters.end is not None
    recorded = store_for(ctx.settings.app_db_path).states()
    open_reviews = [p for p, r in recorded.items() if r.state is ReviewState.UNDER_REVIEW]
    queue = review_queue(
        ctx.cube,
        ctx.settings.queue_config(),
        period=(filters.start, period_end_day(filters.end)),
        filters=ctx.kpi_filters(filters, channels=()),
        include=open_reviews,
    )
    queue = by_severity(queue)  # the costliest first, as on the Profiles page
    ids = queue["profile_id"].to_list()
    reviews = [recorded.get(p) for p in ids]
    return queue.with_columns(
        pl.Series("state", [r.state.value if r else "flagged" for r in reviews], pl.String),
        pl.Series(
            "decision", [r.decision.value if r and r.decision else None for r in reviews], pl.String
        ),
        pl.Series("rationale", [r.rationale if r else None for r in reviews], pl.String),
        pl.Series("updated_by", [r.updated_by if r else None for r in reviews], pl.String),
        pl.Series("updated_at", [r.updated_at if r else None for r in reviews], pl.String),
    ).with_columns(
        # A decision taken before this window did not see its evidence: the profile is back.
        (
            (pl.col("state") == ReviewState.DECIDED.value)
            & (pl.col("updated_at").str.slice(0, 10) < filters.start.isoformat())
        ).alias("flagged_again")
    )


def visible(queue: pl.DataFrame, show_decided: bool) -> pl.DataFrame:
    """Decided profiles leave the list (unless asked for) until they are flagged again by a
    window that starts after their decision."""
    if show_decided:
        return queue
    return queue.filter((pl.col("state") != ReviewState.DECIDED.value) | pl.col("flagged_again"))


def grid_rows(queue: pl.DataFrame, min_sample: int) -> list[dict[str, Any]]:
    rows = []
    for r in queue.iter_rows(named=True):
        ok = bool(r["sufficient"])
        rows.append(
            {
                "profile": r["profile_id"],
                "name": r["name"] or "",
                "state": STATE_LABELS[ReviewState(r["state"])]
                + (f": {r['decision']}" if r["decision"] else "")
                + (" (flagged again)" if r["flagged_again"] else ""),
                "reasons": ", ".join(x.replace("_", " ") for x in r["reasons"]),
                "severity": None if r["severity"] is None else round(r["severity"]),
                "not_paid_off": r["not_paid_off"],
                "controls": r["controlled"],
                "hits": r["irregular"],
                "hit_rate": round(r["hit_rate"] * 100, 2) if ok and r["hit_rate"] is not None
                else None,
                "interval": format_interval(r["ci_low"], r["ci_high"], Unit.PERCENT)
                if ok else f"{INSUFFICIENT} (< {min_sample} controls)",
                "lift": round(r["lift"], 2) if ok and r["lift"] is not None else None,
                "p_value": format_p_value(r["p_value"]) if ok else "–",
                "revenue_per_control": round(r["revenue_per_control"])
                if ok and r["revenue_per_control"] is not None else None,
                "trend": spark_text(r["trend"]),
                "evidence": "; ".join([*r["evidence"], *r["notices"]]),
            }
        )  # fmt: skip
    return rows


def _num(field: str, header: str, width: int = 110) -> dict[str, Any]:
    return {"field": field, "headerName": header, "type": "numericColumn",
            "filter": "agNumberColumnFilter", "width": width,
            "comparator": {"function": "emptyLast"}}  # fmt: skip


# Compact rows: one line each (long text in a tooltip), the name beside the id.
COLUMNS: list[dict[str, Any]] = [
    # Not a link: a click anywhere on the row picks the profile (its history is linked
    # from the decision panel).
    {"field": "profile", "headerName": "Profile", "pinned": "left", "width": 110,
     "tooltipField": "name"},
    {"field": "name", "headerName": "Name", "minWidth": 150, "flex": 1, "tooltipField": "name"},
    {"field": "state", "headerName": "State", "width": 130, "tooltipField": "state"},
    {"field": "reasons", "headerName": "Why", "minWidth": 170, "flex": 1,
     "tooltipField": "reasons"},
    _num("severity", "Wasted inspections", 112),
    _num("not_paid_off", "Controls without finding", 110),
    _num("controls", "Controls", 100),
    _num("hits", "Hits", 80),
    _num("hit_rate", "Hit rate %", 92),
    {"field": "interval", "headerName": "95 % interval", "width": 125},
    _num("lift", "Lift ×", 70),
    {"field": "p_value", "headerName": "p vs random", "width": 104},
    _num("revenue_per_control", "Revenue / control", 110),
    {"field": "trend", "headerName": "Hit rate, 12 months", "width": 115, "sortable": False,
     "cellClass": "spark-cell"},
    {"field": "evidence", "headerName": "Evidence", "minWidth": 260, "flex": 2,
     "tooltipField": "evidence"},
]  # fmt: skip


# --- Excel export --------------------------------------------------------------------------------
EXPORT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (column, header, format)
    ("profile_id", "Profile", "text"),
    ("name", "Name", "text"),
    ("risk_area", "Risk area", "text"),
    ("status", "Register status", "text"),
    ("state", "Review state", "text"),
    ("decision", "Decision", "text"),
    ("flagged_again", "Flagged again since the decision", "text"),
    ("rationale", "Rationale", "wrap"),
    ("reasons", "Reasons", "wrap"),
    ("evidence", "Evidence", "wrap"),
    ("notices", "Not yet decided", "wrap"),
    ("severity", "Wasted inspections (severity)", "int"),
    ("not_paid_off", "Controls without finding", "int"),
    ("declarations", "Selections", "int"),
    ("controlled", "Controls", "int"),
    ("irregular", "Hits", "int"),
    ("sufficient", "Enough controls for rates", "text"),
    ("hit_rate", "Hit rate", "pct"),
    ("ci_low", "95 % low", "pct"),
    ("ci_high", "95 % high", "pct"),
    ("random_hit_rate", "Random hit rate", "pct"),
    ("lift", "Lift", "ratio"),
    ("p_value", "p vs random", "ratio"),
    ("revenue_per_control", "Revenue per control", "money"),
    ("sole_controlled", "Controls only it selects", "int"),
    ("sole_irregular", "Hits only it finds", "int"),
    ("trend_slope", "Hit-rate slope (pp / month)", "pp"),
    ("last_hit_month", "Last hit", "month"),
    ("valid_to", "Valid to", "date"),
    ("review_due", "Review due", "date"),
    ("updated_by", "State by", "text"),
    ("updated_at", "State at (UTC)", "text"),
)


# Figures left empty in the workbook when the profile has fewer controls than the minimum.
SAMPLE_BOUND = frozenset(
    {"hit_rate", "ci_low", "ci_high", "lift", "p_value", "revenue_per_control", "trend_slope"}
)


def queue_workbook(queue: pl.DataFrame, about: list[tuple[str, str]]) -> bytes:
    """The committee workbook: the queue (one row per profile, numbers as numbers, a frozen
    header and filters) and an About sheet (period, data as of, rules, who exported)."""
    buffer = io.BytesIO()
    # Analysts' text stays text: never a formula (``=HYPERLINK(...)``) nor a link.
    wb = xlsxwriter.Workbook(
        buffer, {**WORKBOOK_OPTIONS, "in_memory": True, "nan_inf_to_errors": True}
    )
    formats = {
        "head": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "text_wrap": True,
                               "valign": "top", "border": 1}),
        "text": wb.add_format({"valign": "top"}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
        "int": wb.add_format({"num_format": "#,##0", "valign": "top"}),
        "pct": wb.add_format({"num_format": "0.0%", "valign": "top"}),
        "pp": wb.add_format({"num_format": "+0.00;-0.00;0.00", "valign": "top"}),
        "ratio": wb.add_format({"num_format": "0.000", "valign": "top"}),
        "money": wb.add_format({"num_format": "#,##0", "valign": "top"}),
        "date": wb.add_format({"num_format": "yyyy-mm-dd", "valign": "top"}),
        "month": wb.add_format({"num_format": "mmm yyyy", "valign": "top"}),
    }  # fmt: skip
    sheet = wb.add_worksheet("Review queue")
    widths = {"text": 14, "wrap": 48, "int": 12, "pct": 10, "pp": 12, "ratio": 10,
              "money": 14, "date": 12, "month": 11}  # fmt: skip
    for col, (_, header, kind) in enumerate(EXPORT_COLUMNS):
        sheet.write_string(0, col, header, formats["head"])
        sheet.set_column(col, col, widths[kind])
    for row_index, row in enumerate(queue.iter_rows(named=True), start=1):
        for col, (name, _, kind) in enumerate(EXPORT_COLUMNS):
            value = row.get(name)
            if value is None or (name in SAMPLE_BOUND and not row["sufficient"]):
                continue  # below the minimum sample a rate is not shown, never 0 % or 100 %
            if name in ("reasons", "evidence", "notices"):
                value = "\n".join(str(v).replace("_", " ") if name == "reasons" else str(v)
                                  for v in value)  # fmt: skip
            if isinstance(value, bool):
                value = "yes" if value else "no"
            if kind == "pp":
                value = value * 100
            if isinstance(value, date):
                sheet.write_datetime(row_index, col, datetime(value.year, value.month, value.day),
                                     formats[kind])  # fmt: skip
            elif isinstance(value, int | float):
                sheet.write_number(row_index, col, value, formats[kind])
            else:  # text: always a string cell (WORKBOOK_OPTIONS), never a formula
                sheet.write_string(row_index, col, str(value), formats[kind])
    sheet.freeze_panes(1, 1)
    sheet.autofilter(0, 0, max(queue.height, 1), len(EXPORT_COLUMNS) - 1)
    info = wb.add_worksheet("About")
    info.set_column(0, 0, 28)
    info.set_column(1, 1, 90)
    for i, (key, value) in enumerate(about):
        info.write_string(i, 0, key, formats["head"])
        info.write_string(i, 1, value, formats["wrap"])
    wb.close()
    return buffer.getvalue()


def about_rows(ctx: PageContext, filters: flt.PageFilters, rows: int) -> list[tuple[str, str]]:
    assert filters.start is not None and filters.end is not None
    config = ctx.settings.queue_config()
    return [
        ("Review queue", "Profiles to decide on at the risk committee"),
        ("Period", f"{filters.start:%b %Y} – {filters.end:%b %Y}"),
        ("Offices", ", ".join(ctx.office_filter(filters) or ctx.viewer.offices or ("all",))),
        ("Data as of", ctx.data_as_of.isoformat(sep=" ") if ctx.data_as_of else "–"),
        ("Exported by", ctx.viewer.name),
        ("Exported at", format_stamp(datetime.now(UTC), "%Y-%m-%d %H:%M")),
        ("Profiles", str(rows)),
        ("Rules", f"{config.flags.describe()}; stale after {config.stale_months} "
                  f"months without a hit; validity ending within {config.validity_days} days; "
                  "review overdue per the register's review period"),
        ("Order", "Severity (inspections the profile alone spent in the recent months beyond "
                  "what its findings needed at the expected hit rate), costliest first; then "
                  "profiles listed for other reasons by controls"),
    ]  # fmt: skip


# --- Layout --------------------------------------------------------------------------------------
def action_panel() -> html.Section:
    return html.Section(
        [
            html.H2("Record the committee's decision", className="section-title"),
            html.Div(
                [
                    flt.labelled(
                        "Profile", dcc.Dropdown(id=PICK_ID, options=[], placeholder="Choose")
                    ),
                    html.Div(id=PICK_STATE_ID, className="section-note", role="status"),
                    dcc.Store(id=SEEN_STATE_STORE),
                    dcc.Store(id=FOCUS_STORE),
                ],
                className="filter-bar",
            ),
            dcc.RadioItems(
                id=DECISION_ID,
                options=[{"label": d.value.capitalize(), "value": d.value} for d in Decision],
                inline=True,
                className="radio-row",
            ),
            dcc.Textarea(id=RATIONALE_ID, placeholder="Rationale (required for a decision)",
                         style={"width": "100%", "minHeight": "5em"}, maxLength=4000),
            html.Div(
                [
                    html.Button("Start review", id=START_ID, n_clicks=0),
                    html.Button("Record decision", id=DECIDE_ID, n_clicks=0),
                    html.Button("Reopen", id=REOPEN_ID, n_clicks=0),
                    html.Button("Back to queue", id=RELEASE_ID, n_clicks=0),
                ],
                className="pager",
            ),
            html.Div(id=MESSAGE_ID, role="status"),
        ],
        className="panel panel-wide",
    )  # fmt: skip


def layout(**query: Any) -> html.Div:
    return frame.page_layout(
        PAGE,
        title="Review queue",
        intro="Profiles the risk committee should decide on: flagged by the rules, stale, "
        "validity ending or review overdue; the costliest first (wasted inspections: what a "
        "profile alone spent recently beyond what its findings needed).",
        query=query,
        content_id=CONTENT_ID,
        show_channel=False,
        controls=[
            dcc.Checklist(
                id=SHOW_DECIDED_ID,
                options=[{"label": " show decided profiles", "value": "decided"}],
                value=[],
                inline=True,
            ),
            html.Button(
                "Excel for the committee",
                id=EXPORT_BUTTON,
                n_clicks=0,
                className="download-button icon-excel",
            ),
        ],
        extra=[
            action_panel(),
            dcc.Store(id=REFRESH_STORE, data=0),
            dcc.Download(id=EXPORT_ID),
        ],
    )


def content(ctx: PageContext, filters: flt.PageFilters, show_decided: bool) -> Any:
    queue = visible(queue_frame(ctx, filters), show_decided)
    if queue.is_empty():
        return states.no_rows("No profile needs a review over this period.")
    grid = dag.AgGrid(
        id=GRID_ID,
        rowData=grid_rows(queue, ctx.settings.min_sample),
        columnDefs=COLUMNS,
        defaultColDef={"sortable": True, "filter": True, "resizable": True,
                       "wrapHeaderText": True, "autoHeaderHeight": True},
        dashGridOptions={"animateRows": False, "tooltipShowDelay": 300, "rowHeight": 34,
                         "domLayout": "autoHeight" if queue.height <= GRID_AUTO_HEIGHT_ROWS
                         else "normal",
                         "rowSelection": {"mode": "singleRow", "checkboxes": False}},
        className="ag-theme-quartz grid-review",
        getRowId="params.data.profile",
        style={} if queue.height <= GRID_AUTO_HEIGHT_ROWS else {"height": "560px"},
    )  # fmt: skip
    counts = queue.group_by("state").len().sort("state")
    told = ", ".join(f"{n} {STATE_LABELS[ReviewState(s)]}" for s, n in counts.iter_rows())
    return section(
        "Profiles to review",
        grid,
        wide=True,
        note=f"{queue.height} profiles ({told}). Rates need at least "
        f"{ctx.settings.min_sample} controls; the trend is the hit rate over the 3 months "
        "ending with each month. Click a row, write the rationale, choose the decision and "
        "record it (the review starts by itself).",
    )


def actor_for(viewer: Viewer) -> Actor:
    return Actor(
        name=viewer.name,
        role=viewer.role.value,
        remote_addr=request.remote_addr if has_request_context() else None,
    )


# --- Callbacks -----------------------------------------------------------------------------------


def content_and_options(
    ctx: PageContext, filters: flt.PageFilters, decided: Any, _n: Any
) -> tuple[Any, list[dict[str, str]]]:
    show = "decided" in (decided or [])
    queue = visible(queue_frame(ctx, filters), show)
    options = [
        {"label": f"{r['profile_id']} · {STATE_LABELS[ReviewState(r['state'])]}",
         "value": r["profile_id"]}
        for r in queue.iter_rows(named=True)
    ]  # fmt: skip
    return content(ctx, filters, show), options


update_content = frame.content_callback(
    __name__,
    CONTENT_ID,
    content_and_options,
    Input(SHOW_DECIDED_ID, "value"),
    Input(REFRESH_STORE, "data"),
    options=[Output(PICK_ID, "options")],
    role=Role.ANALYST,
)


@callback(
    Output(PICK_ID, "value"),
    Input(GRID_ID, "cellClicked"),
    prevent_initial_call=True,
)
@guarded(Role.ANALYST, on_error=lambda _ref: dash.no_update)
def pick_from_grid(ctx: PageContext, cell: Any) -> str:
    if not isinstance(cell, dict) or not cell.get("rowId"):
        raise PreventUpdate
    return str(cell["rowId"])


# Picking a profile puts the cursor in the rationale: pick, write, choose, record.
clientside_callback(
    ClientsideFunction(namespace="review", function_name="focusRationale"),
    Output(FOCUS_STORE, "data"),
    Input(PICK_ID, "value"),
    prevent_initial_call=True,
)


@callback(
    Output(PICK_STATE_ID, "children"),
    Output(SEEN_STATE_STORE, "data"),
    Input(PICK_ID, "value"),
    Input(REFRESH_STORE, "data"),
)
@guarded(Role.ANALYST, on_error=frame.error_then_no_update)
def show_state(ctx: PageContext, profile_id: Any, _n: Any) -> tuple[Any, str | None]:
    if not profile_id:
        return "Choose a profile in the table or the list.", None
    store = store_for(ctx.settings.app_db_path)
    review = store.get(str(profile_id))
    text = f"{review.profile_id}: {STATE_LABELS[review.state]}"
    if review.decision:
        text += f", decision {review.decision.value}"
    if review.updated_by and review.updated_at:
        text += f" (by {review.updated_by}, {_when(review.updated_at)})"
    if review.rationale:
        text += f". Rationale: {review.rationale}"
    pid = review.profile_id
    links = html.Span(
        [
            " · ",
            dcc.Link("profile history", href=f"/profiles/{quote(pid, safe='')}"),
            " · ",
            dcc.Link(
                "what-if of retiring it",
                href=f"/what-if?profiles={quote(pid, safe='')}&action=retire",
            ),
        ]
    )
    history = store.history(pid)[-HISTORY_ROWS:]
    table = (
        data_table(
            [
                {
                    "When": _when(e.at),
                    "Who": e.user_name,
                    "From": STATE_LABELS[e.from_state],
                    "To": STATE_LABELS[e.to_state]
                    + (f": {e.decision.value}" if e.decision else ""),
                    "Rationale": e.rationale or "",
                }
                for e in reversed(history)
            ]
        )
        if history
        else None
    )
    return html.Div([html.Span(text), links, table]), review.state.value


def _when(iso: str) -> str:
    """A stored (UTC) stamp in the administration's zone, with its abbreviation."""
    return format_stamp(iso, "%Y-%m-%d %H:%M")


ACTIONS = {
    START_ID: ReviewState.UNDER_REVIEW,
    DECIDE_ID: ReviewState.DECIDED,
    REOPEN_ID: ReviewState.UNDER_REVIEW,
    RELEASE_ID: ReviewState.FLAGGED,
}


def take_action(
    ctx: PageContext,
    action: str,
    profile_id: str,
    decision: str | None,
    rationale: str | None,
    seen: str | None,
) -> str:
    """Apply one button's transition for the current user; the sentence to show."""
    if not ctx.viewer.may(Role.ANALYST):  # the guard refused already; never write for others
        raise PermissionError("analyst role required")
    assert ctx.cube is not None
    known = ctx.cube.register.filter(pl.col("profile_id") == profile_id).height or (
        ctx.cube.profiles.filter(pl.col("profile_id") == profile_id).height
    )
    if not known:  # a crafted request: decisions are only about profiles in the data
        raise ReviewError(f"there is no profile “{profile_id}” in the published data")
    target = ACTIONS[action]
    event = store_for(ctx.settings.app_db_path).transition(
        profile_id,
        target,
        actor_for(ctx.viewer),
        decision=decision if target is ReviewState.DECIDED else None,
        rationale=rationale,
        expected=seen,
    )
    done = STATE_LABELS[event.to_state]
    if event.decision:
        done += f" ({event.decision.value})"
    return f"{event.profile_id} is now {done}; recorded in the audit trail."


@callback(
    Output(MESSAGE_ID, "children"),
    Output(REFRESH_STORE, "data"),
    Input(START_ID, "n_clicks"),
    Input(DECIDE_ID, "n_clicks"),
    Input(REOPEN_ID, "n_clicks"),
    Input(RELEASE_ID, "n_clicks"),
    State(PICK_ID, "value"),
    State(DECISION_ID, "value"),
    State(RATIONALE_ID, "value"),
    State(SEEN_STATE_STORE, "data"),
    State(REFRESH_STORE, "data"),
    prevent_initial_call=True,
)
@guarded(Role.ANALYST, on_error=frame.error_then_no_update)
def act(
    ctx: PageContext,
    _start: Any,
    _decide: Any,
    _reopen: Any,
    _release: Any,
    profile_id: Any,
    decision: Any,
    rationale: Any,
    seen: Any,
    refresh: Any,
) -> tuple[Any, Any]:
    action = dash_ctx.triggered_id
    if action not in ACTIONS:
        raise PreventUpdate
    if not profile_id:
        return html.P("Choose a profile first.", className="state state-error"), dash.no_update
    try:
        message = take_action(ctx, str(action), str(profile_id), decision, rationale, seen)
    except ReviewError as exc:
        return html.P(str(exc), className="state state-error"), int(refresh or 0) + 1
    return html.P(message, className="state state-ok"), int(refresh or 0) + 1


@callback(
    Output(EXPORT_ID, "data"),
    Input(EXPORT_BUTTON, "n_clicks"),
    State(SHOW_DECIDED_ID, "value"),
    *frame.filter_states(),
    prevent_initial_call=True,
)
@guarded(Role.ANALYST, on_error=frame.download_error)
def export(
    ctx: PageContext, clicks: Any, decided: Any, start: Any, end: Any, offices: Any, channel: Any
) -> dict[str, Any]:
    if not clicks:
        raise PreventUpdate
    filters = frame.filters_for(ctx, start, end, offices, channel)
    if filters is None:
        raise PreventUpdate
    queue = visible(queue_frame(ctx, filters), "decided" in (decided or []))
    data = queue_workbook(queue, about_rows(ctx, filters, queue.height))
    name = filename("review-queue", month=filters.end, suffix="xlsx")
    audit(
        "export.review_queue",
        name,
        {"rows": queue.height, "from": str(filters.start), "to": str(filters.end),
         "offices": list(ctx.office_filter(filters) or ())},
    )  # fmt: skip
    return dcc.send_bytes(data, filename=name)
