"""Overlap (``/overlap``): which profiles fire on the same declarations, to find redundant ones.

Ranked pairs with their Jaccard similarity and containment (kpis.overlap) and a similarity
matrix of the most overlapping profiles. Users without an office scope read the cube's national
pair table; office-scoped users get the same figures counted from their own offices' facts
(the national pair table would show other offices' activity).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dash
import dash_ag_grid as dag
import plotly.graph_objects as go
import polars as pl
from dash import Input, State, dcc, html

from dashboard import filters as flt
from dashboard.components import states
from dashboard.components.figures import base_layout, nice_ticks, percent_tickformat, plot_texts
from dashboard.components.format import format_count
from dashboard.components.layout import graph, section
from dashboard.data import PageContext
from dashboard.pages import _frame as frame
from kpis.grain import period_end_day
from kpis.overlap import facts_queries, overlap_matrix, overlap_pairs, rank_pairs

dash.register_page(
    __name__, path="/overlap", name="Overlap", title="Overlap · Customs KPI", order=15
)

PAGE = "overlap"
CONTENT_ID = "overlap-content"
MIN_SHARED_ID = "overlap-min-shared"
DOWNLOAD_ID = "overlap-download"
PAIRS_GRID_ID = "overlap-pairs"
DEFAULT_MIN_SHARED = 5
TABLE_ROWS = 50
MATRIX_SIZE = 15


# --- Computation ---------------------------------------------------------------------------------
def pairs_frame(ctx: PageContext, filters: flt.PageFilters, min_shared: int) -> pl.DataFrame:
    assert ctx.cube is not None and filters.start is not None and filters.end is not None
    period = (filters.start, period_end_day(filters.end))
    offices = ctx.office_filter(filters) or ctx.viewer.offices
    if offices is None:
        return overlap_pairs(ctx.cube, period, min_shared=min_shared)
    (pairs_sql, pairs_params), (vol_sql, vol_params) = facts_queries(period, offices)
    return rank_pairs(
        ctx.query(pairs_sql, pairs_params), ctx.query(vol_sql, vol_params), min_shared=min_shared
    )


def matrix_figure(ranked: pl.DataFrame) -> go.Figure:
    """Jaccard between the profiles of the most similar pairs. The diagonal (a profile with
    itself, always 100 %) is left blank so the colour scale spans the real overlaps."""
    ids, matrix = overlap_matrix(ranked, top=MATRIX_SIZE)
    shown = [[None if i == j else v for j, v in enumerate(row)] for i, row in enumerate(matrix)]
    highest = max((v for row in shown for v in row if v is not None), default=0.0)
    # Explicit nice colour-bar ticks with the decimals their step needs ("0 % 0.5 % 1 %",
    # never "1 % 1 % 1 % 0 %").
    ticks, step = nice_ticks(0.0, highest or 1.0, 5)
    top = ticks[-1]
    fig = go.Figure(
        go.Heatmap(
            z=shown,
            x=plot_texts(ids),  # profile ids from the data: escaped for Plotly
            y=plot_texts(ids),
            zmin=0,
            zmax=top,
            colorscale="Blues",
            colorbar={
                "title": "Jaccard",
                "tickmode": "array",
                "tickvals": ticks,
                "tickformat": percent_tickformat(step),
            },
            hoverongaps=False,
            hovertemplate="%{y} × %{x}: %{z:.1%}<extra></extra>",
        )
    )
    base_layout(fig, legend=False)
    fig.update_layout(height=max(320, 28 * len(ids) + 120), yaxis={"autorange": "reversed"})
    return fig


def _percent(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "–"


# Numbers stay numbers (sorting); each shows the text the app formats, from "<field>_text".
_SHOWN_TEXT = {"function": "params.data[params.colDef.field + '_text']"}
_NUMBER = {"type": "numericColumn", "valueFormatter": _SHOWN_TEXT, "width": 130}
PAIR_COLUMNS: list[dict[str, Any]] = [
    {"field": "profile_a", "headerName": "Profile A", "cellRenderer": "ProfileLink",
     "pinned": "left", "width": 120},
    {"field": "profile_b", "headerName": "Profile B", "cellRenderer": "ProfileLink",
     "width": 120},
    {**_NUMBER, "field": "shared_declarations", "headerName": "Shared declarations",
     "width": 160},
    {**_NUMBER, "field": "declarations_a", "headerName": "Selections A"},
    {**_NUMBER, "field": "declarations_b", "headerName": "Selections B"},
    {**_NUMBER, "field": "jaccard", "headerName": "Jaccard", "width": 110},
    {**_NUMBER, "field": "containment", "headerName": "Containment"},
    {**_NUMBER, "field": "shared_controlled", "headerName": "Shared controls", "width": 150},
    {**_NUMBER, "field": "shared_irregular", "headerName": "Shared hits"},
]  # fmt: skip


def pair_rows(ranked: pl.DataFrame) -> list[dict[str, Any]]:
    """The most similar pairs as grid rows: each number with its displayed text, each profile
    with the address of its page."""
    rows = []
    for r in ranked.head(TABLE_ROWS).iter_rows(named=True):
        row: dict[str, Any] = {}
        for side in ("profile_a", "profile_b"):
            row[side] = r[side]
            row[f"{side}_href"] = f"/profiles/{quote(r[side], safe='')}"
        for name in ("shared_declarations", "declarations_a", "declarations_b",
                     "shared_controlled", "shared_irregular"):  # fmt: skip
            row[name] = r[name]
            row[f"{name}_text"] = format_count(r[name])
        for name in ("jaccard", "containment"):
            row[name] = r[name]
            row[f"{name}_text"] = _percent(r[name])
        rows.append(row)
    return rows


def pairs_table(ranked: pl.DataFrame) -> dag.AgGrid:
    """A grid, not an HTML table: 50 rows of 9 cells as Dash components took the browser
    most of a second to draw; the grid draws its cells itself."""
    return dag.AgGrid(
        id=PAIRS_GRID_ID,
        rowData=pair_rows(ranked),
        columnDefs=PAIR_COLUMNS,
        defaultColDef={"sortable": True, "resizable": True},
        dashGridOptions={"animateRows": False, "domLayout": "autoHeight"},
        className="ag-theme-quartz grid-pairs",
        style={},
    )


# --- Layout --------------------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    return frame.page_layout(
        PAGE,
        title="Overlap",
        intro="Which profiles select the same declarations? Highly similar pairs are "
        "candidates for merging or retiring one of them.",
        query=query,
        content_id=CONTENT_ID,
        show_channel=False,
        controls=[
            flt.labelled(
                "Minimum shared declarations",
                dcc.Input(
                    id=MIN_SHARED_ID,
                    type="number",
                    min=1,
                    step=1,
                    value=DEFAULT_MIN_SHARED,
                    debounce=True,
                ),
            )
        ],
    )


def content(ctx: PageContext, filters: flt.PageFilters, min_shared: int) -> Any:
    ranked = pairs_frame(ctx, filters, min_shared)
    if ranked.is_empty():
        return states.no_rows(
            f"No two profiles fired together on {min_shared} or more declarations."
        )
    return html.Div(
        [
            # Drawn with the CSV buttons that use it: a callback whose output is already on the
            # page runs once for nothing (a round trip) every time its buttons are drawn.
            dcc.Download(id=DOWNLOAD_ID),
            section(
                "Most similar pairs",
                pairs_table(ranked),
                page=PAGE,
                view="pairs",
                wide=True,
                note=f"{ranked.height} pairs sharing at least {min_shared} declarations; the "
                f"{min(TABLE_ROWS, ranked.height)} most similar shown (CSV: all). Jaccard = "
                "shared ÷ declarations selected by either; containment = shared ÷ the smaller "
                "profile's selections (100 % = it never fires without the other).",
            ),
            section(
                "Similarity matrix",
                graph(matrix_figure(ranked)),
                wide=True,
                note=f"Up to {MATRIX_SIZE} profiles, from the most similar pairs down; "
                "white: never fire together.",
            ),
        ],
        className="panel-grid",
    )


def _min_shared(raw: Any) -> int:
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return DEFAULT_MIN_SHARED


# --- Callbacks -----------------------------------------------------------------------------------
update_content = frame.content_callback(
    __name__,
    CONTENT_ID,
    lambda ctx, filters, min_shared: content(ctx, filters, _min_shared(min_shared)),
    Input(MIN_SHARED_ID, "value"),
)
download = frame.download_callback(
    __name__,
    PAGE,
    DOWNLOAD_ID,
    lambda ctx, filters, _view, min_shared: (
        pairs_frame(ctx, filters, _min_shared(min_shared)),
        "overlap",
    ),
    State(MIN_SHARED_ID, "value"),
)
