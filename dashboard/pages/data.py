"""Data: how fresh the numbers are and what the loads did.

Data as of, the published version, a freshness warning when the last successful load is older
than ``settings.freshness_hours``, the run log, and the quarantine summary by rule. The
quarantined rows themselves (raw source records, any office) are an admin detail.

Office scope (server-side, whatever the browser asks): a user with an office scope sees the
declarations of their offices only (counted on the cube, which is cut to their scope). The
run log's row counts (read, inserted, replaced, quarantined) and the messages restating them
are per delivered file, over every office in it, so they cannot be split: scoped users see the
runs (when, which file, outcome) without them, in the table and in the CSV, and the worker's
job messages (which restate them too) are left out. Quarantined rows cannot be attributed to an
office either (the row was refused, its office code unchecked, under the source's own column
name): the quarantine counts and their CSV are for users without an office scope, and the
quarantined rows for administrators without one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import polars as pl
from dash import ALL, Input, Output, callback, dcc, html
from dash import ctx as dash_ctx
from dash.exceptions import PreventUpdate

from appstate.roles import Role
from customs_kpi.published import Freshness, RunStatus, publish_failure
from customs_kpi.published import freshness as published_freshness
from dashboard.audit import audit
from dashboard.components import states
from dashboard.components.download import DOWNLOAD_BUTTON, filename
from dashboard.components.format import format_count, format_stamp
from dashboard.components.layout import section
from dashboard.components.tables import data_table
from dashboard.data import PageContext, guarded, request_context
from dashboard.pages import _frame as frame
from worker import queue
from worker.jobs import job_rows, read_jobs, worker_status
from worker.queue import RequestKind

dash.register_page(__name__, path="/data", name="Data", title="Data · Customs KPI", order=90)

PAGE = "data"
CONTENT_ID = "data-content"
TRIGGER_ID = "data-trigger"
DOWNLOAD_ID = "data-download"
FRESHNESS_ID = "data-freshness"
LOAD_BUTTON_ID = "data-load-inbox"
LOAD_MESSAGE_ID = "data-load-message"
RUNS_SHOWN = 50
QUARANTINE_ROWS_SHOWN = 100
# Run-log columns that are per file over every office: users without an office scope only.
RUN_COUNT_COLUMNS = ("rows_read", "rows_inserted", "rows_replaced", "rows_quarantined", "message")
_RUN_COUNT_HEADERS = ("Read", "Inserted", "Replaced", "Quarantined", "Message")


# --- Office scope --------------------------------------------------------------------------------
def is_scoped(ctx: PageContext) -> bool:
    """True for a user with an office scope: national figures are not theirs to see."""
    return ctx.viewer.offices is not None


def declaration_count(ctx: PageContext) -> int | None:
    """Declarations the user may see: the published total without an office scope, else the
    sum over their offices (``ctx.cube`` is already cut to their scope on the server)."""
    if not is_scoped(ctx):
        manifest: dict[str, Any] = getattr(ctx.published_version, "manifest", {})
        rows = manifest.get("tables", {}).get("declarations", {}).get("rows")
        return None if rows is None else int(rows)
    assert ctx.cube is not None
    return int(ctx.cube.declarations.get_column("declarations").sum())


# --- Computations --------------------------------------------------------------------------------
def freshness(ctx: PageContext, now: datetime | None = None) -> Freshness:
    """How fresh the published data is: :func:`customs_kpi.published.freshness`, the verdict
    the page header and the app shell show too."""
    return published_freshness(ctx.data_as_of, ctx.settings.freshness_hours, now)


def runs_frame(ctx: PageContext) -> pl.DataFrame:
    """The run log; without the per-file row counts and messages for a scoped user."""
    assert ctx.published_version is not None
    runs = ctx.published_version.table("runs").sort("run_id", descending=True)
    return runs.drop(RUN_COUNT_COLUMNS, strict=False) if is_scoped(ctx) else runs


def quarantine_summary(ctx: PageContext) -> pl.DataFrame:
    """Quarantined rows per rule: rows, files, an example reason."""
    assert ctx.published_version is not None
    quarantine = ctx.published_version.table("quarantine")
    return (
        quarantine.group_by("rule")
        .agg(
            pl.len().alias("rows"),
            pl.col("file_name").n_unique().alias("files"),
            pl.col("reason").first().alias("example"),
        )
        .sort(["rows", "rule"], descending=[True, False])
    )


def quarantine_rows(ctx: PageContext) -> pl.DataFrame:
    assert ctx.published_version is not None
    return ctx.published_version.table("quarantine").sort(
        ["run_id", "file_name", "source_row"], descending=[True, False, False]
    )


# --- Rendering ------------------------------------------------------------------------------------
PUBLISH_ID = "data-publish-state"


def _publish_banner(ctx: PageContext) -> Any:
    """A failed publish (the warehouse holds newer data than the dashboard shows) and a broken
    published-data pointer (an older valid version is shown): both said at the top."""
    problems = []
    failure = publish_failure(ctx.settings)
    if failure is not None:
        problems.append(failure.text)
    notice = getattr(ctx.published_version, "notice", None)
    if notice:
        problems.append(str(notice))
    if not problems:
        return None
    return html.Div(
        [html.Strong("Publishing: "), " ".join(problems)],
        className="warning-banner",
        role="alert",
        id=PUBLISH_ID,
    )


def _freshness_banner(ctx: PageContext, now: datetime | None = None) -> Any:
    fresh = freshness(ctx, now)
    limit = ctx.settings.freshness_hours
    if not fresh.loaded:
        return html.Div(
            [html.Strong("No successful load yet. "), states.LOAD_HINT],
            className="warning-banner",
            role="alert",
            id=FRESHNESS_ID,
        )
    if fresh.stale:
        return html.Div(
            [
                html.Strong("Data may be stale: "),
                f"the last successful load finished {fresh.age_text} hours ago (warning after "
                f"{limit} hours). Check the worker and the inbox, or the run log below.",
            ],
            className="warning-banner",
            role="alert",
            id=FRESHNESS_ID,
        )
    return html.Div(
        f"Fresh: the last successful load finished {fresh.age_text} hours ago "
        f"(warning after {limit} hours).",
        className="section-note",
        id=FRESHNESS_ID,
    )


def _published_stats(ctx: PageContext) -> html.Div:
    published = ctx.published_version
    assert published is not None
    months = published.months()
    manifest: dict[str, Any] = getattr(published, "manifest", {})
    tables: dict[str, dict[str, Any]] = manifest.get("tables", {})

    def stat(label: str, value: str) -> html.Div:
        return html.Div(
            [html.Div(label, className="stat-label"), html.Div(value, className="stat-value")],
            className="stat",
        )

    created = getattr(published, "created_at", None)
    return html.Div(
        [
            stat("Data as of", format_stamp(ctx.data_as_of)),
            stat("Published", format_stamp(created)),
            stat("Months", f"{months[0]:%b %Y} – {months[-1]:%b %Y}" if months else "none"),
            stat(
                "Declarations (your offices)" if is_scoped(ctx) else "Declarations",
                format_count(declaration_count(ctx)),
            ),
            stat("Profiles", format_count(tables.get("profiles", {}).get("rows"))),
            *(
                []
                if is_scoped(ctx)  # refused rows cannot be attributed to an office
                else [
                    stat("Quarantined rows", format_count(tables.get("quarantine", {}).get("rows")))
                ]
            ),
        ],
        className="stat-list",
    )


def _runs_table(runs: pl.DataFrame) -> Any:
    if runs.is_empty():
        return states.no_rows("No run recorded yet.")
    rows = [
        {
            "Run": r["run_id"],
            "Kind": r["kind"],
            "Started": format_stamp(r["started_at"]),
            "Status": html.Span(
                r["status"],
                className="badge "
                + {RunStatus.SUCCEEDED: "badge-good", RunStatus.FAILED: "badge-bad"}.get(
                    r["status"], "badge-warn"
                ),
            ),
            "File": r["file_name"] or "",
            "Read": format_count(r.get("rows_read")),
            "Inserted": format_count(r.get("rows_inserted")),
            "Replaced": format_count(r.get("rows_replaced")),
            "Quarantined": format_count(r.get("rows_quarantined")),
            "Seconds": "–" if r["duration_seconds"] is None else f"{r['duration_seconds']:.1f}",
            "Message": r.get("message") or "",
        }
        for r in runs.head(RUNS_SHOWN).iter_rows(named=True)
    ]
    if "rows_read" not in runs.columns:  # a scoped user's run log (runs_frame): no file counts
        rows = [{k: v for k, v in row.items() if k not in _RUN_COUNT_HEADERS} for row in rows]
    return data_table(
        rows, numeric={"Run", "Read", "Inserted", "Replaced", "Quarantined", "Seconds"}
    )


def _quarantine_table(summary: pl.DataFrame) -> Any:
    if summary.is_empty():
        return states.no_rows("No row has been quarantined.")
    rows = [
        {
            "Rule": r["rule"],
            "Rows": format_count(r["rows"]),
            "Files": format_count(r["files"]),
            "Example": r["example"],
        }
        for r in summary.iter_rows(named=True)
    ]
    return data_table(rows, numeric={"Rows", "Files"})


def _quarantine_rows_table(rows: pl.DataFrame) -> Any:
    if rows.is_empty():
        return states.no_rows("No row has been quarantined.")
    shown = [
        {
            "Run": r["run_id"],
            "File": r["file_name"],
            "Row": r["source_row"],
            "Declaration": r["declaration_id"] or "",
            "Rule": r["rule"],
            "Reason": r["reason"],
        }
        for r in rows.head(QUARANTINE_ROWS_SHOWN).iter_rows(named=True)
    ]
    return data_table(shown, numeric={"Run", "Row"})


def _jobs_block(ctx: PageContext, now: datetime | None) -> Any:
    """The worker's scheduled jobs (HOME/jobs.json, written by `customs-kpi worker`)."""
    jobs = read_jobs(ctx.settings)
    running, sentence = worker_status(jobs, now)
    rows = job_rows(jobs)
    if is_scoped(ctx):  # job messages restate the file-level row counts of every office
        rows = [{k: v for k, v in row.items() if k != "Message"} for row in rows]
    return html.Div(
        [
            html.P(sentence, className="section-note" if running else "warning-banner"),
            data_table(rows, numeric={"Runs", "Failures"}) if rows else None,
        ]
    )


def content(ctx: PageContext, now: datetime | None = None) -> Any:
    if not ctx.published:
        return states.nothing_published()
    runs = runs_frame(ctx)
    blocks = [
        *([banner] if (banner := _publish_banner(ctx)) is not None else []),
        _freshness_banner(ctx, now),
        _published_stats(ctx),
        html.Div(
            [
                section(
                    "Scheduled jobs",
                    _jobs_block(ctx, now),
                    wide=True,
                    note="Inbox polling, nightly housekeeping and the monthly report.",
                ),
                section(
                    "Run log",
                    _runs_table(runs),
                    page=PAGE,
                    view="runs",
                    wide=True,
                    note=f"Latest {RUNS_SHOWN} runs; the CSV has all of them."
                    + (
                        " Row counts are per file, over every office: shown to users without "
                        "an office scope."
                        if is_scoped(ctx)
                        else ""
                    ),
                ),
                section(
                    "Quarantine by rule",
                    _quarantine_table(quarantine_summary(ctx)),
                    page=PAGE,
                    view="quarantine",
                    wide=True,
                    note="Rows the validation refused, with the rule they broke. The rest of "
                    "each file was loaded.",
                )
                if not is_scoped(ctx)  # refused rows cannot be attributed to an office
                else None,
                section(
                    "Quarantined rows",
                    _quarantine_rows_table(quarantine_rows(ctx)),
                    page=PAGE,
                    view="quarantine-rows",
                    wide=True,
                    note=f"Latest {QUARANTINE_ROWS_SHOWN} (administrators only).",
                )
                if ctx.viewer.may(Role.ADMIN) and not is_scoped(ctx)  # raw rows of any office
                else None,
            ],
            className="panel-grid",
        ),
    ]
    return blocks


def load_controls(ctx: PageContext) -> html.Div:
    """Admins: ask the worker to load HOME/inbox now, and what recent requests did."""
    recent = queue.recent(ctx.settings, RequestKind.LOAD, limit=3)
    lines = [
        f"{r.requested_at[:16].replace('T', ' ')} · {r.requested_by} · {r.status}"
        # The outcome restates the deliveries' row counts (every office): not for a scoped admin.
        f"{': ' + r.message if r.message and not is_scoped(ctx) else ''}"
        for r in recent
    ]
    return html.Div(
        [
            html.Button(
                "Load the inbox now", id=LOAD_BUTTON_ID, n_clicks=0, className="download-button"
            ),
            html.Span(id=LOAD_MESSAGE_ID, className="section-note", role="status"),
            html.Ul([html.Li(line) for line in lines], className="section-note") if lines else None,
        ],
        className="filter-bar",
    )


def request_load(ctx: PageContext) -> str:
    """Queue an inbox load for the worker (audited); the message shown to the admin."""
    req = queue.submit(ctx.settings, RequestKind.LOAD, ctx.viewer.name)
    audit("load.request", "inbox", {"request": req.id})
    return (
        f"Requested (request {req.id}): the worker loads the inbox within seconds; the run log "
        "below shows the result once it is published."
    )


# --- Layout and callbacks ----------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    controls: list[Any] = []
    try:
        ctx: PageContext | None = request_context()
    except Exception:
        ctx = None  # page_layout retries, logs and shows the error state
    if ctx is not None and ctx.viewer.may(Role.ADMIN):
        controls.append(load_controls(ctx))
    return frame.page_layout(
        PAGE,
        title="Data",
        intro="How fresh the numbers are, what each load did and which rows were refused.",
        query=query,
        content_id=CONTENT_ID,
        extra=[dcc.Store(id=TRIGGER_ID, data=0), dcc.Download(id=DOWNLOAD_ID)],
        controls=controls,
        show_filters=False,
        context=ctx,
    )


@callback(
    Output(LOAD_MESSAGE_ID, "children"),
    Input(LOAD_BUTTON_ID, "n_clicks"),
    prevent_initial_call=True,
)
@guarded(Role.ADMIN, on_error=states.error_message)
def load_inbox(ctx: PageContext, clicks: Any) -> str:
    if not clicks:
        raise PreventUpdate
    return request_load(ctx)


@callback(Output(CONTENT_ID, "children"), Input(TRIGGER_ID, "data"))
@guarded(Role.VIEWER)
def update_content(ctx: PageContext, _trigger: Any) -> Any:
    return content(ctx, datetime.now(UTC))


@callback(
    Output(DOWNLOAD_ID, "data"),
    Input({"type": DOWNLOAD_BUTTON, "page": PAGE, "view": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
@guarded(Role.VIEWER, on_error=frame.download_error)
def download(ctx: PageContext, clicks: Any) -> dict[str, Any]:
    view = frame.clicked_view(dash_ctx.triggered_id, clicks)
    if not ctx.published:
        raise PreventUpdate
    if view == "runs":
        table = runs_frame(ctx)
    elif view == "quarantine" and not is_scoped(ctx):
        table = quarantine_summary(ctx)
    elif view == "quarantine-rows" and ctx.viewer.may(Role.ADMIN) and not is_scoped(ctx):
        table = quarantine_rows(ctx)
    else:
        raise PreventUpdate
    return frame.csv_download(table, filename(f"{PAGE}-{view}"))
