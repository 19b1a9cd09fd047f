"""Profiles (risk unit): does each profile earn its inspections?

One row per profile that fired in the period (and every registered profile, even silent):
status, volume, controls, hit rate with its 95 % interval, lift over random with its p-value,
revenue per control, a hit-rate sparkline and the underperformance flags with their reasons.
Sortable and filterable (dash-ag-grid); a click opens the profile. Below it, the register's
management KPIs (active, overdue for review, no hit, controls spent on low-lift profiles).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

import dash
import dash_ag_grid as dag
import polars as pl
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from appstate.roles import Role
from dashboard import filters as flt
from dashboard.components import states
from dashboard.components.format import format_p_value
from dashboard.components.layout import section, stat
from dashboard.components.sparkline import spark_text
from dashboard.data import PageContext, guarded
from dashboard.pages import _frame as frame
from kpis import catalogue
from kpis.definitions import Unit
from kpis.formatting import INSUFFICIENT, format_interval, format_value
from kpis.grain import add_months, period_end_day
from kpis.profiles import by_severity, profile_table

dash.register_page(
    __name__, path="/profiles", name="Profiles", title="Profiles · Customs KPI", order=10
)

PAGE = "profiles"
CONTENT_ID = "profiles-content"
GRID_ID = "profiles-grid"
NAV_ID = "profiles-nav"
FLAGGED_ONLY_ID = "profiles-flagged-only"
DOWNLOAD_ID = "profiles-download"
GRID_STATE_ID = "profiles-grid-state"


# --- Computation ---------------------------------------------------------------------------------
SPARK_MONTHS = 12
# Up to this many profiles the grid grows with its rows; beyond, it scrolls inside the page.
GRID_AUTO_HEIGHT_ROWS = 25


def period_bounds(filters: flt.PageFilters) -> tuple[date, date]:
    assert filters.start is not None and filters.end is not None
    return filters.start, period_end_day(filters.end)


def profile_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    """The grid and its CSV: kpis.profiles.profile_table over the selected period (flags are
    judged over the rules' evidence window ending with the period's last month, as on every
    surface), plus a 12-month hit-rate sparkline per profile; ranked by severity
    (kpis.profiles.by_severity: the costliest flagged profiles first)."""
    assert ctx.cube is not None and filters.end is not None
    table = profile_table(
        ctx.cube,
        period=period_bounds(filters),
        flag_config=ctx.settings.flag_config(),
        filters=ctx.kpi_filters(filters),
    )
    spark_span = (add_months(filters.end, -(SPARK_MONTHS - 1)), filters.end)
    monthly = ctx.compute("hit_rate", filters, by=("profile", "month"), period=spark_span)
    points = (
        monthly.sort("profile", "month")
        .with_columns(pl.when(pl.col("sufficient")).then(pl.col("value")).alias("shown"))
        .group_by("profile", maintain_order=True)
        .agg(pl.col("shown"))
    )
    sparks = pl.DataFrame(
        {
            "profile_id": points["profile"].to_list(),
            "trend": [spark_text(v) for v in points["shown"].to_list()],
        },
        schema={"profile_id": pl.String, "trend": pl.String},
    )
    return by_severity(
        table.join(sparks, on="profile_id", how="left").with_columns(pl.col("trend").fill_null(""))
    )


# The register's health at the period's end, and profiles that cost controls in the period.
MANAGEMENT_KPIS: tuple[str, ...] = (
    "active_profiles",
    "review_overdue",
    "zero_hit_profiles",
    "controls_low_lift",
)


def management_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    """The profile-management KPIs over the period (register ones at its last day): one row
    per KPI with ``kpi_id``, ``value``, ``sufficient``, through the engine."""
    rows = []
    for kpi_id in MANAGEMENT_KPIS:
        row = ctx.compute(kpi_id, filters, period=period_bounds(filters)).row(0, named=True)
        rows.append(
            {"kpi_id": kpi_id, "value": row["value"], "sufficient": row.get("sufficient", True)}
        )
    schema = {"kpi_id": pl.String, "value": pl.Float64, "sufficient": pl.Boolean}
    return pl.DataFrame(rows, schema=schema, orient="row")


def management_section(ctx: PageContext, filters: flt.PageFilters) -> html.Section:
    stats = []
    for r in management_frame(ctx, filters).iter_rows(named=True):
        kpi = catalogue.get(r["kpi_id"])
        shown = format_value(r["value"], kpi.unit, sufficient=r["sufficient"])
        stats.append(stat(kpi.label, shown))
    return section(
        "Profile management",
        html.Div(stats, className="stat-list"),
        page=PAGE,
        view="management",
        wide=True,
        note="Register counts at the period's last day; no-hit and low-lift profiles over the "
        "period.",
        kpis=[catalogue.get(k) for k in MANAGEMENT_KPIS],
    )


def grid_rows(table: pl.DataFrame, min_sample: int) -> list[dict[str, Any]]:
    """Rows for the grid: numbers rounded for display but still numbers (so sorting and the
    number filters work); rates in percent; an insufficient sample shows no rate at all."""
    rows = []
    pct = Unit.PERCENT
    for r in table.iter_rows(named=True):
        ok = bool(r["sufficient"])
        rate = r["hit_rate"] if ok else None
        rows.append(
            {
                "profile": r["profile_id"],
                # Quoted for the path; the link's text is escaped by React (never markup).
                "profile_href": f"/profiles/{quote(str(r['profile_id']), safe='')}",
                "name": r["name"] or "",
                "status": r["status"],
                "declarations": r["declarations"],
                "controls": r["controlled"],
                "hits": r["irregular"],
                "hit_rate": None if rate is None else round(rate * 100, 2),
                "interval": format_interval(r["ci_low"], r["ci_high"], pct)
                if ok
                else f"{INSUFFICIENT} (< {min_sample} controls)",
                "lift": None if not ok or r["lift"] is None else round(r["lift"], 2),
                "p_value": format_p_value(r["p_value"]) if ok else "–",
                "revenue_per_control": None
                if not ok or r["revenue_per_control"] is None
                else round(r["revenue_per_control"], 0),
                "trend": r["trend"],
                "flags": "; ".join(r["flag_reasons"] or []) or None,
                "flag_rules": ", ".join(r["flags"] or []),
                "severity": None if r["severity"] is None else round(r["severity"]),
                "evidence": "; ".join(r["notices"] or []) or None,
            }
        )
    return rows


# Empty values (an insufficient sample, no severity) sort last in both directions
# (assets/dashAgGridComponentFunctions.js).
_EMPTY_LAST = {"function": "emptyLast"}


def _num(field: str, header: str, width: int, **extra: Any) -> dict[str, Any]:
    return {"field": field, "headerName": header, "type": "numericColumn",
            "filter": "agNumberColumnFilter", "width": width, "comparator": _EMPTY_LAST,
            **extra}  # fmt: skip


# The key columns first, sized to fit a 1366 px screen together (id, name, flags, wasted
# inspections, hit rate and its interval, lift, volume, hits, sparkline); the rest follow,
# reachable by scrolling sideways without pushing the key ones out of view. Headers wrap.
COLUMNS: list[dict[str, Any]] = [
    {
        "field": "profile",
        "headerName": "Profile",
        "pinned": "left",
        "width": 118,
        "filter": "agTextColumnFilter",
        "tooltipField": "name",
        "cellRenderer": "ProfileLink",
        "comparator": _EMPTY_LAST,
    },
    {
        "field": "name",
        "headerName": "Name",
        "minWidth": 120,
        "flex": 1,
        "tooltipField": "name",
        "comparator": _EMPTY_LAST,
    },
    {
        "field": "flags",
        "headerName": "Flags (why)",
        "minWidth": 170,
        "flex": 2,
        "tooltipField": "flags",
        "cellClass": "grid-flags",
        "comparator": _EMPTY_LAST,
    },
    _num(
        "severity",
        "Wasted inspections",
        112,
        headerTooltip="Severity of the flags: inspections only this profile caused in the "
        "recent months beyond what its findings needed at the expected hit rate",
    ),
    _num("hit_rate", "Hit rate %", 82),
    {"field": "interval", "headerName": "95 % interval", "width": 132,
     "comparator": _EMPTY_LAST},
    _num("lift", "Lift ×", 70),
    _num("declarations", "Volume", 84),
    _num("hits", "Hits", 68),
    {
        "field": "trend",
        "headerName": "Hit rate, 12 months",
        "width": 112,
        "cellClass": "spark-cell",
        "sortable": False,
        "filter": False,
    },
    # Available, after the key ones.
    {"field": "status", "headerName": "Status", "width": 95},
    _num("controls", "Controls", 92),
    {"field": "p_value", "headerName": "p-value", "width": 85},
    _num("revenue_per_control", "Revenue / control", 110),
    {
        "field": "evidence",
        "headerName": "Not yet decided",
        "minWidth": 220,
        "tooltipField": "evidence",
        "comparator": _EMPTY_LAST,
    },
]  # fmt: skip


# --- Layout and callbacks ------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    return frame.page_layout(
        PAGE,
        title="Profiles",
        intro="Every risk profile over the selected period: does it find more than random "
        "selection does? Click a profile to see its history.",
        query=query,
        content_id=CONTENT_ID,
        extra=[
            dcc.Download(id=DOWNLOAD_ID),
            dcc.Location(id=NAV_ID, refresh="callback-nav"),
            # The grid's sort and filters from the URL (a reload or shared link restores them).
            dcc.Store(
                id=GRID_STATE_ID,
                data={"sort": query.get("sort"), "filter": flt.json_param(query.get("filter"))},
            ),
            flt.view_param("sort"),
            flt.view_param("filter"),
        ],
        controls=[
            dcc.Checklist(
                id=FLAGGED_ONLY_ID,
                options=[{"label": " flagged only", "value": "flagged"}],
                value=["flagged"] if str(query.get("flagged") or "") in ("1", "true") else [],
                inline=True,
            )
        ],
        # Without a period in the link, the rules' evidence window (last 12 months).
    )


def flagged_only(table: pl.DataFrame, toggle: Any) -> pl.DataFrame:
    """The rows left by the "flagged only" toggle (by kpis.flags' verdict: a flag or none)."""
    if "flagged" not in (toggle or []):
        return table
    return table.filter(pl.col("flags").list.len() > 0)


def content(
    ctx: PageContext, filters: flt.PageFilters, toggle: Any = None, grid_state: Any = None
) -> Any:
    state = grid_state if isinstance(grid_state, dict) else {}
    every = profile_frame(ctx, filters)
    if every.is_empty():
        return frame.no_data(ctx)
    table = flagged_only(every, toggle)
    if table.is_empty():
        return states.no_rows(
            "No profile is flagged over this period.",
            hint="Untick “flagged only” to see every profile.",
        )
    grid = dag.AgGrid(
        id=GRID_ID,
        rowData=grid_rows(table, ctx.settings.min_sample),
        columnDefs=flt.sorted_columns(COLUMNS, state.get("sort")),
        filterModel=state.get("filter") if isinstance(state.get("filter"), dict) else {},
        defaultColDef={
            "sortable": True,
            "filter": True,
            "floatingFilter": True,
            "resizable": True,
            "wrapHeaderText": True,
            "autoHeaderHeight": True,
        },
        dashGridOptions={
            "animateRows": False,
            "tooltipShowDelay": 300,
            "domLayout": "autoHeight" if table.height <= GRID_AUTO_HEIGHT_ROWS else "normal",
            # Selecting a row opens the profile: by click, or from the keyboard (arrows, then
            # Space), which a click event alone would not allow.
            "rowSelection": {
                "mode": "singleRow",
                "checkboxes": False,
                "enableClickSelection": True,
            },
        },
        className="ag-theme-quartz grid-profiles",
        getRowId="params.data.profile",
        style={} if table.height <= GRID_AUTO_HEIGHT_ROWS else {"height": "640px"},
    )
    flagged = every.filter(pl.col("flags").list.len() > 0).height
    shown = "" if table.height == every.height else f" (showing the {table.height} flagged)"
    note = (
        f"{every.height} profiles · {flagged} flagged{shown}, costliest first (wasted "
        "inspections). "
        f"Hit rate, lift and revenue per control need at least {ctx.settings.min_sample} "
        "controls. Flags are judged over the evidence window ending with the period's last "
        f"month. Flag rules: {ctx.settings.flag_config().describe()}. "
        "Lift = hit rate ÷ random hit rate "
        "(same period and offices); p-value of the difference (Fisher's exact test for small "
        "counts)."
    )
    performance = section(
        "Profile performance",
        grid,
        page=PAGE,
        view="table",
        note=note,
        wide=True,
        kpis=[
            catalogue.get(k) for k in ("hit_rate", "lift", "revenue_per_control", "profile_volume")
        ],
    )
    return [performance, management_section(ctx, filters)]


update_content = frame.content_callback(
    __name__, CONTENT_ID, content, Input(FLAGGED_ONLY_ID, "value"), State(GRID_STATE_ID, "data")
)
flt.sync_view_param("sort", GRID_ID, "columnState", "syncGridSort")
flt.sync_view_param("filter", GRID_ID, "filterModel")


@callback(
    Output(NAV_ID, "href"),
    Input(GRID_ID, "selectedRows"),
    *frame.filter_states(),
    prevent_initial_call=True,
)
@guarded(Role.VIEWER, on_error=lambda _ref: dash.no_update)
def open_profile(
    ctx: PageContext, selected: Any, start: Any, end: Any, offices: Any, channel: Any
) -> str:
    """Selecting a row opens that profile, keeping the filters."""
    if not isinstance(selected, list) or not selected or not isinstance(selected[0], dict):
        raise PreventUpdate
    profile_id = selected[0].get("profile")
    if not profile_id:
        raise PreventUpdate
    filters = frame.filters_for(ctx, start, end, offices, channel) or flt.PageFilters()
    return f"/profiles/{quote(str(profile_id), safe='')}{flt.to_query(filters)}"


def download_table(
    ctx: PageContext, filters: flt.PageFilters, view: str, toggle: Any = None
) -> tuple[pl.DataFrame, str]:
    if view == "management":
        return management_frame(ctx, filters), f"{PAGE}-{view}"
    return flagged_only(profile_frame(ctx, filters), toggle), PAGE


download = frame.download_callback(
    __name__, PAGE, DOWNLOAD_ID, download_table, State(FLAGGED_ONLY_ID, "value")
)
