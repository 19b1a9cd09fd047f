"""What-if (``/what-if``): the effect of retiring, suspending or thinning one profile or a set,
estimated from the selected period's history (kpis.whatif), with its assumptions stated.

One profile is answered from the cube; a set from the profile hits of the period (declarations
on which no profile outside the set fired), always within the user's offices.
"""

from __future__ import annotations

from typing import Any

import dash
import polars as pl
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import filters as flt
from dashboard.components import states
from dashboard.components.format import format_count, format_delta
from dashboard.components.layout import section, stat
from dashboard.components.tables import data_table
from dashboard.data import PageContext
from dashboard.pages import _frame as frame
from kpis.definitions import Unit
from kpis.formatting import format_interval, format_value
from kpis.grain import period_end_day
from kpis.whatif import Action, Scenario, WhatIfResult, hits_query, what_if

dash.register_page(
    __name__, path="/what-if", name="What-if", title="What-if · Customs KPI", order=13
)

PAGE = "whatif"
CONTENT_ID = "whatif-content"
PROFILES_ID = "whatif-profiles"
ACTION_ID = "whatif-action"
KEEP_ID = "whatif-keep"
DOWNLOAD_ID = "whatif-download"
DEFAULT_KEEP_PERCENT = 50
MAX_PROFILES = 50

ACTION_LABELS = {
    Action.RETIRE: "Retire",
    Action.SUSPEND: "Suspend",
    Action.LOWER_SELECTION: "Lower the selection %",
}
MEASURE_LABELS = {
    "inspections": ("Inspections (any control channel)", Unit.COUNT),
    "physical_inspections": ("Physical inspections (red)", Unit.COUNT),
    "controls": ("Completed controls", Unit.COUNT),
    "detections": ("Detections", Unit.COUNT),
    "revenue": ("Revenue from controls", Unit.CURRENCY),
    "hit_rate": ("National hit rate", Unit.PERCENT),
    "inspection_rate": ("Inspection rate", Unit.PERCENT),
    "physical_inspection_rate": ("Physical inspection rate", Unit.PERCENT),
    "revenue_per_control": ("Revenue per control", Unit.CURRENCY),
}


# --- Computation ---------------------------------------------------------------------------------
def parse_profiles(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = raw.split(",")
    picked = [str(p).strip() for p in (raw or []) if str(p).strip()]
    return tuple(dict.fromkeys(picked))[:MAX_PROFILES]


def _keep_percent(raw: Any) -> float:
    """The "keep % of current selections" control (or ``?keep=`` in the URL), within 0–99."""
    try:
        keep = float(raw)
    except (TypeError, ValueError):
        return DEFAULT_KEEP_PERCENT
    return min(max(keep, 0.0), 99.0) if keep == keep else DEFAULT_KEEP_PERCENT  # NaN


def scenario_for(profiles: tuple[str, ...], action: Any, keep_percent: Any) -> Scenario:
    chosen = Action(action) if action in {a.value for a in Action} else Action.RETIRE
    if chosen is not Action.LOWER_SELECTION:
        return Scenario(profiles, chosen)
    return Scenario(profiles, chosen, _keep_percent(keep_percent) / 100)


def estimate(ctx: PageContext, filters: flt.PageFilters, scenario: Scenario) -> WhatIfResult:
    """kpis.whatif over the filters' period and the user's offices (picked, else their scope)."""
    assert ctx.cube is not None and filters.start is not None and filters.end is not None
    period = (filters.start, period_end_day(filters.end))
    offices = ctx.office_filter(filters) or ctx.viewer.offices or ()
    hits = None
    if len(scenario.profiles) > 1:
        sql, params = hits_query(scenario.profiles, period, offices)
        hits = ctx.query(sql, params)
    return what_if(ctx.cube, scenario, period, hits=hits, offices=offices)


def result_frame(result: WhatIfResult) -> pl.DataFrame:
    """What the page shows and the CSV holds: the before/after table with the scenario."""
    s = result.scenario
    return result.summary_frame().with_columns(
        pl.lit(",".join(s.profiles)).alias("profiles"),
        pl.lit(s.action.value).alias("action"),
        pl.lit(s.kept).alias("selection_kept"),
        pl.lit(result.period[0]).alias("period_from"),
        pl.lit(result.period[1]).alias("period_to"),
        pl.lit(result.method).alias("method"),
    )


def profile_options(ctx: PageContext) -> list[dict[str, str]]:
    assert ctx.cube is not None
    names = dict(ctx.cube.register.select("profile_id", "name").iter_rows())
    ids = sorted(set(names) | set(ctx.cube.profiles["profile_id"].unique().to_list()))
    return [{"label": f"{p} · {names.get(p) or 'unregistered'}", "value": p} for p in ids]


# --- Layout --------------------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    profiles = parse_profiles(query.get("profiles"))
    action = query.get("action") if query.get("action") in {a.value for a in Action} else None
    return frame.page_layout(
        PAGE,
        title="What-if",
        intro="What would retiring, suspending or thinning these profiles have changed over "
        "the selected period? Estimated from history; the assumptions are listed below.",
        query=query,
        content_id=CONTENT_ID,
        show_channel=False,
        controls=[
            flt.labelled(
                "Profiles",
                dcc.Dropdown(
                    id=PROFILES_ID,
                    options=[{"label": p, "value": p} for p in profiles],
                    value=list(profiles),
                    multi=True,
                    placeholder="Choose one profile or a set",
                ),
                "filter-offices",
            ),
            dcc.RadioItems(
                id=ACTION_ID,
                options=[{"label": label, "value": a.value} for a, label in ACTION_LABELS.items()],
                value=action or Action.RETIRE.value,
                inline=True,
                className="radio-row",
            ),
            flt.labelled(
                "Keep % of current selections",
                dcc.Input(
                    id=KEEP_ID,
                    type="number",
                    min=0,
                    max=99,
                    step=1,
                    value=query.get("keep") or DEFAULT_KEEP_PERCENT,
                    debounce=True,
                ),
            ),
        ],
        extra=[
            dcc.Download(id=DOWNLOAD_ID),
            flt.view_param("profiles"),
            flt.view_param("action", Action.RETIRE.value),
            flt.view_param("keep", DEFAULT_KEEP_PERCENT),
        ],
    )


# The scenario is in the URL (profiles, action, keep): a reload or a shared link shows it again.
flt.sync_view_param("profiles", PROFILES_ID, "value")
flt.sync_view_param("action", ACTION_ID, "value")
flt.sync_view_param("keep", KEEP_ID, "value")


def _per_month(value: float, months: int) -> str:
    return f"{format_count(value / months)} a month" if months else ""


def headline(result: WhatIfResult) -> html.Div:
    r, own, months = result.removed, result.own, result.months
    share = r.irregular / own.irregular if own.irregular else None
    return html.Div(
        [
            stat("Inspections saved", format_count(r.inspections),
                  _per_month(r.inspections, months)),
            stat("Physical inspections saved", format_count(r.physical),
                  _per_month(r.physical, months)),
            stat("Detections at risk", format_count(r.irregular),
                  f"of {format_count(own.irregular)} made by the set"
                  + (f" ({share:.0%})" if share is not None else "")),
            stat("Revenue at risk", format_value(r.revenue, Unit.CURRENCY, compact=True),
                  f"of {format_value(own.revenue, Unit.CURRENCY, compact=True)}"),
            stat("Detections kept", format_count(result.detections_kept),
                  "other profiles or independent selection still make them"),
        ],
        className="stat-list",
    )  # fmt: skip


def comparison_table(frame_: pl.DataFrame) -> html.Div:
    rows = []
    for r in frame_.iter_rows(named=True):
        label, unit = MEASURE_LABELS[r["measure"]]
        before, after = format_value(r["before"], unit), format_value(r["after"], unit)
        if r["ci_low_before"] is not None:
            before += f" ({format_interval(r['ci_low_before'], r['ci_high_before'], unit)})"
        if r["ci_low_after"] is not None:
            after += f" ({format_interval(r['ci_low_after'], r['ci_high_after'], unit)})"
        rows.append(
            {"Measure": label, "Observed": before, "Without the selections": after,
             "Change": format_delta(r["change"], unit)}
        )  # fmt: skip
    return data_table(rows, numeric={"Observed", "Without the selections", "Change"})


def content(ctx: PageContext, filters: flt.PageFilters, scenario: Scenario) -> Any:
    result = estimate(ctx, filters, scenario)
    if result.own.declarations == 0:
        return states.no_rows(
            f"{', '.join(scenario.profiles)} selected nothing in this period and these offices."
        )
    method = (
        "counted from the cube (declarations on which only this profile fired)"
        if result.method == "cube"
        else "counted from the profile hits (declarations on which no profile outside the set "
        "fired)"
    )
    return [
        headline(result),
        html.Div(
            [
                section(
                    "National figures, observed and without the selections",
                    comparison_table(result.summary_frame()),
                    page=PAGE,
                    view="summary",
                    wide=True,
                    note=f"{result.months} months, {method}. Hit rates with their 95 % Wilson "
                    "interval; a lowered selection % gives expected values.",
                ),
                section(
                    "Assumptions",
                    html.Ul(
                        [
                            html.Li(a.text, id=f"whatif-assumption-{a.id}")
                            for a in result.assumptions
                        ]
                    ),
                    wide=True,
                ),
            ],
            className="panel-grid",
        ),
    ]


# --- Callbacks -----------------------------------------------------------------------------------


def content_and_options(
    ctx: PageContext, filters: flt.PageFilters, profiles: Any, action: Any, keep: Any
) -> tuple[Any, Any]:
    options = profile_options(ctx)
    chosen = parse_profiles(profiles)
    if not chosen:
        return states.no_rows("Choose one profile, or several to estimate them as a set."), options
    return content(ctx, filters, scenario_for(chosen, action, keep)), options


def download_table(
    ctx: PageContext, filters: flt.PageFilters, _view: str, profiles: Any, action: Any, keep: Any
) -> tuple[pl.DataFrame, str]:
    chosen = parse_profiles(profiles)
    if not chosen:
        raise PreventUpdate
    return result_frame(estimate(ctx, filters, scenario_for(chosen, action, keep))), "what-if"


update_content = frame.content_callback(
    __name__,
    CONTENT_ID,
    content_and_options,
    Input(PROFILES_ID, "value"),
    Input(ACTION_ID, "value"),
    Input(KEEP_ID, "value"),
    options=[Output(PROFILES_ID, "options")],
)
download = frame.download_callback(
    __name__,
    PAGE,
    DOWNLOAD_ID,
    download_table,
    State(PROFILES_ID, "value"),
    State(ACTION_ID, "value"),
    State(KEEP_ID, "value"),
)
