"""The header's "Saved views" menu: save the current view (its in-app link) under a name, open
one, delete one. Each user sees only their own views (``appstate.saved_views``).

The link saved is the address bar's (the filters and every view choice are in it, see
``dashboard.filters``), read in the browser when "Save" is clicked; the server cleans it
(in-app path only) and drops offices outside the user's scope, so a saved view never grants
more than its user may see (opening it also goes through every page's scope check).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html
from dash import ctx as dash_ctx
from dash.exceptions import PreventUpdate

from appstate.roles import Role
from appstate.saved_views import SavedView, SavedViewError, views_for
from dashboard.audit import request_actor
from dashboard.data import PageContext, guarded
from dashboard.filters import html_attrs, scoped_url

MENU_ID = "saved-views"
LIST_ID = "saved-views-list"
NAME_ID = "saved-views-name"
SAVE_ID = "saved-views-save"
CURRENT_ID = "saved-views-current"  # the address bar's link when Save was clicked
STATUS_ID = "saved-views-status"
DELETE_BUTTON = "saved-view-delete"


def menu() -> html.Details:
    """The menu (filled by :func:`register`'s callbacks)."""
    return html.Details(
        [
            html.Summary("Saved views", title="Save this view or open a saved one"),
            html.Div(
                [
                    html.Ul(id=LIST_ID, **html_attrs({"aria-label": "Your saved views"})),
                    html.Label(
                        [
                            html.Span("Name of this view", className="filter-label"),
                            dcc.Input(
                                id=NAME_ID, type="text", maxLength=80, placeholder="e.g. Dakar Q3"
                            ),
                        ]
                    ),
                    html.Button(
                        "Save current view",
                        id=SAVE_ID,
                        n_clicks=0,
                        type="button",
                        className="download-button",
                    ),
                    html.Div(id=STATUS_ID, className="section-note", role="status"),
                    dcc.Store(id=CURRENT_ID),
                ],
                className="saved-views-panel",
            ),
        ],
        id=MENU_ID,
        className="saved-views",
    )


def view_items(views: list[SavedView]) -> list[Any]:
    if not views:
        return [html.Li("No saved view yet.", className="muted")]
    return [
        html.Li(
            [
                dcc.Link(v.name, href=v.url, className="saved-view-link", title=v.url),
                html.Button(
                    "✕",
                    id={"type": DELETE_BUTTON, "view": v.view_id},
                    n_clicks=0,
                    type="button",
                    className="saved-view-delete",
                    title=f"Delete the saved view {v.name}",
                    **html_attrs({"aria-label": f"Delete {v.name}"}),
                ),
            ]
        )
        for v in views
    ]


def list_views(ctx: PageContext) -> list[Any]:
    return view_items(views_for(ctx.settings.app_db_path).list_views(ctx.viewer.name))


def save_current(ctx: PageContext, current: Any, name: Any) -> tuple[list[Any], str]:
    """Save the link the browser sent (offices outside the user's scope dropped)."""
    url = current.get("url") if isinstance(current, dict) else None
    allowed = None if ctx.viewer.offices is None else set(ctx.viewer.offices)
    store = views_for(ctx.settings.app_db_path)
    try:
        saved = store.save_view(request_actor(), name, scoped_url(str(url or ""), allowed))
    except SavedViewError as exc:
        return list_views(ctx), f"Not saved: {exc}."
    return list_views(ctx), f"Saved “{saved.name}”."


def delete(ctx: PageContext, view_id: Any) -> tuple[list[Any], str]:
    store = views_for(ctx.settings.app_db_path)
    done = store.delete_view(request_actor(), int(view_id))
    return list_views(ctx), "Deleted." if done else "Nothing deleted."


def register(app: dash.Dash) -> None:
    """The menu's callbacks, for one app (called by ``create_app``)."""
    app.clientside_callback(
        ClientsideFunction(namespace="customsKpi", function_name="currentLink"),
        Output(CURRENT_ID, "data"),
        Input(SAVE_ID, "n_clicks"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(LIST_ID, "children"),
        Output(STATUS_ID, "children"),
        Input(MENU_ID, "open"),
        Input(CURRENT_ID, "data"),
        Input({"type": DELETE_BUTTON, "view": ALL}, "n_clicks"),
        State(NAME_ID, "value"),
        # Runs once when the header is drawn (a full page load) to list the user's views.
    )
    @guarded(Role.VIEWER, on_error=lambda ref: ([], f"Saved views unavailable ({ref})."))
    def update_saved_views(
        ctx: PageContext, _open: Any, current: Any, _deletes: Any, name: Any
    ) -> tuple[list[Any], str]:
        fired = dash_ctx.triggered_id
        if fired == CURRENT_ID:
            return save_current(ctx, current, name)
        if isinstance(fired, dict) and fired.get("type") == DELETE_BUTTON:
            if not dash_ctx.triggered[0].get("value"):
                raise PreventUpdate  # a redrawn list's buttons, not a click
            return delete(ctx, fired.get("view"))
        return list_views(ctx), ""
