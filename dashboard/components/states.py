"""What a page shows instead of numbers: nothing published yet, no rows, not enough data, an
error. Always a sentence a user can act on, never a blank area."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import html

from dashboard.components.format import format_stamp
from kpis.formatting import INSUFFICIENT

LOAD_HINT = (
    "An administrator loads data with `customs-kpi load FILE --home HOME` (or drops files in "
    "HOME/inbox for the worker); `make run` loads the demo data set."
)


def _aria(attributes: dict[str, str]) -> dict[str, Any]:
    """ARIA attributes for a Dash html component (its wildcard ``aria-*`` properties)."""
    return attributes


def nothing_published() -> html.Div:
    return html.Div(
        [
            html.H2("No data has been published yet"),
            html.P(
                "The dashboard shows the latest published version of the warehouse, and "
                "there is none so far."
            ),
            html.P(LOAD_HINT, className="hint"),
        ],
        className="state state-empty",
        role="status",
    )


_FROM_FILTERS = "from the filters"


def no_rows(
    what: str = "No data for the selected filters.",
    hint: str | None = _FROM_FILTERS,
) -> html.Div:
    """The "no rows" state; its default hint names what is actually filtered
    (:func:`dashboard.filters.empty_hint`)."""
    if hint == _FROM_FILTERS:
        from dashboard.filters import empty_hint

        hint = empty_hint()
    return html.Div(
        [html.P(what), html.P(hint, className="hint") if hint else None],
        className="state state-no-rows",
        role="status",
    )


def insufficient(label: str, count: float | int | None, min_sample: int) -> html.Div:
    shown = "no" if not count else f"{int(count):,}"
    return html.Div(
        f"{label}: {INSUFFICIENT} ({shown} controls; at least {min_sample} are needed).",
        className="state state-insufficient",
        role="status",
    )


def error_message(reference: str) -> html.Div:
    return html.Div(
        [
            html.Strong("This part of the page could not be computed."),
            html.P(
                f"The error has been logged (reference {reference}). Try again, or change "
                "the filters; if it persists, give the reference to your administrator."
            ),
        ],
        className="state state-error",
        role="alert",
    )


def forbidden(what: str = "this information") -> html.Div:
    return html.Div(
        f"Your role does not give access to {what}.",
        className="state state-forbidden",
        role="status",
    )


def data_as_of(moment: datetime | None, version: str | None = None) -> html.Div:
    text = f"Data as of {format_stamp(moment)}" if moment else "No data published"
    return html.Div(
        [text, html.Span(f" · version {version}", className="muted") if version else None],
        className="data-as-of",
    )


def skeleton(charts: int = 1) -> html.Div:
    """Grey blocks shown where a page's content is coming (cards, then charts), until its
    callback answers; screen readers hear one status line instead."""
    blocks = [html.Span(className="ck-skeleton-block") for _ in range(4)]
    return html.Div(
        [
            html.Div(blocks, className="ck-skeleton-grid"),
            *(html.Span(className="ck-skeleton-block ck-skeleton-chart") for _ in range(charts)),
            html.Span(className="ck-skeleton-line", style={"width": "60%"}),
            html.Span(className="ck-skeleton-line", style={"width": "40%"}),
            html.Span("Loading the figures", className="sr-only", role="status"),
        ],
        className="ck-skeleton ck-skeleton-content",
        **_aria({"aria-busy": "true"}),
    )
