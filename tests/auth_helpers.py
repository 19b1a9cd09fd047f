"""Helpers for the auth and app-shell tests: an app with known users, signing in through the
real login form, and callback requests shaped like the ones Dash's renderer sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import dash
from argon2 import PasswordHasher
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from appstate import AppState
from appstate.passwords import Passwords
from appstate.roles import Role
from appstate.throttle import ThrottlePolicy
from customs_kpi.settings import Settings

PASSWORD = "a long test passphrase"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
# The shell's header callback: any signed-in user may call it (a cheap "am I signed in" probe).
SHELL_OUTPUT = "..shell-nav.children...shell-data-as-of.children.."

# name: (role, offices)
DEFAULT_USERS: dict[str, tuple[Role, tuple[str, ...]]] = {
    "vera": (Role.VIEWER, ()),
    "anna": (Role.ANALYST, ()),
    "adam": (Role.ADMIN, ()),
    "scoped": (Role.ANALYST, ("THS",)),
}


def cheap_passwords() -> Passwords:
    """argon2id with tiny costs: the tests check behaviour, not hashing strength."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def make_app(
    settings: Settings,
    users: dict[str, tuple[Role, tuple[str, ...]]] | None = None,
    policy: ThrottlePolicy | None = None,
) -> tuple[dash.Dash, AppState, Passwords]:
    from dashboard.app import create_app

    passwords = cheap_passwords()
    state = AppState(settings.app_db_path, policy)
    for name, (role, offices) in (DEFAULT_USERS if users is None else users).items():
        state.add_user(name, role, passwords.hash(PASSWORD), offices)
    return create_app(settings, state=state, passwords=passwords), state, passwords


def form_token(client: FlaskClient, path: str = "/login") -> str:
    match = CSRF_RE.search(client.get(path).get_data(as_text=True))
    assert match is not None, "no CSRF field in the form"
    return match.group(1)


def post_login(
    client: FlaskClient, name: str, password: str = PASSWORD, next_path: str = "/"
) -> TestResponse:
    return client.post(
        "/login",
        data={
            "username": name,
            "password": password,
            "csrf_token": form_token(client),
            "next": next_path,
        },
    )


def client_from(app: dash.Dash, address: str | None = None) -> FlaskClient:
    """A browser; ``address`` is the remote address the server sees (default 127.0.0.1)."""
    client: FlaskClient = app.server.test_client()
    if address:
        client.environ_base["REMOTE_ADDR"] = address
    return client


def login(
    app: dash.Dash, name: str, password: str = PASSWORD, address: str | None = None
) -> FlaskClient:
    client = client_from(app, address)
    response = post_login(client, name, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def csrf_headers(client: FlaskClient) -> dict[str, str]:
    cookie = client.get_cookie("_csrf_token")
    return {"X-CSRFToken": cookie.value} if cookie else {}


def _spec(key: str) -> dict[str, Any]:
    component, prop = key.rsplit(".", 1)
    return {"id": component, "property": prop}


def callback_body(
    app: dash.Dash,
    output: str,
    inputs: Sequence[Any] | None = None,
    state: Sequence[Any] | None = None,
    changed: Iterable[str] = (),
) -> dict[str, Any]:
    """A callback request for ``output`` as the renderer builds it (values default to None)."""
    entry = app.callback_map[output]
    if output.startswith(".."):
        outputs: Any = [_spec(o) for o in output.strip(".").split("...")]
    else:
        outputs = _spec(output)
    input_specs = entry.get("inputs", [])
    state_specs = entry.get("state", [])
    inputs = list(inputs) if inputs is not None else [None] * len(input_specs)
    state = list(state) if state is not None else [None] * len(state_specs)
    return {
        "output": output,
        "outputs": outputs,
        "inputs": [dict(spec, value=v) for spec, v in zip(input_specs, inputs, strict=True)],
        "state": [dict(spec, value=v) for spec, v in zip(state_specs, state, strict=True)],
        "changedPropIds": list(changed),
    }


def call(
    client: FlaskClient,
    app: dash.Dash,
    output: str,
    inputs: Sequence[Any] | None = None,
    state: Sequence[Any] | None = None,
    changed: Iterable[str] = (),
    *,
    csrf: bool = True,
) -> TestResponse:
    """POST a callback like the browser (CSRF header from the cookie unless ``csrf=False``)."""
    return client.post(
        "/_dash-update-component",
        json=callback_body(app, output, inputs, state, changed),
        headers=csrf_headers(client) if csrf else {},
    )


def press_download(
    client: FlaskClient, app: dash.Dash, page: str, view: str, state: Sequence[Any] = ()
) -> TestResponse:
    """Click the ``view`` CSV button of ``page`` (pattern-matching id, as the browser sends it);
    ``state``: the download callback's states, by position (missing ones None)."""
    output = f"{page}-download.data"
    specs = app.callback_map[output].get("state", [])
    values = [*state, *[None] * (len(specs) - len(state))]
    button = {"type": "download-button", "page": page, "view": view}
    return client.post(
        "/_dash-update-component",
        json={
            "output": output,
            "outputs": _spec(output),
            "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
            "state": [dict(spec, value=v) for spec, v in zip(specs, values, strict=True)],
            "changedPropIds": [
                json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"
            ],
        },
        headers=csrf_headers(client),
    )


def call_json(
    client: FlaskClient,
    app: dash.Dash,
    output: str,
    inputs: Sequence[Any] | None = None,
    state: Sequence[Any] | None = None,
    changed: Iterable[str] | None = None,
) -> tuple[int, Any]:
    """:func:`call`, answered as (HTTP status, JSON payload when the status is 200, else None)."""
    response = call(client, app, output, inputs, state, changed or ())
    payload = response.get_json(silent=True) if response.status_code == 200 else None
    return response.status_code, payload


def audit_actions(state: AppState, prefix: str | None = None) -> list[str]:
    """Audit actions, oldest first."""
    return [e.action for e in reversed(state.audit_entries(action_prefix=prefix, limit=10_000))]


def find_prop(tree: Any, component_id: str, prop: str) -> Any:
    """A property of the component with ``component_id`` in a serialised layout."""
    if isinstance(tree, dict):
        props = tree.get("props", {})
        if isinstance(props, dict) and props.get("id") == component_id:
            return props.get(prop)
        for value in tree.values():
            found = find_prop(value, component_id, prop)
            if found is not None:
                return found
    if isinstance(tree, list):
        for value in tree:
            found = find_prop(value, component_id, prop)
            if found is not None:
                return found
    return None
