"""Changes (``/changes``): did each recorded change work? Before / after of every change-log
event and review decision in the selected period (kpis.beforeafter), with the test and a
summary of which changes improved results and which did not; and the change-log events per
month and type (KPI ``profile_changes``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dash
import dash_ag_grid as dag
import polars as pl
from dash import Input, State, dcc, html

from appstate.review import store_for
from dashboard import filters as flt
from dashboard.components import states
from dashboard.components.figures import stacked_bars
from dashboard.components.format import (
    format_count,
    format_p_value,
    format_timestamp,
)
from dashboard.components.layout import graph, section
from dashboard.components.tables import data_table
from dashboard.context import current_settings
from dashboard.data import PageContext
from dashboard.pages import _frame as frame
from kpis import catalogue
from kpis.beforeafter import (
    EVENT_SCHEMA,
    VERDICT_LABELS,
    Verdict,
    Window,
    before_after,
    change_log_events,
    summary,
)
from kpis.definitions import Unit
from kpis.domain import ChangeType
from kpis.formatting import format_interval, format_value
from kpis.grain import period_end_day

dash.register_page(
    __name__, path="/changes", name="Changes", title="Changes · Customs KPI", order=14
)

PAGE = "changes"
CONTENT_ID = "changes-content"
WINDOW_ID = "changes-window"
SOURCES_ID = "changes-sources"
DOWNLOAD_ID = "changes-download"
WINDOW_CHOICES = (1, 2, 3, 6, 12)


def default_window() -> int:
    """The rule set's before/after window (CUSTOMS_KPI_FLAG_CHANGE_WINDOW_MONTHS): with it, the
    verdicts here are the ones the worse_after_change flag uses."""
    return current_settings().flag_change_window_months


def window_choices() -> tuple[int, ...]:
    return tuple(sorted({*WINDOW_CHOICES, default_window()}))


DETAIL_GRID_ID = "changes-detail"
SOURCE_LABELS = {"decision": "review decision", "change_log": "change log"}


# --- Computation ---------------------------------------------------------------------------------
def events(ctx: PageContext, filters: flt.PageFilters, sources: list[str]) -> pl.DataFrame:
    """Change-log events and review decisions made in the selected period."""
    assert ctx.cube is not None and filters.start is not None and filters.end is not None
    parts = []
    if "change_log" in sources:
        parts.append(change_log_events(ctx.cube))
    if "decision" in sources:
        decisions = store_for(ctx.settings.app_db_path).decisions_frame()
        # A decision on a profile the user cannot see does not exist for them.
        known = set(ctx.cube.register["profile_id"].to_list()) | set(
            ctx.cube.profiles["profile_id"].unique().to_list()
        )
        parts.append(decisions.filter(pl.col("profile_id").is_in(sorted(known))))
    if not parts:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    stacked = pl.concat([p.select(list(EVENT_SCHEMA)) for p in parts])
    day = pl.col("changed_at").dt.date()
    if filters.end == max(ctx.months(), default=filters.end):
        # Up to the latest data: decisions taken since (the meeting after it) belong here.
        return stacked.filter(day >= filters.start)
    return stacked.filter(day.is_between(filters.start, period_end_day(filters.end)))


def results_frame(
    ctx: PageContext, filters: flt.PageFilters, months: int, sources: list[str]
) -> pl.DataFrame:
    assert ctx.cube is not None
    window = Window(months=months, min_sample=ctx.settings.min_sample)
    return before_after(
        ctx.cube, events(ctx, filters, sources), window, ctx.kpi_filters(filters, channels=())
    )


# --- Layout --------------------------------------------------------------------------------------
def change_counts_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    """Change-log events per month and change type over the period (``profile_changes``)."""
    assert filters.start is not None and filters.end is not None
    period = (filters.start, period_end_day(filters.end))
    return ctx.compute("profile_changes", filters, by=("month",), period=period)


def layout(**query: Any) -> html.Div:
    try:
        months = int(query.get("window") or default_window())
    except ValueError:
        months = default_window()
    return frame.page_layout(
        PAGE,
        title="Changes",
        intro="Did each change to a profile improve what it finds? Hit rate, controls and "
        "revenue per control before and after every change-log entry and review decision.",
        query=query,
        content_id=CONTENT_ID,
        show_channel=False,
        controls=[
            flt.labelled(
                "Months each side",
                dcc.Dropdown(
                    id=WINDOW_ID,
                    clearable=False,
                    searchable=False,
                    options=[{"label": str(m), "value": m} for m in window_choices()],
                    value=months if months in window_choices() else default_window(),
                ),
                "filter-month",
            ),
            dcc.Checklist(
                id=SOURCES_ID,
                options=[
                    {"label": " change log", "value": "change_log"},
                    {"label": " review decisions", "value": "decision"},
                ],
                value=["change_log", "decision"],
                inline=True,
            ),
        ],
        extra=[dcc.Download(id=DOWNLOAD_ID)],
    )


def summary_table(results: pl.DataFrame) -> html.Div:
    rows = [
        {
            "Change": r["change_type"],
            "From": SOURCE_LABELS.get(r["source"], r["source"]),
            "Changes": format_count(r["changes"]),
            **{VERDICT_LABELS[v].capitalize(): format_count(r[v.value]) for v in Verdict},
        }
        for r in summary(results).iter_rows(named=True)
    ]
    numeric = {"Changes", *(VERDICT_LABELS[v].capitalize() for v in Verdict)}
    return data_table(rows, numeric=numeric)


_TEXT = {"function": "params.data[params.colDef.field + '_text']"}
_NUMBER = {"type": "numericColumn", "valueFormatter": _TEXT, "width": 130}
DETAIL_COLUMNS: list[dict[str, Any]] = [
    {"field": "profile_id", "headerName": "Profile", "cellRenderer": "ProfileLink",
     "pinned": "left", "width": 110},
    {"field": "when", "headerName": "When", "width": 150},
    {"field": "change_type", "headerName": "Change", "width": 120},
    {"field": "source", "headerName": "From", "width": 140},
    {"field": "summary", "headerName": "What", "width": 260, "tooltipField": "summary"},
    {**_NUMBER, "field": "controlled_before", "headerName": "Controls before"},
    {**_NUMBER, "field": "hit_rate_before", "headerName": "Hit rate before"},
    {"field": "ci_before", "headerName": "95 % before", "width": 140},
    {**_NUMBER, "field": "controlled_after", "headerName": "Controls after"},
    {**_NUMBER, "field": "hit_rate_after", "headerName": "Hit rate after"},
    {"field": "ci_after", "headerName": "95 % after", "width": 140},
    {**_NUMBER, "field": "hit_rate_delta", "headerName": "Δ hit rate", "width": 120},
    {**_NUMBER, "field": "revenue_per_control_before", "headerName": "Revenue / control before",
     "width": 170},
    {**_NUMBER, "field": "revenue_per_control_after", "headerName": "Revenue / control after",
     "width": 170},
    {**_NUMBER, "field": "p_value", "headerName": "p-value", "width": 110},
    {"field": "verdict", "headerName": "Verdict", "width": 230,
     "cellClassRules": {
         "verdict-good": "params.data.verdict_key === 'improved'",
         "verdict-bad": "params.data.verdict_key === 'worsened'",
         "verdict-muted": "['insufficient_data', 'stopped_selecting', 'too_early']"
                          ".includes(params.data.verdict_key)",
     }},
]  # fmt: skip


def detail_rows(results: pl.DataFrame) -> list[dict[str, Any]]:
    """One grid row per change: each number with its displayed text (sorting uses the number)."""
    pct = Unit.PERCENT
    rows = []
    for r in results.iter_rows(named=True):
        verdict = Verdict(r["verdict"])
        delta = r["hit_rate_delta"]
        rows.append(
            {
                "profile_id": r["profile_id"],
                "profile_id_href": f"/profiles/{quote(r['profile_id'], safe='')}",
                "when": format_timestamp(r["changed_at"]),
                "change_type": r["change_type"],
                "source": SOURCE_LABELS.get(r["source"], r["source"]),
                "summary": r["summary"] or "",
                "controlled_before": r["controlled_before"],
                "controlled_before_text": format_count(r["controlled_before"]),
                "hit_rate_before": r["hit_rate_before"],
                "hit_rate_before_text": format_value(r["hit_rate_before"], pct),
                "ci_before": format_interval(r["ci_low_before"], r["ci_high_before"], pct),
                "controlled_after": r["controlled_after"],
                "controlled_after_text": format_count(r["controlled_after"]),
                "hit_rate_after": r["hit_rate_after"],
                "hit_rate_after_text": format_value(r["hit_rate_after"], pct),
                "ci_after": format_interval(r["ci_low_after"], r["ci_high_after"], pct),
                "hit_rate_delta": delta,
                "hit_rate_delta_text": "–" if delta is None else f"{delta * 100:+.1f} pp",
                "revenue_per_control_before": r["revenue_per_control_before"],
                "revenue_per_control_before_text": format_value(
                    r["revenue_per_control_before"], Unit.CURRENCY
                ),
                "revenue_per_control_after": r["revenue_per_control_after"],
                "revenue_per_control_after_text": format_value(
                    r["revenue_per_control_after"], Unit.CURRENCY
                ),
                "p_value": r["p_value"],
                "p_value_text": format_p_value(r["p_value"]),
                "verdict_key": verdict.value,
                "verdict": VERDICT_LABELS[verdict]
                + (
                    ""
                    if r["complete"] or verdict is Verdict.TOO_EARLY
                    else " (after-window incomplete)"
                ),
            }
        )
    return rows


def detail_table(results: pl.DataFrame) -> dag.AgGrid:
    """A grid, not an HTML table: hundreds of changes as Dash components took the browser more
    than a second to draw at national scale; the grid draws (and virtualises) its own cells."""
    return dag.AgGrid(
        id=DETAIL_GRID_ID,
        rowData=detail_rows(results),
        columnDefs=DETAIL_COLUMNS,
        defaultColDef={"sortable": True, "resizable": True, "filter": True},
        dashGridOptions={"animateRows": False, "tooltipShowDelay": 300},
        className="ag-theme-quartz grid-changes",
        style={"height": "520px"},
    )


def content(ctx: PageContext, filters: flt.PageFilters, months: int, sources: list[str]) -> Any:
    results = results_frame(ctx, filters, months, sources)
    if results.is_empty():
        return states.no_rows("No change or decision was recorded in the selected period.")
    improved = results.filter(pl.col("verdict") == Verdict.IMPROVED.value).height
    worsened = results.filter(pl.col("verdict") == Verdict.WORSENED.value).height
    sections = [
        section(
            "Which changes worked",
            summary_table(results),
            page=PAGE,
            view="summary",
            wide=True,
            note=f"{results.height} changes: {improved} improved the hit rate, {worsened} "
            "worsened it (two-sided test at 5 %), the rest show no significant change or "
            f"have fewer than {ctx.settings.min_sample} controls on a side.",
        ),
        section(
            f"Before and after each change ({months} full months each side)",
            detail_table(results),
            page=PAGE,
            view="changes",
            wide=True,
            note="The month of the change is left out (it mixes both). p-value: "
            "two-proportion test, Fisher's exact test for small counts. "
            "Too early to tell: no month of data after the change's month yet.",
        ),
    ]
    if "change_log" in sources:
        sections.append(
            section(
                "Profile changes by month",
                graph(
                    stacked_bars(
                        change_counts_frame(ctx, filters),
                        x="month",
                        series="change_type",
                        unit=Unit.COUNT,
                        order=[t.value for t in ChangeType],
                    )
                ),
                page=PAGE,
                view="events",
                wide=True,
                kpis=[catalogue.get("profile_changes")],
            )
        )
    return html.Div(sections, className="panel-grid")


# --- Callbacks -----------------------------------------------------------------------------------
def _months(raw: Any) -> int:
    return int(raw) if raw in window_choices() else default_window()


update_content = frame.content_callback(
    __name__,
    CONTENT_ID,
    lambda ctx, filters, window, sources: content(
        ctx, filters, _months(window), list(sources or [])
    ),
    Input(WINDOW_ID, "value"),
    Input(SOURCES_ID, "value"),
)


def download_table(
    ctx: PageContext, filters: flt.PageFilters, view: str, window: Any, sources: Any
) -> tuple[pl.DataFrame, str]:
    if view == "events":
        return change_counts_frame(ctx, filters), f"changes-{view}"
    results = results_frame(ctx, filters, _months(window), list(sources or []))
    return (summary(results) if view == "summary" else results), f"changes-{view}"


download = frame.download_callback(
    __name__,
    PAGE,
    DOWNLOAD_ID,
    download_table,
    State(WINDOW_ID, "value"),
    State(SOURCES_ID, "value"),
)
