"""The tuning pages inside the real app (create_app, Flask test client, generated data): review
queue decisions reach the audit trail and the profile's timeline, viewers are refused on the
server, the committee workbook is role-checked and audited, what-if / changes / overlap pages
show what kpis computes."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import openpyxl
import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient

from customs_kpi.settings import Settings, load_settings
from dashboard.appstate import AppState
from dashboard.auth.passwords import Passwords
from dashboard.roles import Role
from etl.load import load_files, load_profiles
from etl.sample import generate_sample, write_sample

PASSWORD = "a long test passphrase"
USERS = {
    "viewer": (Role.VIEWER, ()),
    "analyst": (Role.ANALYST, ()),
    "admin": (Role.ADMIN, ()),
}
ROUTER = ".._pages_content.children..._pages_store.data.."
ACT = "..review-message.children...review-refresh.data.."
CONTENT = "..review-content.children...review-profile.options.."


@dataclass(frozen=True)
class App:
    app: Any
    settings: Settings
    state: AppState


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    from dashboard.app import create_app

    root = tmp_path_factory.mktemp("tuning-pages")
    sample = generate_sample(declarations=40_000, months=24, seed=11, start=date(2024, 1, 1))
    files = write_sample(sample, root / "data")
    settings = load_settings(environ={}, home=root / "home")
    settings.ensure_home()
    load_profiles(settings, root / "data" / "profiles.csv", root / "data" / "profile_changes.csv",
                  publish=False)  # fmt: skip
    load_files(settings, sorted(p for p in files if p.name.startswith("declarations_")))
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    state = AppState(settings.app_db_path)
    for name, (role, offices) in USERS.items():
        state.add_user(name, role, passwords.hash(PASSWORD), offices)
    yield App(create_app(settings, state=state, passwords=passwords), settings, state)


def login(app: Any, name: str) -> FlaskClient:
    client: FlaskClient = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    response = client.post(
        "/login",
        data={"username": name, "password": PASSWORD, "csrf_token": match.group(1), "next": "/"},
    )
    assert response.status_code == 302
    return client


def call(
    client: FlaskClient,
    app: Any,
    output: str,
    inputs: list[Any],
    state: list[Any] | None = None,
    changed: list[str] | None = None,
) -> tuple[int, Any]:
    """POST a callback the way the browser does (CSRF header from the cookie)."""
    entry = app.callback_map[output]
    outputs = [
        {"id": o.split(".")[0], "property": o.split(".")[1]} for o in output.strip(".").split("...")
    ]
    body = {
        "output": output,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [dict(spec, value=v) for spec, v in zip(entry["inputs"], inputs, strict=True)],
        "state": [dict(spec, value=v) for spec, v in zip(entry["state"], state or [], strict=True)],
        "changedPropIds": changed or [],
    }
    cookie = client.get_cookie("_csrf_token")
    headers = {"X-CSRFToken": cookie.value} if cookie else {}
    response = client.post("/_dash-update-component", json=body, headers=headers)
    payload = response.get_json(silent=True) if response.status_code == 200 else None
    return response.status_code, payload


def find_prop(tree: Any, component_id: str, prop: str) -> Any:
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


def layout_of(client: FlaskClient, app: Any, path: str) -> Any:
    status, routed = call(client, app, ROUTER, [path, ""])
    assert status == 200, (path, status)
    return routed["response"]["_pages_content"]["children"]


def filter_values(layout: Any) -> list[Any]:
    return [find_prop(layout, i, "value") for i in FILTERS]


FILTERS = ("filter-from", "filter-to", "filter-offices", "filter-channel")


def review_content(client: FlaskClient, app: Any) -> tuple[Any, list[dict[str, str]]]:
    layout = layout_of(client, app, "/review")
    status, payload = call(client, app, CONTENT, [*filter_values(layout), [], 0])
    assert status == 200
    response = payload["response"]
    return response["review-content"]["children"], response["review-profile"]["options"]


def act(
    client: FlaskClient, app: Any, button: str, profile: str, seen: str | None,
    decision: str | None = None, rationale: str | None = None,
) -> tuple[int, Any]:  # fmt: skip
    ids = ["review-start", "review-decide", "review-reopen", "review-release"]
    clicks = [1 if i == button else 0 for i in ids]
    return call(
        client, app, ACT, clicks, [profile, decision, rationale, seen, 0],
        changed=[f"{button}.n_clicks"],
    )  # fmt: skip


# --- Review queue ---------------------------------------------------------------------------------
def test_analyst_sees_the_queue_viewer_does_not(web: App) -> None:
    analyst = login(web.app, "analyst")
    assert analyst.get("/review").status_code == 200
    grid, options = review_content(analyst, web.app)
    rows = find_prop(grid, "review-grid", "rowData")
    assert rows and [o["value"] for o in options] == [r["profile"] for r in rows]
    wasted = [r["not_paid_off"] for r in rows]
    assert wasted == sorted(wasted, reverse=True)
    viewer = login(web.app, "viewer")
    layout = layout_of(analyst, web.app, "/review")
    status, _ = call(viewer, web.app, CONTENT, [*filter_values(layout), [], 0])
    assert status == 403


def test_viewer_cannot_take_a_decision(web: App) -> None:
    viewer = login(web.app, "viewer")
    before = len(web.state.audit_entries(action_prefix="review."))
    status, _ = act(viewer, web.app, "review-start", "P003", "flagged")
    assert status == 403
    status, _ = act(viewer, web.app, "review-decide", "P003", "under_review", "retire", "x")
    assert status == 403
    assert len(web.state.audit_entries(action_prefix="review.")) == before
    from dashboard.review_state import store_for

    assert store_for(web.settings.app_db_path).get("P003").state.value == "flagged"


def test_decision_reaches_audit_trail_and_timeline(web: App) -> None:
    client = login(web.app, "analyst")
    _, options = review_content(client, web.app)
    profile = options[0]["value"]
    status, payload = act(client, web.app, "review-start", profile, "flagged")
    assert status == 200
    assert "under review" in json.dumps(payload)
    # Deciding without a rationale is refused with a sentence, and nothing is written.
    status, payload = act(client, web.app, "review-decide", profile, "under_review", "retire")
    assert status == 200 and "rationale" in json.dumps(payload)
    rationale = "Hit rate below random for two quarters; inspections go to P001 instead."
    status, payload = act(
        client, web.app, "review-decide", profile, "under_review", "retire", rationale
    )
    assert status == 200 and "decided (retire)" in json.dumps(payload)
    entries = web.state.audit_entries(action_prefix="review.")
    assert [(e.action, e.user_name, e.target) for e in entries[:2]] == [
        ("review.decide", "analyst", f"profile:{profile}"),
        ("review.start", "analyst", f"profile:{profile}"),
    ]
    assert entries[0].details["rationale"] == rationale
    # A second screen still showing "under review" cannot decide again.
    status, payload = act(client, web.app, "review-decide", profile, "under_review", "keep", "x")
    assert "changed by someone else" in json.dumps(payload)
    # The profile page's timeline (its content callback) draws the decision.
    layout = layout_of(client, web.app, f"/profiles/{profile}")
    status, content = call(
        client, web.app, "profile-content.children", filter_values(layout), [profile]
    )
    assert status == 200
    text = json.dumps(content)
    assert "decision: retire" in text
    assert "Hit rate below random for two quarters" in text


def test_committee_workbook_is_role_checked_and_audited(web: App) -> None:
    layout = layout_of(login(web.app, "analyst"), web.app, "/review")
    values = filter_values(layout)
    viewer = login(web.app, "viewer")
    status, _ = call(viewer, web.app, "review-export.data", [1], [["decided"], *values])
    assert status == 403
    client = login(web.app, "admin")
    status, payload = call(client, web.app, "review-export.data", [1], [["decided"], *values])
    assert status == 200
    sent = payload["response"]["review-export"]["data"]
    assert sent["filename"].endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(sent["content"])))
    sheet = book["Review queue"]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(2)]
    _, options = review_content(client, web.app)
    assert {r["Profile"] for r in rows} >= {o["value"] for o in options}
    for r in rows:
        if r["Controls"]:
            assert r["Controls without finding"] == r["Controls"] - r["Hits"]
    assert "Exported by" in [c.value for c in book["About"]["A"]]
    entry = web.state.audit_entries(action_prefix="export.review_queue")[0]
    assert entry.user_name == "admin" and entry.details["rows"] == len(rows)
