"""Office scope: whatever the browser sends, a scoped user's queries stay inside their offices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import dash
import pages_published
import pytest
from auth_helpers import call, login, make_app, press_download
from flask.testing import FlaskClient
from werkzeug.exceptions import Unauthorized

from appstate.roles import Role
from customs_kpi.settings import load_settings
from dashboard.access import current_viewer

OVERVIEW = "overview-content.children"
USERS = {
    "adam": (Role.ADMIN, ()),
    "ths": (Role.VIEWER, ("THS",)),
    "two": (Role.ANALYST, ("DKR", "THS")),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dash.Dash]:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("scope"))
    settings.ensure_home()
    pages_published.build(settings)
    built, _, _ = make_app(settings, users=USERS)
    yield built


def _in_request(client: FlaskClient) -> FlaskClient:
    """Keep the signed-in request's context open so access functions can be called."""
    client.__enter__()
    assert client.get("/auth/session").status_code == 200
    return client


def test_current_viewer_carries_the_scope(app: dash.Dash) -> None:
    client = _in_request(login(app, "two"))
    try:
        viewer = current_viewer()
        assert (viewer.name, viewer.role, viewer.offices) == ("two", Role.ANALYST, ("DKR", "THS"))
    finally:
        client.__exit__(None, None, None)
    client = _in_request(login(app, "adam"))
    try:
        assert current_viewer().offices is None
    finally:
        client.__exit__(None, None, None)


def test_no_scope_without_a_user(app: dash.Dash) -> None:
    """Outside a signed-in request a query cannot run unscoped: it is refused."""
    with app.server.test_request_context("/"), pytest.raises(Unauthorized):
        current_viewer()


def _overview(client: FlaskClient, app: dash.Dash, offices: Any) -> str:
    response = call(client, app, OVERVIEW, ["2025-01", "2026-03", offices, "all"])
    assert response.status_code == 200
    return json.dumps(response.get_json()["response"])


def test_a_crafted_callback_cannot_widen_the_scope(app: dash.Dash) -> None:
    scoped = login(app, "ths")
    admin = login(app, "adam")
    ths_only = _overview(admin, app, ["THS"])
    everything = _overview(admin, app, [])
    assert ths_only != everything  # the offices differ, so equal answers below mean scoping
    for crafted in (["DKR", "ZIG"], ["DKR", "THS", "ZIG"], [], None, "DKR,ZIG"):
        assert _overview(scoped, app, crafted) == ths_only, crafted


def test_a_crafted_download_cannot_widen_the_scope(app: dash.Dash) -> None:
    client = login(app, "ths")
    response = press_download(
        client, app, "offices", "table", ["2025-01", "2026-03", ["DKR", "ZIG"], "all"]
    )
    assert response.status_code == 200
    csv = response.get_json()["response"]["offices-download"]["data"]["content"]
    lines = csv.splitlines()
    assert len(lines) == 2, csv  # header + THS
    assert "THS" in lines[1] and "DKR" not in csv and "ZIG" not in csv
