"""CSV downloads: a chart or table and its download come from the same frame, so what is on the
screen and what is exported cannot disagree."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import polars as pl
from dash import dcc, html

from kpis.formatting import currency_headers, formula_safe_frame

# Pattern-matching id of every CSV button: {"type": DOWNLOAD_BUTTON, "page": page, "view": view}.
# Each page has one download callback for its own buttons (so it checks its own role).
DOWNLOAD_BUTTON = "download-button"


def csv_text(frame: pl.DataFrame) -> str:
    """CSV of a frame with list columns joined by ``;`` (CSV has no nested values), text cells
    formula-safe (:func:`kpis.formatting.formula_safe_frame`: a cell starting with ``=``, ``+``,
    ``-``, ``@``, tab or CR gets a leading ``'``; numbers stay numbers)."""
    flat = frame.with_columns(
        pl.col(name).list.eval(pl.element().cast(pl.String)).list.join(";")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List)
    )
    # Amount columns name the revenue currency (CUSTOMS_KPI_CURRENCY) in their header.
    return formula_safe_frame(currency_headers(flat)).write_csv(datetime_format="%Y-%m-%dT%H:%M:%S")


def filename(view: str, *, month: date | None = None, suffix: str = "csv") -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", view).strip("-") or "export"
    return f"customs-kpi-{safe}{'-' + month.strftime('%Y-%m') if month else ''}.{suffix}"


def send_csv(frame: pl.DataFrame, name: str) -> dict[str, Any]:
    """What a ``dcc.Download`` output expects."""
    return dcc.send_string(csv_text(frame), filename=name, type="text/csv")


def download_button(page: str, view: str, label: str = "CSV") -> html.Button:
    return html.Button(
        ["↓ ", label],
        id={"type": DOWNLOAD_BUTTON, "page": page, "view": view},
        className="download-button",
        title="Download what this shows as CSV",
        n_clicks=0,
    )
