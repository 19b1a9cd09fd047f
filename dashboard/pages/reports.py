"""Reports: every monthly performance report and version, with downloads, and drafts on request.

The web app never renders a report itself (it may not import ``etl``, and a render takes
seconds of CPU a web worker should not spend). The "Produce report" button queues a request
file in ``HOME/requests/pending`` (:func:`worker.queue.submit`); the worker's
``requests`` job produces it within seconds and records the outcome, which this page shows.

Who may do what: every role may list reports; downloads are for users without an office
scope, because a report holds every office's figures (a scoped user would otherwise read
offices outside their scope), and its count of pending controls is national too, so it is
listed to them only. Analysts and administrators may request a report. Every download and
request is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, dcc, html
from dash import ctx as dash_ctx
from dash.exceptions import PreventUpdate

from appstate.roles import Role
from customs_kpi.clock import month_label
from dashboard.audit import audit
from dashboard.components import states
from dashboard.components.format import format_count, format_stamp
from dashboard.components.layout import section
from dashboard.components.tables import data_table
from dashboard.data import PageContext, guarded, request_context
from dashboard.pages import _frame as frame
from monthly_report.listing import ReportVersion, list_reports, report_file
from worker import queue
from worker.jobs import WorkerInfo, read_jobs
from worker.queue import Request, RequestKind, RequestStatus

dash.register_page(
    __name__, path="/reports", name="Reports", title="Reports · Customs KPI", order=80
)

PAGE = "reports"
CONTENT_ID = "reports-content"
TRIGGER_ID = "reports-trigger"
POLL_ID = "reports-poll"
DOWNLOAD_ID = "reports-download"
FILE_BUTTON = "reports-file"
MONTH_ID = "reports-month"
REASON_ID = "reports-reason"
REQUEST_ID = "reports-request"
REQUEST_MESSAGE_ID = "reports-request-message"
POLL_MS = 5000  # while a request is pending: the worker polls every 5 s too
# A pending request older than this many polls while no worker beats is "no worker is
# running", not "pending" forever.
STALE_POLLS = 3
NO_WORKER = "no worker is running"
DEFAULT_REASON = "draft requested from the Reports page"
MAX_REASON = 300


# --- Pure helpers (tested directly) -------------------------------------------------------------
def default_month(published: Sequence[date], today: date) -> str | None:
    """The month the button offers: the running month when it has data, else the latest month
    with data (whose report is final if that month is over)."""
    if not published:
        return None
    current = today.replace(day=1)
    chosen = current if current in published else max(published)
    return month_label(chosen)


def may_download(ctx: PageContext) -> bool:
    """Reports hold every office's figures: only users without an office scope get them."""
    return ctx.viewer.offices is None


def _nowrap(text: str) -> html.Span:
    return html.Span(text, style={"whiteSpace": "nowrap"})


def _when(text: str | None) -> str:
    return format_stamp(text) if text else "–"


def _file_button(report: ReportVersion, name: str, label: str) -> html.Button:
    return html.Button(
        ["↓ ", label],
        id={"type": FILE_BUTTON, "month": report.month, "version": report.version, "file": name},
        className="download-button",
        title=f"Download {name}",
        n_clicks=0,
    )


def _files(report: ReportVersion, allowed: bool) -> Any:
    if not allowed:
        return html.Span("downloads need an account without office scope", className="muted")
    named = {f.name: f for f in report.files}
    main = [
        _file_button(report, f.name, f"PDF ({format_count(f.bytes / 1024)} KB)")
        for f in report.files
        if f.name.endswith(".pdf")
    ] + [
        _file_button(report, f.name, f"Excel ({format_count(f.bytes / 1024)} KB)")
        for f in report.files
        if f.name.endswith(".xlsx")
    ]
    csvs = sorted(n for n in named if n.endswith(".csv"))
    return html.Div(
        [
            *main,
            _file_button(report, "manifest.json", "manifest"),
            html.Details(
                [
                    html.Summary(f"CSV files ({len(csvs)})"),
                    html.Div([_file_button(report, n, n) for n in csvs]),
                ],
                className="explain",
            )
            if csvs
            else None,
        ],
        className="section-tools",
        style={"flexWrap": "wrap"},
    )


def report_rows(reports: Sequence[ReportVersion], allowed: bool) -> list[dict[str, Any]]:
    rows = []
    for s in reports:
        status = html.Span(
            s.status,
            className="badge " + ("badge-good" if s.status == "final" else "badge-warn"),
        )
        rows.append(
            {
                "Month": _nowrap(s.month),
                "Version": f"v{s.version}",
                "Status": status,
                "Produced": _nowrap(_when(s.created_at)),
                "Data as of": _nowrap(_when(s.data_as_of)),
                # The report's pending count is national (every office, when it was
                # produced): shown with the files, to users without an office scope only.
                **({"Pending controls": format_count(s.pending_controls)} if allowed else {}),
                "Reason": s.reason,
                "Files": _files(s, allowed),
            }
        )
    return rows


def is_stranded(request: Request, worker_alive: bool, now: datetime) -> bool:
    """A pending request older than :data:`STALE_POLLS` poll intervals while no worker runs
    (``worker.jobs`` heartbeat): nothing will pick it up until one starts."""
    if request.status is not RequestStatus.PENDING or worker_alive:
        return False
    try:
        asked = datetime.fromisoformat(request.requested_at)
    except ValueError:
        return True
    if asked.tzinfo is None:
        asked = asked.replace(tzinfo=UTC)
    return (now - asked).total_seconds() > STALE_POLLS * POLL_MS / 1000


def request_status(request: Request, worker_alive: bool, now: datetime) -> tuple[str, str]:
    """The status shown and its badge class."""
    if is_stranded(request, worker_alive, now):
        return NO_WORKER, "badge-bad"
    badge = {
        RequestStatus.PENDING: "badge-warn",
        RequestStatus.SUCCEEDED: "badge-good",
        RequestStatus.FAILED: "badge-bad",
    }
    return str(request.status), badge.get(request.status, "")


def request_rows(
    requests: Sequence[Request], worker_alive: bool = True, now: datetime | None = None
) -> list[dict[str, Any]]:
    moment = now or datetime.now(UTC)
    rows = []
    for r in requests:
        status, badge = request_status(r, worker_alive, moment)
        waiting = (
            "waits until a worker starts"
            if status == NO_WORKER
            else ("waiting for the worker" if r.status is RequestStatus.PENDING else "")
        )
        rows.append(
            {
                "Requested": _when(r.requested_at),
                "By": r.requested_by,
                "Month": r.month,
                "Reason": r.reason,
                "Status": html.Span(status, className=f"badge {badge}"),
                "Outcome": r.message or waiting,
            }
        )
    return rows


def worker_banner(info: WorkerInfo, now: datetime, operator: bool = False) -> Any:
    """The "not running" warning; the commands that start a worker only for administrators
    (a viewer cannot run them and need not read them)."""
    if info.is_alive(now):
        return None
    last = f" (last heartbeat {_when(info.heartbeat_at)})" if info.heartbeat_at else ""
    how = (
        " (`customs-kpi worker`, or `make run`)"
        if operator
        else "; ask your administrator to start it"
    )
    return html.Div(
        [
            html.Strong("The worker is not running"),
            f"{last}: requested reports wait until it starts{how}, and scheduled monthly "
            "reports are produced on its next start.",
        ],
        className="warning-banner",
        role="alert",
        id="reports-worker-warning",
    )


def content(ctx: PageContext, now: datetime) -> tuple[Any, bool]:
    """The listing, and whether polling can stop (no request pending)."""
    settings = ctx.settings
    reports = list_reports(settings)
    requests = queue.recent(settings, RequestKind.REPORT)
    worker = read_jobs(settings).worker
    alive = worker.is_alive(now)
    pending = any(r.status is RequestStatus.PENDING for r in requests)
    allowed = may_download(ctx)
    blocks: list[Any] = [worker_banner(worker, now, ctx.viewer.may(Role.ADMIN))]
    if requests and ctx.viewer.may(Role.ANALYST):
        blocks.append(
            section(
                "Requests",
                data_table(request_rows(requests, alive, now)),
                wide=True,
                note="Reports asked for from this page; the worker produces them in order.",
            )
        )
    body: Any = (
        data_table(report_rows(reports, allowed), numeric=("Pending controls",))
        if reports
        else html.P(
            "No report yet. The worker produces the previous month's report on the 1st of "
            "each month.",
            className="section-note",
        )
    )
    blocks.append(
        section(
            "Monthly reports",
            body,
            wide=True,
            note="Each version is kept unchanged; a new version records why it was produced. "
            "The manifest lists the SHA-256 of every file.",
        )
    )
    return html.Div([b for b in blocks if b is not None], className="panel-grid"), not pending


def request_controls(months: Sequence[date], today: date) -> html.Div:
    options = [{"label": month_label(m), "value": month_label(m)} for m in months]
    options.sort(key=lambda o: o["value"], reverse=True)
    return html.Div(
        [
            html.Label(
                [
                    html.Span("Month", className="filter-label"),
                    dcc.Dropdown(
                        id=MONTH_ID,
                        options=options,
                        value=default_month(months, today),
                        clearable=False,
                        className="filter-month",
                    ),
                ],
                className="filter-item",
            ),
            html.Label(
                [
                    html.Span("Reason (recorded in the manifest)", className="filter-label"),
                    dcc.Input(
                        id=REASON_ID,
                        type="text",
                        placeholder=DEFAULT_REASON,
                        maxLength=MAX_REASON,
                        debounce=False,
                        style={"width": "360px"},
                    ),
                ],
                className="filter-item",
            ),
            html.Button("Produce report", id=REQUEST_ID, n_clicks=0, className="download-button"),
            html.Span(id=REQUEST_MESSAGE_ID, className="section-note", role="status"),
        ],
        className="filter-bar",
    )


# --- Layout and callbacks -------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    ctx: PageContext | None
    try:
        ctx = request_context()
    except Exception:
        ctx = None  # page_layout retries, logs and shows the error state
    controls: list[Any] = []
    if ctx is not None and ctx.published and ctx.viewer.may(Role.ANALYST):
        controls.append(request_controls(ctx.months(), datetime.now(UTC).date()))
    return frame.page_layout(
        PAGE,
        title="Reports",
        intro="The official monthly performance reports: PDF report, Excel workbook, CSV "
        "files and a manifest of hashes, each version kept unchanged.",
        query=query,
        content_id=CONTENT_ID,
        extra=[
            dcc.Store(id=TRIGGER_ID, data=0),
            dcc.Interval(id=POLL_ID, interval=POLL_MS, disabled=True),
            dcc.Download(id=DOWNLOAD_ID),
        ],
        controls=controls,
        show_filters=False,
        context=ctx,
    )


@callback(
    Output(CONTENT_ID, "children"),
    Output(POLL_ID, "disabled"),
    Input(TRIGGER_ID, "data"),
    Input(POLL_ID, "n_intervals"),
)
@guarded(Role.VIEWER, on_error=lambda ref: (states.error_message(ref), True))
def update_content(ctx: PageContext, _trigger: Any, _ticks: Any) -> tuple[Any, bool]:
    return content(ctx, datetime.now(UTC))


def _clicked(triggered: Any, triggered_value: Any) -> Mapping[str, Any]:
    # A redrawn listing creates buttons with n_clicks 0, which fire the callback: ignore them.
    if not triggered_value or not isinstance(triggered, Mapping):
        raise PreventUpdate
    return triggered


@callback(
    Output(DOWNLOAD_ID, "data"),
    Input({"type": FILE_BUTTON, "month": ALL, "version": ALL, "file": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
@guarded(Role.VIEWER, on_error=frame.download_error)
def download(ctx: PageContext, _clicks: Any) -> dict[str, Any]:
    fired = _clicked(dash_ctx.triggered_id, dash_ctx.triggered[0].get("value"))
    return download_file(ctx, str(fired["month"]), int(fired["version"]), str(fired["file"]))


def download_file(ctx: PageContext, month: str, version: int, name: str) -> dict[str, Any]:
    """Send one file of a report version (only names its manifest lists), audited."""
    if not may_download(ctx):
        audit("report.download_refused", f"{month}/v{version}/{name}", {"reason": "scope"})
        raise PreventUpdate
    path = report_file(ctx.settings, month, version, name)
    if path is None:
        raise PreventUpdate
    audit("report.download", f"{month}/v{version}/{name}", {"bytes": path.stat().st_size})
    return dcc.send_file(str(path), filename=f"customs-kpi-{month}-v{version}-{name}")


@callback(
    Output(REQUEST_MESSAGE_ID, "children"),
    Output(TRIGGER_ID, "data"),
    Input(REQUEST_ID, "n_clicks"),
    State(MONTH_ID, "value"),
    State(REASON_ID, "value"),
    State(TRIGGER_ID, "data"),
    prevent_initial_call=True,
)
@guarded(Role.ANALYST, on_error=frame.error_then_no_update)
def request(
    ctx: PageContext, clicks: Any, month: Any, reason: Any, trigger: Any
) -> tuple[str, int]:
    if not clicks:
        raise PreventUpdate
    return request_report(ctx, month, reason, datetime.now(UTC)), int(trigger or 0) + 1


def request_report(ctx: PageContext, month: Any, reason: Any, now: datetime) -> str:
    """Queue a report of a published month for the worker; the message shown to the user."""
    labels = {month_label(m) for m in ctx.months()}
    if not isinstance(month, str) or month not in labels:
        return "Choose a month with published data."
    text = (reason or "").strip()[:MAX_REASON] or DEFAULT_REASON
    req = queue.submit(
        ctx.settings, RequestKind.REPORT, ctx.viewer.name, month=month, reason=text, now=now
    )
    audit("report.request", month, {"reason": text, "request": req.id})
    return (
        f"Requested {month} (request {req.id}); the worker produces it within seconds and it "
        "will appear below."
    )
