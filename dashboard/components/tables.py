"""Plain HTML tables for short lists (change log, overlaps, run log): readable, printable,
accessible, no grid machinery. Long or sortable lists use dash-ag-grid instead."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from dash import html


def data_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    numeric: Collection[str] = (),
    columns: Sequence[str] | None = None,
    table_id: str | None = None,
) -> html.Div:
    """Rows of already formatted cells (text or components); ``numeric`` columns align right."""
    names = list(columns or (rows[0].keys() if rows else []))
    head = html.Thead(
        html.Tr([html.Th(n, className="num" if n in numeric else None, scope="col") for n in names])
    )
    body = html.Tbody(
        [
            html.Tr(
                [html.Td(row.get(n, ""), className="num" if n in numeric else None) for n in names]
            )
            for row in rows
        ]
    )
    kwargs: dict[str, Any] = {"id": table_id} if table_id else {}
    return html.Div(
        html.Table([head, body], className="data-table", **kwargs), className="table-scroll"
    )
