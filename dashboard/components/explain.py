"""'How is this computed': the catalogue entry of a KPI, shown in place.

A native ``<details>`` element: it opens without a callback or a round trip, works with the
keyboard and a screen reader, and cannot disagree with ``customs-kpi kpis explain ID`` because
both read the same catalogue record.
"""

from __future__ import annotations

from typing import Any

from dash import html

from kpis.definitions import KPI
from kpis.formatting import format_value


def explain_rows(kpi: KPI) -> list[tuple[str, str]]:
    """(field, text) pairs of the catalogue entry that a reader needs."""
    rows: list[tuple[str, str]] = [
        ("Definition", kpi.description),
        ("Formula", kpi.formula),
        ("Unit", kpi.unit.value),
        (
            "Better",
            {"higher": "higher", "lower": "lower", "neutral": "no better side"}[
                kpi.direction.value
            ],
        ),
    ]
    if kpi.filters:
        rows.append(("Filter", "; ".join(f.describe() for f in kpi.filters)))
    if kpi.default_target is not None:
        target = format_value(kpi.default_target, kpi.unit)
        rows.append(("Target", f"{target} — {kpi.target_note}" if kpi.target_note else target))
    elif kpi.target_note:
        rows.append(("Target", f"none — {kpi.target_note}"))
    if kpi.reference:
        rows.append(("Reference values", kpi.reference))
    rows.append(("Source", kpi.source))
    rows.append(("Definition version", str(kpi.version)))
    return rows


def _data_attributes(kpi_id: str) -> dict[str, Any]:
    # data-* attributes let tests and the browser find a KPI's explanation by id.
    return {"data-kpi": kpi_id}


def how_computed(kpi: KPI, *, named: bool = False) -> html.Details:
    """``named``: say which KPI in the summary (when a panel explains several)."""
    summary = f"How is “{kpi.label}” computed?" if named else "How is this computed?"
    return html.Details(
        [
            html.Summary(summary, className="explain-summary"),
            html.Dl(
                [
                    item
                    for name, text in explain_rows(kpi)
                    for item in (html.Dt(name), html.Dd(text))
                ],
                className="explain-list",
            ),
            html.Div(f"KPI id: {kpi.id}", className="explain-id"),
        ],
        className="explain",
        **_data_attributes(kpi.id),
    )
