"""Every Flask route and every Dash callback of the real app refuses anonymous users; roles are
enforced on the server for pages, callbacks and the page router."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import dash
import pytest
from auth_helpers import ROUTER_OUTPUT, audit_actions, call, csrf_headers, login
from auth_helpers import make_app as make_auth_app
from dash import Input, Output
from werkzeug.exceptions import Forbidden
from werkzeug.routing import Rule

from appstate import AppState
from appstate.roles import Role
from customs_kpi.settings import Settings, load_settings
from dashboard.access import callback_role, require_role

# Reachable without signing in: the sign-in form, and what it needs to look right.
PUBLIC = {("/login", "GET"), ("/assets/app.css", "GET"), ("/_favicon.ico", "GET")}
PAGE_RULES = {"/", "/<path:path>"}
# Server-rendered pages for signed-in users (anonymous visitors are sent to sign in).
SERVER_PAGES = {("/account/password", "GET")}
SAMPLE_VALUES = {
    "path": "profiles",
    "filename": "app.css",
    "package_name": "dash",
    "fingerprinted_path": "dash-renderer/build/dash_renderer.v4_4_1m1.min.js",
}
ADMIN_PAGE_OUTPUTS = (
    "..admin-users-grid.rowData...admin-locks-grid.rowData...admin-user-pick.options..",
    "admin-role-pick.value",
    "..admin-result.children...admin-result.className...admin-version.data..",
    "admin-audit-grid.rowData",
)


@pytest.fixture(scope="module")
def app_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dash.Dash, AppState]]:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("routes"))
    app, state, _ = make_auth_app(settings)
    yield app, state


def _url(rule: Rule) -> str:
    url = rule.rule
    for name in rule.arguments:
        value = SAMPLE_VALUES.get(name, "x")
        url = url.replace(f"<path:{name}>", value).replace(f"<string:{name}>", value)
        url = url.replace(f"<{name}>", value)
    return url


def _every_route(app: dash.Dash) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.server.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"OPTIONS", "HEAD"}):
            routes.append((rule.rule, _url(rule), method))
    return routes


def test_the_app_has_the_routes_the_tests_know(app_state: tuple[dash.Dash, AppState]) -> None:
    app, _ = app_state
    rules = {rule for rule, _, _ in _every_route(app)}
    # If this fails, a route was added: the loops below already cover it; update the list.
    assert {
        "/login",
        "/logout",
        "/auth/session",
        "/auth/keepalive",
        "/_dash-update-component",
        "/_dash-layout",
        "/_dash-dependencies",
        "/assets/<path:filename>",
        "/account/password",
    } <= rules
    assert rules >= PAGE_RULES


def test_every_route_refuses_anonymous_users(app_state: tuple[dash.Dash, AppState]) -> None:
    app, _ = app_state
    checked = 0
    for rule, url, method in _every_route(app):
        client = app.server.test_client()
        response = client.open(url, method=method, json={} if method == "POST" else None)
        key = (url, method)
        if key in PUBLIC:
            assert response.status_code == 200, key
        elif rule in PAGE_RULES or (url, method) in SERVER_PAGES:
            assert response.status_code == 302, key
            expected = "/login" if url == "/" else "/login?next=" + quote(url, safe="")
            assert response.headers["Location"] == expected, key
        elif rule == "/logout":
            # Nothing to end: the form just goes back to the sign-in page.
            assert response.status_code == 302 and response.headers["Location"].startswith("/login")
        elif rule == "/login":
            assert response.status_code == 403, key  # a POST without the form's CSRF token
        else:
            assert response.status_code == 401, key
            assert response.get_json()["error"] == "authentication required", key
        checked += 1
    assert checked >= 14


def test_pages_redirect_to_login_keeping_the_address(
    app_state: tuple[dash.Dash, AppState],
) -> None:
    app, _ = app_state
    response = app.server.test_client().get("/profiles?from=2025-01&office=DKR")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fprofiles%3Ffrom%3D2025-01%26office%3DDKR"


def test_every_callback_refuses_anonymous_users(app_state: tuple[dash.Dash, AppState]) -> None:
    app, _ = app_state
    server_callbacks = [k for k, v in app.callback_map.items() if "callback" in v]
    # The shell, the page router, the admin page and the KPI pages all registered callbacks.
    assert ROUTER_OUTPUT in server_callbacks
    assert set(ADMIN_PAGE_OUTPUTS) <= set(server_callbacks)
    assert "..shell-nav.children...shell-data-as-of.children.." in server_callbacks
    for output in server_callbacks:
        response = call(app.server.test_client(), app, output)
        assert response.status_code == 401, output
        assert response.get_json()["login"] == "/login?expired=1"


def test_admin_callbacks_need_the_admin_role(app_state: tuple[dash.Dash, AppState]) -> None:
    app, state = app_state
    for output in ADMIN_PAGE_OUTPUTS:
        assert callback_role(app, output) is Role.ADMIN
    for name in ("vera", "anna", "scoped"):
        client = login(app, name)
        for output in ADMIN_PAGE_OUTPUTS:
            response = call(client, app, output)
            assert response.status_code == 403, (name, output)
            assert response.get_json() == {
                "error": "your role does not allow this action",
                "required": "admin",
            }
    denied = state.audit_entries(action_prefix="access.denied", limit=100)
    assert {e.user_name for e in denied} >= {"vera", "anna", "scoped"}
    assert {e.target for e in denied} >= set(ADMIN_PAGE_OUTPUTS)


def test_admin_may_call_admin_callbacks(app_state: tuple[dash.Dash, AppState]) -> None:
    app, _ = app_state
    client = login(app, "adam")
    response = call(client, app, ADMIN_PAGE_OUTPUTS[0], [0])
    assert response.status_code == 200
    rows = response.get_json()["response"]["admin-users-grid"]["rowData"]
    assert [r["name"] for r in rows] == ["adam", "anna", "scoped", "vera"]
    assert {r["name"]: r["offices"] for r in rows}["scoped"] == "THS"


def test_every_callback_is_held_to_its_role(app_state: tuple[dash.Dash, AppState]) -> None:
    """A viewer gets 403 from every callback above viewer, whatever page it belongs to."""
    app, _ = app_state
    client = login(app, "vera")
    above_viewer = [
        output
        for output, entry in app.callback_map.items()
        if "callback" in entry and callback_role(app, output) is not Role.VIEWER
    ]
    assert set(ADMIN_PAGE_OUTPUTS) <= set(above_viewer)
    for output in above_viewer:
        assert call(client, app, output).status_code == 403, output


def test_pages_of_a_higher_role_are_refused(app_state: tuple[dash.Dash, AppState]) -> None:
    app, _ = app_state
    viewer = login(app, "vera")
    response = viewer.get("/admin/users")
    assert response.status_code == 403
    assert "Your role does not give access to this page." in response.get_data(as_text=True)
    assert login(app, "adam").get("/admin/users").status_code == 200


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/", "/Admin/users"])
def test_page_router_will_not_render_a_higher_roles_layout(
    app_state: tuple[dash.Dash, AppState], path: str
) -> None:
    """The router is one callback for every page: the path it is asked for decides the role."""
    app, _ = app_state
    viewer = login(app, "vera")
    response = call(viewer, app, ROUTER_OUTPUT, [path, ""])
    body: Any = response.get_json()
    if path == "/Admin/users":
        # Not a page (paths are case-sensitive): the router answers with its 404 layout.
        assert response.status_code == 200
        assert "admin-users-grid" not in str(body)
        return
    assert response.status_code == 403
    admin = login(app, "adam")
    routed = call(admin, app, ROUTER_OUTPUT, [path, ""])
    assert routed.status_code == 200
    assert "admin-users-grid" in str(routed.get_json())


def test_unknown_or_malformed_callbacks_are_refused(
    app_state: tuple[dash.Dash, AppState],
) -> None:
    app, _ = app_state
    client = login(app, "adam")
    unknown = client.post(
        "/_dash-update-component",
        json={"output": "no-such.children", "inputs": []},
        headers=csrf_headers(client),
    )
    assert unknown.status_code == 400
    malformed = client.post(
        "/_dash-update-component", data="not json", headers=csrf_headers(client)
    )
    assert malformed.status_code in (400, 403)


def test_denied_page_access_is_audited(app_state: tuple[dash.Dash, AppState]) -> None:
    app, state = app_state
    login(app, "anna").get("/admin/users")
    entry = state.audit_entries(action_prefix="access.denied", user_name="anna", limit=1)[0]
    assert (entry.target, entry.role, entry.details) == (
        "/admin/users",
        "analyst",
        {"required": "admin"},
    )
    assert "access.denied" in audit_actions(state)


def test_require_role_marks_a_callback_above_its_page(settings: Settings) -> None:
    """A callback outside any higher page (viewer by default) that needs more says so."""
    app, state, _ = make_auth_app(settings)

    @app.callback(Output("probe-out", "children"), Input("probe-in", "value"))
    @require_role(Role.ANALYST)
    def analyst_probe(value: str | None) -> str:
        return f"probed {value}"

    @app.callback(Output("probe-open", "children"), Input("probe-in", "n_clicks"))
    def open_probe(clicks: int | None) -> str:
        return f"open {clicks}"

    assert callback_role(app, "probe-out.children") is Role.ANALYST
    assert callback_role(app, "probe-open.children") is Role.VIEWER
    viewer = login(app, "vera")
    assert call(viewer, app, "probe-out.children", ["x"]).status_code == 403
    assert call(viewer, app, "probe-open.children", [2]).get_json()["response"] == {
        "probe-open": {"children": "open 2"}
    }
    answered = call(login(app, "anna"), app, "probe-out.children", ["x"])
    assert answered.get_json()["response"] == {"probe-out": {"children": "probed x"}}
    # Called some other way (a test, another module), the check inside still refuses.
    with app.server.test_request_context("/"), pytest.raises(Forbidden):
        analyst_probe("x")
    denied = state.audit_entries(action_prefix="access.denied", limit=1)[0]
    assert (denied.user_name, denied.target) == ("vera", "probe-out.children")


def _router_body(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "output": ROUTER_OUTPUT,
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": inputs,
        "state": [],
        "changedPropIds": ["_pages_location.pathname"],
    }


@pytest.mark.parametrize(
    "inputs",
    [
        # Labels swapped: Dash passes the first entry as the pathname, whatever it is called.
        [
            {"id": "_pages_location", "property": "search", "value": "/review"},
            {"id": "_pages_location", "property": "pathname", "value": "/"},
        ],
        # Another component's id at the pathname's position.
        [
            {"id": "shell-url", "property": "pathname", "value": "/review"},
            {"id": "_pages_location", "property": "pathname", "value": "/"},
        ],
        # One entry more than the router declares, the decoy last.
        [
            {"id": "_pages_location", "property": "search", "value": "/review"},
            {"id": "_pages_location", "property": "search", "value": ""},
            {"id": "_pages_location", "property": "pathname", "value": "/"},
        ],
    ],
    ids=["swapped", "other-id", "extra"],
)
def test_reordered_router_inputs_do_not_route_a_viewer_to_a_higher_page(
    app_state: tuple[dash.Dash, AppState], inputs: list[dict[str, Any]]
) -> None:
    """The guard reads the router's arguments by position, as Dash binds them (issue 11.9)."""
    app, _ = app_state
    viewer = login(app, "vera")
    response = viewer.post(
        "/_dash-update-component", json=_router_body(inputs), headers=csrf_headers(viewer)
    )
    assert response.status_code in (400, 403), response.get_data(as_text=True)[:300]
    assert "Review queue" not in response.get_data(as_text=True)
    # The same request in the renderer's order is held to the Review page's role.
    honest = [
        {"id": "_pages_location", "property": "pathname", "value": "/review"},
        {"id": "_pages_location", "property": "search", "value": ""},
    ]
    assert (
        viewer.post(
            "/_dash-update-component", json=_router_body(honest), headers=csrf_headers(viewer)
        ).status_code
        == 403
    )
    analyst = login(app, "anna")
    routed = analyst.post(
        "/_dash-update-component", json=_router_body(honest), headers=csrf_headers(analyst)
    )
    assert routed.status_code == 200 and "Review queue" in routed.get_data(as_text=True)
