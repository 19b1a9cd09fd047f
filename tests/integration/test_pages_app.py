"""The pages inside the real app (create_app) through Flask's test client: every page renders
for every role, callbacks refuse anonymous and under-privileged users, and an office-scoped user
cannot obtain another office's numbers by crafting a callback payload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pages_published
import pytest
from auth_helpers import call_json as call
from auth_helpers import find_prop as _find_prop
from auth_helpers import login, make_app, press_download
from flask.testing import FlaskClient

from appstate import AppState
from appstate.roles import Role
from customs_kpi.settings import Settings, load_settings

PAGES = {
    "/": "overview-content",
    "/profiles": "profiles-content",
    "/profiles/P-MID": "profile-content",
    "/clearance": "clearance-content",
    "/offices": "offices-content",
    "/data": "data-content",
}
ROUTER = ".._pages_content.children..._pages_store.data.."
FILTERS = ("filter-from", "filter-to", "filter-offices", "filter-channel")
USERS = {
    "viewer": (Role.VIEWER, ()),
    "analyst": (Role.ANALYST, ()),
    "admin": (Role.ADMIN, ()),
    "ths": (Role.ANALYST, ("THS",)),
}


@pytest.fixture(scope="module")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Settings]]:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("pages-app"))
    settings.ensure_home()
    pages_published.build(settings)
    yield make_app(settings, USERS)[0], settings


def render(client: FlaskClient, app: Any, path: str, search: str = "") -> tuple[Any, Any]:
    """Page layout (router callback) and the page's content callback with the layout's filter
    values: what the browser does on opening the page."""
    status, routed = call(client, app, ROUTER, [path, search])
    assert status == 200, (path, status)
    layout = routed["response"]["_pages_content"]["children"]
    content_id = PAGES.get(path, "profile-content")
    output = f"{content_id}.children"
    entry = app.callback_map[output]
    values = [_find_prop(layout, spec["id"], "value") for spec in entry["inputs"]]
    state = [_find_prop(layout, spec["id"], "data") for spec in entry["state"]]
    status, content = call(client, app, output, values, state)
    assert status == 200, (path, status)
    return layout, content["response"][content_id]["children"]


@pytest.mark.parametrize("user", sorted(USERS))
@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_renders_for_every_role(app_home: Any, user: str, path: str) -> None:
    app, _ = app_home
    client = login(app, user)
    assert client.get(path).status_code == 200
    layout, content = render(client, app, path)
    text = json.dumps(layout) + json.dumps(content)
    assert "could not be computed" not in text
    assert "Data as of" in text
    if path != "/data":
        assert _find_prop(layout, "filter-to", "value") == "2026-03"


def test_anonymous_users_get_nothing(app_home: Any) -> None:
    app, _ = app_home
    client: FlaskClient = app.server.test_client()
    page = client.get("/profiles")
    assert page.status_code in (302, 401) and "/login" in page.headers.get("Location", "/login")
    status, _ = call(
        client, app, "overview-content.children", [None, None, None, None], ["hit_rate"]
    )
    assert status in (401, 403)


def test_viewer_cannot_page_through_declarations(app_home: Any) -> None:
    app, _ = app_home
    output = "..profile-declarations.children...profile-declarations-page.data.."
    state = [0, "P-GOOD", None, None, None, None]
    status, _ = call(login(app, "viewer"), app, output, [0, 1], state)
    assert status == 403
    status, payload = call(
        login(app, "analyst"),
        app,
        output,
        [0, 1],
        state,
        changed=["profile-declarations-next.n_clicks"],
    )
    assert status == 200
    assert "26–50 of" in json.dumps(payload, ensure_ascii=False)
    assert payload["response"]["profile-declarations-page"]["data"] == 1


def test_scoped_user_cannot_craft_another_offices_numbers(app_home: Any) -> None:
    app, _ = app_home
    client = login(app, "ths")
    status, payload = call(
        client, app, "offices-content.children", ["2025-01", "2026-03", ["DKR", "ZIG"], "all"]
    )
    assert status == 200
    text = json.dumps(payload)
    assert "THS" in text and "DKR" not in text and "ZIG" not in text
    layout, _ = render(client, app, "/offices")
    options = _find_prop(layout, "filter-offices", "options")
    assert [o["value"] for o in options] == ["THS"]


def test_filters_in_the_url_initialise_the_page(app_home: Any) -> None:
    app, _ = app_home
    client = login(app, "admin")
    layout, content = render(client, app, "/", "?from=2025-06&to=2026-01&office=ZIG&channel=red")
    assert _find_prop(layout, "filter-from", "value") == "2025-06"
    assert _find_prop(layout, "filter-to", "value") == "2026-01"
    assert _find_prop(layout, "filter-offices", "value") == ["ZIG"]
    assert _find_prop(layout, "filter-channel", "value") == "red"
    assert "Jan 2026" in json.dumps(content)


def test_download_returns_the_csv_of_the_view(app_home: Any) -> None:
    app, settings = app_home
    client = login(app, "viewer")
    entry = app.callback_map["offices-download.data"]
    assert len(entry["inputs"]) == 1
    response = press_download(client, app, "offices", "table")
    assert response.status_code == 200
    data = response.get_json()["response"]["offices-download"]["data"]
    assert data["filename"] == "customs-kpi-offices-table-2026-03.csv"
    lines = data["content"].splitlines()
    assert lines[0].startswith("office,declarations,inspection_rate,hit_rate")
    assert [line.split(",")[0] for line in lines[1:]] == ["DKR", "THS", "ZIG"]
    # The export is in the audit trail: who, what, with which filters.
    state = AppState(settings.app_db_path)
    entry = state.audit_entries(action_prefix="export.csv")[0]  # newest first
    assert (entry.user_name, entry.target) == ("viewer", data["filename"])
    assert entry.details["rows"] == 3 and entry.details["filters"].startswith("?from=")
