"""What every page shares: the layout skeleton (header with "data as of", filter bar, content
area filled by the page's callback), the filter inputs of the callbacks, and the states shown
when nothing is published or the filters match nothing.

The leading underscore keeps Dash's page discovery from treating this module as a page.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl
from dash import Input, State, html, no_update
from dash.exceptions import PreventUpdate

from customs_kpi.published import freshness
from dashboard import filters as flt
from dashboard.components import states
from dashboard.components.download import send_csv
from dashboard.components.layout import loading, page_header
from dashboard.data import PageContext, request_context

log = logging.getLogger(__name__)


def filter_inputs() -> list[Input]:
    return [Input(i, "value") for i in flt.FILTER_INPUT_IDS]


def filter_states() -> list[State]:
    return [State(i, "value") for i in flt.FILTER_INPUT_IDS]


def is_stale(ctx: PageContext, now: datetime | None = None) -> bool:
    """The header's "stale" badge: :func:`customs_kpi.published.freshness`, as the Data page."""
    return freshness(ctx.data_as_of, ctx.settings.freshness_hours, now).stale


def header(ctx: PageContext | None, title: str, intro: str) -> html.Div:
    if ctx is None:
        return page_header(title, intro, None)
    version = getattr(ctx.snapshot, "version", None)
    return page_header(title, intro, ctx.data_as_of, version, stale=is_stale(ctx))


def page_layout(
    page: str,
    *,
    title: str,
    intro: str,
    query: Mapping[str, Any],
    content_id: str,
    extra: Sequence[Any] = (),
    show_channel: bool = True,
    context: PageContext | None = None,
    default_months: int = flt.DEFAULT_TREND_MONTHS,
    controls: Sequence[Any] = (),
    show_filters: bool = True,
) -> html.Div:
    """Header, filter bar initialised from the URL, and an empty content area that the page's
    callback fills (so the first paint is fast and the numbers come from one code path)."""
    try:
        ctx = context or request_context()
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("layout of %s failed (reference %s)", page, reference)
        return html.Div(
            [page_header(title, intro, None), states.error_message(reference)],
            className=f"page page-{page}",
        )
    if not ctx.published:
        return html.Div(
            [header(ctx, title, intro), states.nothing_published()], className=f"page page-{page}"
        )
    filters = ctx.resolve(flt.parse_query(query), default_months)
    return html.Div(
        [
            header(ctx, title, intro),
            flt.filter_bar(filters, ctx.months(), ctx.offices(), show_channel=show_channel)
            if show_filters
            else None,
            html.Div(list(controls), className="page-controls") if controls else None,
            loading(html.Div(id=content_id, className="page-content")),
            *extra,
        ],
        className=f"page page-{page}",
    )


def filters_for(
    ctx: PageContext, start: Any, end: Any, offices: Any, channel: Any
) -> flt.PageFilters | None:
    """Filters from the controls, validated against the snapshot and the user's scope; None
    when nothing is published."""
    if not ctx.published:
        return None
    resolved = ctx.resolve(flt.from_controls(start, end, offices, channel))
    return resolved if resolved.end is not None else None


def no_data(ctx: PageContext) -> html.Div:
    return states.nothing_published() if not ctx.published else states.no_rows()


def csv_download(
    table: pl.DataFrame, name: str, filters: flt.PageFilters | None = None
) -> dict[str, Any]:
    """The CSV for a ``dcc.Download``, recorded in the audit trail (who exported what, with
    which filters): exports of KPI data are traceable."""
    from dashboard.audit import audit

    details: dict[str, Any] = {"rows": table.height}
    if filters is not None:
        details["filters"] = flt.to_query(filters)
    audit("export.csv", name, details)
    return send_csv(table, name)


def no_data_rows() -> html.Div:
    return states.no_rows()


def clicked_view(triggered: Any, clicks: Sequence[Any] | None) -> str:
    """The ``view`` of the CSV button that fired (pattern-matching id). Buttons appearing
    when the content is redrawn (no click yet) fire nothing."""
    if not any(clicks or []):
        raise PreventUpdate
    if isinstance(triggered, Mapping) and isinstance(triggered.get("view"), str):
        return str(triggered["view"])
    raise PreventUpdate


def error_then_no_update(reference: str) -> tuple[Any, Any]:
    """For callbacks with two outputs: the error message in the first, the second unchanged."""
    return states.error_message(reference), no_update


def download_error(reference: str) -> Any:
    """A failed download sends nothing (the error is logged with its reference)."""
    raise PreventUpdate
