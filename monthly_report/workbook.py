"""The report's Excel workbook and CSV files, written from the same frames.

Cells hold the engine's values unrounded (percentages as fractions with a percent format), so a
reader who re-computes from the workbook gets the dashboard's numbers, not rounded copies.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from kpis.formatting import WORKBOOK_OPTIONS, currency_headers, formula_safe_frame
from monthly_report.content import ReportContent

# Sheet (and CSV file) names, in workbook order, with a one-line caption for the PDF and README.
SHEETS: dict[str, str] = {
    "summary": "Headline KPIs of the month against their targets",
    "kpis_by_channel": "KPIs by control channel",
    "kpis_by_office": "KPIs by customs office",
    "profiles": "Risk profiles that fired in the month",
    "underperforming_profiles": "Profiles flagged by the underperformance rules, with reasons",
    "clearance_times": "Release and inspection times per channel",
    "released_within": "Share of declarations released within X hours, per channel",
    "trend_12_months": "Last 12 months of the trend KPIs (the PDF charts)",
    "definitions": "Definition of every KPI in this report",
    "review_decisions": "The review committee's decisions of the month, with their rationale",
}

_UNIT_FORMATS = {
    "percent": "0.00%",
    "currency": "#,##0.00",
    "hours": "0.00",
    "count": "#,##0",
    "ratio": "0.000",
}
# Wide tables: number format by column name.
_COLUMN_UNITS = {
    "hit_rate": "percent",
    "hit_rate_ci_low": "percent",
    "hit_rate_ci_high": "percent",
    "seizure_rate": "percent",
    "random_hit_rate": "percent",
    "revenue": "currency",
    "revenue_per_control": "currency",
    "lift": "ratio",
    "p_value": "ratio",
    "mean_hours": "hours",
    "median_hours": "hours",
    "p90_hours": "hours",
    "ci_low": "percent",  # wide tables: the hit-rate interval (long tables use the row unit)
    "ci_high": "percent",
    "sole_revenue": "currency",
    "declarations": "count",
    "controlled": "count",
    "irregular": "count",
    "seizures": "count",
    "random_controls": "count",
    "sole_declarations": "count",
    "sole_controlled": "count",
    "sole_irregular": "count",
    "count": "count",
    "open": "count",
}
# Long tables: these columns take the row's unit (the rest are counts or plain numbers).
_UNIT_COLUMNS = ("value", "ci_low", "ci_high", "target", "previous_month", "same_month_last_year")
_DELTA_COLUMNS = ("change_vs_previous_month", "change_vs_last_year")


def write_csvs(content: ReportContent, folder: Path) -> list[Path]:
    """One CSV per table (UTF-8, header row, ISO dates, full precision), text cells
    formula-safe (:func:`kpis.formatting.formula_safe_frame`)."""
    paths = []
    for name in SHEETS:
        path = folder / f"{name}.csv"
        formula_safe_frame(currency_headers(content.tables[name])).write_csv(path)
        paths.append(path)
    return paths


def write_workbook(content: ReportContent, path: Path, about: dict[str, Any]) -> None:
    """The workbook: an ``about`` sheet, then one sheet per table of :data:`SHEETS`."""
    # constant_memory off: sheets are small; a fixed creation date keeps files reproducible.
    # Text is written as text: never a formula (``=HYPERLINK(...)`` from the data) nor a link.
    wb = xlsxwriter.Workbook(str(path), {**WORKBOOK_OPTIONS, "nan_inf_to_errors": True})
    wb.set_properties(
        {
            "title": f"Risk-management performance report {content.label}",
            "subject": "Customs risk-management KPIs",
            "created": content.generated_at.replace(tzinfo=None),
        }
    )
    formats = _Formats(wb)
    _about_sheet(wb, formats, about)
    for name in SHEETS:
        _table_sheet(wb, formats, name, content.tables[name])
    wb.close()


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.header = wb.add_format({"bold": True, "bg_color": "#DDE4EE", "text_wrap": True})
        self.date = wb.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.text = wb.add_format({"text_wrap": False})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        self.units = {u: wb.add_format({"num_format": f}) for u, f in _UNIT_FORMATS.items()}
        self.points = wb.add_format({"num_format": "+0.00%;-0.00%;0.00%"})
        self.plain = wb.add_format({"num_format": "General"})


def _about_sheet(wb: xlsxwriter.Workbook, f: _Formats, about: dict[str, Any]) -> None:
    ws = wb.add_worksheet("about")
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 90)
    _header(ws, ["item", "value"], f.header)
    for row, (key, value) in enumerate(about.items(), start=1):
        ws.write_string(row, 0, key)
        _write(ws, row, 1, value, f.wrap, f)
    start = len(about) + 2
    _header(ws, ["sheet", "contents"], f.header, start)
    for row, (name, caption) in enumerate(SHEETS.items(), start=start + 1):
        ws.write_string(row, 0, name)
        ws.write_string(row, 1, caption)


def _header(ws: Worksheet, names: list[str], fmt: Format, row: int = 0) -> None:
    for col, name in enumerate(names):
        ws.write_string(row, col, name, fmt)


def _table_sheet(wb: xlsxwriter.Workbook, f: _Formats, name: str, frame: pl.DataFrame) -> None:
    ws = wb.add_worksheet(name)
    columns = frame.columns
    _header(ws, currency_headers(frame.head(0)).columns, f.header)
    ws.freeze_panes(1, 0)
    units = frame.get_column("unit").to_list() if "unit" in columns else None
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, (col, value) in enumerate(zip(columns, row, strict=True)):
            _write(ws, r, c, value, _cell_format(f, col, units[r - 1] if units else None), f)
    if frame.height:
        ws.autofilter(0, 0, frame.height, len(columns) - 1)
    for c, col in enumerate(columns):
        width = (
            48
            if col in ("description", "formula", "reasons", "reference", "target_note", "rationale")
            else (max(10, min(40, len(col) + 2)))
        )
        ws.set_column(c, c, width)


def _cell_format(f: _Formats, column: str, unit: str | None) -> Format | None:
    if unit is not None and column in _UNIT_COLUMNS:
        return f.units.get(unit, f.plain)
    if unit == "percent" and column in _DELTA_COLUMNS:
        return f.points
    if column in ("numerator", "denominator") and unit != "currency":
        return f.units["count"]
    if column in _COLUMN_UNITS:
        return f.units[_COLUMN_UNITS[column]]
    return None


def _write(ws: Worksheet, row: int, col: int, value: Any, fmt: Format | None, f: _Formats) -> None:
    if value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, datetime):
        ws.write_datetime(row, col, value.replace(tzinfo=None), f.datetime)
    elif isinstance(value, date):
        ws.write_datetime(row, col, datetime(value.year, value.month, value.day), f.date)
    elif isinstance(value, list | tuple):
        ws.write_string(row, col, "; ".join(str(v) for v in value))
    else:
        ws.write_string(row, col, str(value), fmt)
