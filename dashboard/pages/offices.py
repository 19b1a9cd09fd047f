"""Offices compared: who inspects more, who finds more, who clears faster.

A scatter of physical inspection rate against hit rate (bubble = declarations), then volumes,
rates and release times per office, all over the selected period.
"""

from __future__ import annotations

from typing import Any

import dash
import polars as pl
from dash import dcc, html

from dashboard import filters as flt
from dashboard.components import palette
from dashboard.components.cards import STATUS_OF_LABEL, status_mark
from dashboard.components.figures import bar_figure, scatter_figure
from dashboard.components.format import format_count
from dashboard.components.layout import graph, section
from dashboard.components.tables import data_table
from dashboard.data import PageContext
from dashboard.pages import _frame as frame
from kpis import catalogue
from kpis.definitions import Unit
from kpis.formatting import INSUFFICIENT, format_value
from kpis.targets import TargetStatus, kpi_status, status_label

dash.register_page(
    __name__, path="/offices", name="Offices", title="Offices · Customs KPI", order=30
)

PAGE = "offices"
CONTENT_ID = "offices-content"
DOWNLOAD_ID = "offices-download"

# (output column, catalogue KPI): every figure of the comparison, from the engine.
OFFICE_KPIS: tuple[tuple[str, str], ...] = (
    ("declarations", "declarations"),
    ("inspection_rate", "physical_inspection_rate"),
    ("hit_rate", "hit_rate"),
    ("seizure_rate", "seizure_rate"),
    ("revenue", "revenue_total"),
    ("revenue_per_control", "revenue_per_control"),
    ("release_median_hours", "release_time_median"),
    ("release_p90_hours", "release_time_p90"),
    ("rerouting_rate", "rerouting_rate"),
)


def office_frame(ctx: PageContext, filters: flt.PageFilters) -> pl.DataFrame:
    """One row per office: each KPI's value and its verdict (``<column>_status``, the words of
    :func:`kpis.targets.kpi_status`: "no data" without a single control or release,
    "insufficient data" below the minimum sample, else against the KPI's target), plus controls
    and the hit-rate interval. A value below the minimum sample is null."""
    out: pl.DataFrame | None = None
    for column, kpi_id in OFFICE_KPIS:
        kpi = catalogue.get(kpi_id)
        result = ctx.compute(kpi_id, filters, by=("office",))
        verdicts = [
            status_label(kpi_status(kpi, r["value"], r.get("sufficient")))
            for r in result.iter_rows(named=True)
        ]
        value = pl.col("value")
        if "sufficient" in result.columns:
            value = pl.when(pl.col("sufficient")).then(pl.col("value"))
        extra: list[pl.Expr] = []
        if kpi_id == "hit_rate":
            extra = [
                pl.col("denominator").alias("controls"),
                pl.col("numerator").alias("hits"),
                pl.when(pl.col("sufficient")).then(pl.col("ci_low")).alias("hit_rate_ci_low"),
                pl.when(pl.col("sufficient")).then(pl.col("ci_high")).alias("hit_rate_ci_high"),
            ]
        part = result.select("office", value.alias(column), *extra).with_columns(
            pl.Series(f"{column}_status", verdicts, dtype=pl.String)
        )
        out = part if out is None else out.join(part, on="office", how="full", coalesce=True)
    assert out is not None
    # An office the engine has no row for in some KPI has nothing to judge in it.
    no_data = status_label(TargetStatus.NO_DATA)
    statuses = [f"{c}_status" for c, _ in OFFICE_KPIS]
    return (
        out.with_columns(
            pl.col("declarations").fill_null(0), *(pl.col(c).fill_null(no_data) for c in statuses)
        )
        .select(pl.exclude(statuses), *statuses)  # the figures first, then their verdicts
        .sort("office")
    )


def scatter_graph(offices: pl.DataFrame) -> Any:
    shown = offices.drop_nulls(["inspection_rate", "hit_rate"])
    return scatter_figure(
        shown,
        x="inspection_rate",
        y="hit_rate",
        label="office",
        size="declarations",
        x_unit=Unit.PERCENT,
        y_unit=Unit.PERCENT,
        x_title="physical inspection rate",
        y_title="hit rate",
    )


def volume_graph(offices: pl.DataFrame) -> Any:
    shown = offices.select("office", pl.col("declarations").alias("value")).sort(
        "value", descending=True
    )
    return bar_figure(
        shown,
        category="office",
        unit=Unit.COUNT,
        colour=palette.BLUE,
        height=max(240, 32 * shown.height + 80),
    )


def office_cell(row: dict[str, Any], column: str, unit: Unit, *, compact: bool = False) -> Any:
    """A KPI cell of the table: "no data" or "insufficient data" where the verdict says so,
    else the value, followed by the on/near/off-target mark when the KPI has a target."""
    verdict = STATUS_OF_LABEL[row[f"{column}_status"]]
    if verdict in (TargetStatus.NO_DATA, TargetStatus.INSUFFICIENT):
        return status_label(verdict)
    text = format_value(row[column], unit, compact=compact)
    if verdict in (TargetStatus.ON, TargetStatus.NEAR, TargetStatus.OFF):
        return html.Span([text, " ", status_mark(verdict)])
    return text


def office_table(offices: pl.DataFrame) -> Any:
    rows = [
        {
            "Office": r["office"],
            "Declarations": format_count(r["declarations"]),
            "Physical inspection": office_cell(r, "inspection_rate", Unit.PERCENT),
            "Controls": format_count(r["controls"]),
            "Hit rate": office_cell(r, "hit_rate", Unit.PERCENT),
            "Seizure rate": office_cell(r, "seizure_rate", Unit.PERCENT),
            "Rerouting": office_cell(r, "rerouting_rate", Unit.PERCENT),
            "Revenue": office_cell(r, "revenue", Unit.CURRENCY, compact=True),
            "Revenue / control": office_cell(r, "revenue_per_control", Unit.CURRENCY),
            "Median release": office_cell(r, "release_median_hours", Unit.HOURS),
            "p90 release": office_cell(r, "release_p90_hours", Unit.HOURS),
        }
        for r in offices.iter_rows(named=True)
    ]
    names = rows[0].keys() if rows else []
    return data_table(rows, numeric={n for n in names if n != "Office"})


def layout(**query: Any) -> html.Div:
    return frame.page_layout(
        PAGE,
        title="Offices",
        intro="Offices side by side over the selected period: inspection effort against what "
        "it finds, volumes and release times.",
        query=query,
        content_id=CONTENT_ID,
        extra=[dcc.Download(id=DOWNLOAD_ID)],
    )


def content(ctx: PageContext, filters: flt.PageFilters) -> Any:
    offices = office_frame(ctx, filters)
    if offices.is_empty() or offices["declarations"].sum() == 0:
        return frame.no_data_rows()
    kpi = catalogue.get
    return html.Div(
        [
            section(
                "Inspection rate against hit rate",
                # A click on an office's bubble or bar filters the page to it.
                graph(scatter_graph(offices), flt.cross_filter_id("office", "scatter")),
                page=PAGE,
                view="comparison",
                kpis=[kpi("physical_inspection_rate"), kpi("hit_rate")],
                note="Bubble area: declarations. Top left: inspects little and finds much. "
                "Offices below the minimum sample of controls are left out.",
            ),
            section(
                "Declarations by office",
                graph(volume_graph(offices), flt.cross_filter_id("office", "volumes", "y")),
                page=PAGE,
                view="volumes",
            ),
            section(
                "Offices compared",
                office_table(offices),
                page=PAGE,
                view="table",
                wide=True,
                kpis=[kpi("seizure_rate"), kpi("rerouting_rate"), kpi("release_time_median")],
                note="● on target, ▲ near target (within 10 %), ■ off target, against the "
                "KPI's target. No data: not a single control (or release) in the period; "
                f"{INSUFFICIENT}: fewer than the minimum sample.",
            ),
        ],
        className="panel-grid",
    )


update_content = frame.content_callback(__name__, CONTENT_ID, content)
# Every view of this page is drawn from the same office frame.
download = frame.download_callback(
    __name__,
    PAGE,
    DOWNLOAD_ID,
    lambda ctx, filters, view: (office_frame(ctx, filters), f"{PAGE}-{view}"),
)
