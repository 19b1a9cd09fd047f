"""What every page shares: the layout skeleton (header with "data as of", filter bar, content
area filled by the page's callback), the filter inputs of the callbacks, the content and CSV
download callbacks built on them, and the states shown when nothing is published or the filters
match nothing.

The leading underscore keeps Dash's page discovery from treating this module as a page.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl
from dash import ALL, Input, Output, State, callback, html, no_update
from dash import ctx as dash_ctx
from dash.exceptions import PreventUpdate

from appstate.roles import Role
from customs_kpi.published import freshness
from dashboard import filters as flt
from dashboard.components import states
from dashboard.components.download import DOWNLOAD_BUTTON, filename, send_csv
from dashboard.components.layout import loading, page_header
from dashboard.data import PageContext, guarded, request_context

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
    version = getattr(ctx.published_version, "version", None)
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
    default_months: int | None = None,
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
            flt.filter_bar(
                filters,
                ctx.months(),
                ctx.offices(),
                show_channel=show_channel,
                default_period=ctx.resolve(flt.PageFilters(), default_months).period,
            )
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
    """Filters from the controls, validated against the published version and the user's scope; None
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


# --- The callbacks most pages share ---------------------------------------------------------------
def _as_page_function(func: Callable[..., Any], module: str, name: str) -> Callable[..., Any]:
    """``func`` as if defined in the page ``module``: the request guard takes a callback's role
    from its module's page (``dashboard.access.function_role``); logs name it."""
    func.__module__, func.__name__, func.__qualname__ = module, name, name
    return func


def content_callback(
    module: str,
    content_id: str,
    render: Callable[..., Any],
    *extra: Input | State,
    options: Sequence[Output] = (),
    role: Role = Role.VIEWER,
) -> Callable[..., Any]:
    """Register ``module``'s content callback and return it (the page keeps it as
    ``update_content``; tests call its ``.body(ctx, *inputs)``).

    Inputs by position: the filter controls (:func:`filter_inputs`), then ``extra``, whose
    values come after the filters in ``render(ctx, filters, *extra_values)``. With ``options``
    (dropdown options outside the content area) the callback has those outputs too and
    ``render`` returns them after the content; nothing published or no period gives the empty
    state and empty option lists."""

    def update_content(
        ctx: PageContext, start: Any, end: Any, offices: Any, channel: Any, *values: Any
    ) -> Any:
        filters = filters_for(ctx, start, end, offices, channel)
        if filters is None:
            return (no_data(ctx), *([] for _ in options)) if options else no_data(ctx)
        # An empty state drawn by ``render`` names what these filters narrow.
        token = flt.SHOWN.set((filters, tuple(ctx.months())))
        try:
            return render(ctx, filters, *values)
        finally:
            flt.SHOWN.reset(token)

    body = _as_page_function(update_content, module, "update_content")
    on_error = error_then_no_update if options else None
    return callback(Output(content_id, "children"), *options, *filter_inputs(), *extra)(
        guarded(role, on_error=on_error)(body)
    )


def download_callback(
    module: str,
    page: str,
    download_id: str,
    table: Callable[..., tuple[pl.DataFrame, str]],
    *extra: State,
    role: Role = Role.VIEWER,
) -> Callable[..., Any]:
    """Register ``module``'s CSV download and return it (the page keeps it as ``download``).

    Fired by the page's CSV buttons (``download_button(page, view)``); states by position:
    ``extra``, then the filter controls (:func:`filter_states`). ``table(ctx, filters, view,
    *extra_values)`` gives the frame and the file's name (without prefix, month and suffix);
    it raises ``PreventUpdate`` for a view it does not send. Sent with :func:`csv_download`."""

    def download(ctx: PageContext, clicks: Any, *values: Any) -> dict[str, Any]:
        view = clicked_view(dash_ctx.triggered_id, clicks)
        *chosen, start, end, offices, channel = values
        filters = filters_for(ctx, start, end, offices, channel)
        if filters is None:
            raise PreventUpdate
        data, name = table(ctx, filters, view, *chosen)
        return csv_download(data, filename(name, month=filters.end), filters)

    body = _as_page_function(download, module, "download")
    return callback(
        Output(download_id, "data"),
        Input({"type": DOWNLOAD_BUTTON, "page": page, "view": ALL}, "n_clicks"),
        *extra,
        *filter_states(),
        prevent_initial_call=True,
    )(guarded(role, on_error=download_error)(body))
