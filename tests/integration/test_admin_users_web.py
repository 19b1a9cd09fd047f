"""The Users page adds users, resets passwords and changes office scopes: admins only, audited,
a new password shown once and never kept; such users must change the password first."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import dash
import pytest
from auth_helpers import (
    PASSWORD,
    SHELL_OUTPUT,
    audit_actions,
    call,
    client_from,
    login,
    make_app,
    post_login,
)
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from appstate import AppState
from appstate.roles import Role
from customs_kpi.settings import Settings
from dashboard.access import callback_role

ACCOUNT = "admin-password-once.children...admin-new-name.value"  # add, reset, set offices
SHOW_OFFICES = "admin-offices.value"
HIDE = "admin-password-once.children@"
ADD, RESET, SET_OFFICES = "admin-add-user", "admin-reset-confirm", "admin-set-offices"
CONFIRM_RESET = "admin-reset-confirm.displayed"
TRIGGER_PROPS = {ADD: "n_clicks", RESET: "submit_n_clicks", SET_OFFICES: "n_clicks"}
NEW = "my own new passphrase"
TABLES = "..admin-users-grid.rowData...admin-locks-grid.rowData...admin-user-pick.options.."


def _key(app: dash.Dash, fragment: str) -> str:
    """The callback-map key of the admin page's callback whose outputs contain ``fragment``."""
    keys = [k for k in app.callback_map if fragment in k]
    assert len(keys) == 1, (fragment, keys)
    return keys[0]


def _act(
    client: FlaskClient,
    app: dash.Dash,
    button: str,
    *,
    user: str | None = None,
    offices: str | None = None,
    new_name: str | None = None,
    new_role: str | None = "viewer",
    new_offices: str | None = None,
) -> TestResponse:
    """Press Add user, Reset password (confirmed) or Set offices as the renderer would."""
    key = _key(app, ACCOUNT)
    states = [new_name, new_role, new_offices, user, offices, 7]
    inputs = [1 if b == button else None for b in (ADD, RESET, SET_OFFICES)]
    return call(client, app, key, inputs, states, changed=[f"{button}.{TRIGGER_PROPS[button]}"])


def _outcome(response: TestResponse) -> tuple[str, bool, Any]:
    """(message, was it an error, the one-time password panel) from a page action."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()["response"]
    assert body["admin-version"]["data"] == 8
    result = body["admin-result"]
    return (
        result["children"],
        "error" in result["className"],
        body["admin-password-once"]["children"],
    )


def _shown_password(panel: Any) -> str:
    """The password in the panel (the html.Code of the one-time notice)."""
    codes = [c for c in panel["props"]["children"] if isinstance(c, dict) and c["type"] == "Code"]
    assert len(codes) == 1
    return str(codes[0]["props"]["children"])


def _change_password(client: FlaskClient, current: str, new: str = NEW) -> TestResponse:
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    data = {
        "current_password": current,
        "new_password": new,
        "confirm_password": new,
        "csrf_token": cookie.value,
    }
    return client.post("/account/password", data=data)


def _user_states(client: FlaskClient, app: dash.Dash) -> dict[str, str]:
    """The State column of the page's users table."""
    rows = call(client, app, TABLES, [0]).get_json()["response"]["admin-users-grid"]["rowData"]
    return {row["name"]: row["state"] for row in rows}


def _everything_stored(state: AppState) -> bytes:
    wal = state.path.with_name(state.path.name + "-wal")
    return state.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _assert_only_password_page(client: FlaskClient, app: dash.Dash) -> None:
    for page in ("/", "/profiles", "/admin/users"):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"] == "/account/password", page
    refused = call(client, app, SHELL_OUTPUT, ["/"])
    assert refused.status_code == 403
    assert refused.get_json() == {
        "error": "password change required",
        "password": "/account/password",
    }
    assert client.get("/auth/session").status_code == 403
    assert client.get("/_dash-layout").status_code == 403
    form = client.get("/account/password")
    assert form.status_code == 200
    assert "An administrator set your password." in form.get_data(as_text=True)


# --- Add user ----------------------------------------------------------------------------------
def test_admin_adds_a_user_who_signs_in_with_the_shown_password_and_must_change_it(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app, state, passwords = make_app(settings)
    admin = login(app, "adam")
    with caplog.at_level(logging.DEBUG):
        response = _act(
            admin, app, ADD, new_name="Fatou.Diop", new_role="analyst", new_offices="THS, DKR01"
        )
    message, error, panel = _outcome(response)
    assert (message, error) == ("Created Fatou.Diop (analyst, DKR01, THS).", False)
    body = response.get_json()["response"]
    assert body["admin-new-name"]["value"] == ""  # the form is ready for the next one
    password = _shown_password(panel)
    assert len(password) >= 20
    assert "Hand it over securely" in str(panel)
    # Shown in the panel only: not in any other output (no store, no URL), log, row or audit.
    assert response.get_data(as_text=True).count(password) == 1
    assert set(body) == {"admin-password-once", "admin-new-name", "admin-result", "admin-version"}
    assert all(password not in r.getMessage() for r in caplog.records)
    assert password.encode() not in _everything_stored(state)

    user = state.get_user("fatou.diop")
    assert (user.role, user.offices, user.must_change_password) == (
        Role.ANALYST,
        ("DKR01", "THS"),
        True,
    )
    assert passwords.verify(user.password_hash, password)
    entry = state.audit_entries(action_prefix="user.create", limit=1)[0]
    assert (entry.user_name, entry.role, entry.target, entry.details) == (
        "adam",
        "admin",
        "Fatou.Diop",
        {"role": "analyst", "offices": ["DKR01", "THS"], "must_change_password": True},
    )
    assert all(password not in str(e) for e in state.audit_entries(limit=1000))

    # The new user signs in through the real form and lands on the password page, nowhere else.
    newcomer = client_from(app)
    signed_in = post_login(newcomer, "Fatou.Diop", password, next_path="/profiles")
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/account/password"
    _assert_only_password_page(newcomer, app)
    changed = _change_password(newcomer, password)
    assert changed.status_code == 200
    assert "Your password has been changed." in changed.get_data(as_text=True)
    assert state.get_user("fatou.diop").must_change_password is False
    assert newcomer.get("/profiles").status_code == 200
    assert call(newcomer, app, SHELL_OUTPUT, ["/"]).status_code == 200
    login_entry = state.audit_entries(action_prefix="login.success", limit=1)[0]
    assert login_entry.details == {"role": "analyst", "must_change_password": True}


@pytest.mark.parametrize(
    ("new_name", "new_role", "new_offices", "message"),
    [
        (None, "viewer", None, "Enter the new user's name."),
        ("   ", "viewer", None, "Enter the new user's name."),
        ("nadia", None, None, "Choose the new user's role."),
        ("bad name", "viewer", None, "invalid user name 'bad name'"),
        ("nadia", "root", None, "unknown role 'root'"),
        ("nadia", "viewer", "DKR01, D'K", 'invalid office code "D\'K"'),
        ("ANNA", "viewer", None, "A user named ANNA already exists."),
    ],
)
def test_add_user_refusals(
    settings: Settings,
    new_name: str | None,
    new_role: str | None,
    new_offices: str | None,
    message: str,
) -> None:
    app, state, _ = make_app(settings)
    response = _act(
        login(app, "adam"),
        app,
        ADD,
        new_name=new_name,
        new_role=new_role,
        new_offices=new_offices,
    )
    shown, error, panel = _outcome(response)
    assert error and message in shown
    assert panel is None  # no password shown
    assert "admin-new-name" not in response.get_json()["response"]  # what was typed stays
    assert [u.name for u in state.list_users()] == ["adam", "anna", "scoped", "vera"]
    assert "user.create" not in audit_actions(state)


# --- Reset password ----------------------------------------------------------------------------
def test_reset_password_ends_sessions_lifts_the_lock_out_and_forces_a_change(
    settings: Settings,
) -> None:
    app, state, passwords = make_app(settings)
    anna_here, anna_there = login(app, "anna"), login(app, "anna", address="10.0.0.2")
    now = time.time()
    for _ in range(state.policy.lockout_after):
        state.record_login_failure("pair", "10.0.0.3|anna", now)
    assert "anna" in state.locked_accounts()
    admin = login(app, "adam")
    assert _user_states(admin, app)["anna"] == "active, locked out"

    message, error, panel = _outcome(_act(admin, app, RESET, user="anna"))
    assert (message, error) == ("anna: password reset, 2 sessions ended.", False)
    password = _shown_password(panel)
    user = state.get_user("anna")
    assert passwords.verify(user.password_hash, password) and user.must_change_password
    assert "anna" not in state.locked_accounts()
    assert _user_states(admin, app)["anna"] == "active, must change password"
    for old_session in (anna_here, anna_there):
        assert call(old_session, app, SHELL_OUTPUT, ["/"]).status_code == 401
    assert post_login(client_from(app), "anna", PASSWORD).status_code == 401
    entry = state.audit_entries(action_prefix="user.password_reset", limit=1)[0]
    assert (entry.user_name, entry.target, entry.details) == (
        "adam",
        "anna",
        {"sessions_ended": 2, "lockout_cleared": True, "must_change_password": True},
    )
    assert password.encode() not in _everything_stored(state)

    client = client_from(app)
    assert post_login(client, "anna", password).headers["Location"] == "/account/password"
    _assert_only_password_page(client, app)
    assert _change_password(client, password).status_code == 200
    assert client.get("/").status_code == 200


def test_reset_asks_for_confirmation_first(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    admin = login(app, "adam")
    key = _key(app, CONFIRM_RESET)
    asked = call(admin, app, key, [1], ["anna"], changed=["admin-reset-password.n_clicks"])
    dialog = asked.get_json()["response"]["admin-reset-confirm"]
    assert dialog["displayed"] is True
    assert dialog["message"].startswith("Reset the password of anna? The old password stops")
    nobody = call(admin, app, key, [1], [None], changed=["admin-reset-password.n_clicks"])
    body = nobody.get_json()["response"]
    assert body["admin-reset-confirm"] == {"displayed": False}
    assert body["admin-result"]["children"] == "Choose a user first."
    assert "user.password_reset" not in audit_actions(state)  # asking changes nothing


def test_reset_refusals_and_a_disabled_account(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    admin = login(app, "adam")
    before = state.get_user("adam").password_hash
    own = _outcome(_act(admin, app, RESET, user="adam"))
    assert own == ("Change your own password with Password, top right.", True, None)
    assert state.get_user("adam").password_hash == before
    assert _outcome(_act(admin, app, RESET, user=None)) == ("Choose a user first.", True, None)
    assert _outcome(_act(admin, app, RESET, user="ghost")) == (
        "no user named 'ghost'",
        True,
        None,
    )
    assert "user.password_reset" not in audit_actions(state)
    state.set_disabled("vera", True)
    message, error, panel = _outcome(_act(admin, app, RESET, user="vera"))
    assert message == (
        "vera: password reset, 0 sessions ended. The account is still disabled: enable it to "
        "let them sign in."
    )
    assert not error and panel is not None


def test_the_password_goes_away_at_the_next_action(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    hide = _key(app, HIDE)
    response = call(
        login(app, "adam"), app, hide, [1, 0, 0, 0, 0, 0], changed=["admin-set-role.n_clicks"]
    )
    assert response.get_json()["response"] == {"admin-password-once": {"children": None}}


# --- Office scope ------------------------------------------------------------------------------
def test_change_office_scope(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    admin = login(app, "adam")
    shown = call(admin, app, SHOW_OFFICES, ["scoped"])
    assert shown.get_json()["response"] == {"admin-offices": {"value": "THS"}}

    message, error, panel = _outcome(
        _act(admin, app, SET_OFFICES, user="anna", offices="THS DKR01")
    )
    assert (message, error, panel) == ("anna: offices all → DKR01, THS.", False, None)
    assert state.get_user("anna").offices == ("DKR01", "THS")
    scoped_anna = login(app, "anna")
    assert scoped_anna.get("/").status_code == 200
    message, _, _ = _outcome(_act(admin, app, SET_OFFICES, user="anna", offices="THS, DKR01"))
    assert message == "anna already has the offices DKR01, THS."
    message, _, _ = _outcome(_act(admin, app, SET_OFFICES, user="anna", offices=""))
    assert message == "anna: offices DKR01, THS → all."
    assert state.get_user("anna").scope is None

    entries = state.audit_entries(action_prefix="user.scope_change", limit=10)
    assert [(e.user_name, e.target, e.details) for e in reversed(entries)] == [
        ("adam", "anna", {"from": [], "to": ["DKR01", "THS"]}),
        ("adam", "anna", {"from": ["DKR01", "THS"], "to": []}),
    ]


@pytest.mark.parametrize(
    ("user", "offices", "message"),
    [
        ("adam", "THS", "You cannot change your own office scope."),
        (None, "THS", "Choose a user first."),
        ("anna", "THS; D'K", 'invalid office code "D\'K"'),
        ("ghost", "THS", "no user named 'ghost'"),
    ],
)
def test_office_scope_refusals(
    settings: Settings, user: str | None, offices: str, message: str
) -> None:
    app, state, _ = make_app(settings)
    shown, error, _ = _outcome(
        _act(login(app, "adam"), app, SET_OFFICES, user=user, offices=offices)
    )
    assert error and shown == message
    assert state.get_user("adam").offices == () and state.get_user("anna").offices == ()
    assert "user.scope_change" not in audit_actions(state)


# --- Who may call the new callbacks ------------------------------------------------------------
def _new_outputs(app: dash.Dash) -> list[str]:
    return [_key(app, k) for k in (ACCOUNT, SHOW_OFFICES, HIDE, CONFIRM_RESET)]


def test_the_new_callbacks_need_the_admin_role(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    server_callbacks = [k for k, v in app.callback_map.items() if "callback" in v]
    assert set(_new_outputs(app)) <= set(server_callbacks)  # what test_auth_routes enumerates
    for output in _new_outputs(app):
        assert callback_role(app, output) is Role.ADMIN
        anonymous = call(app.server.test_client(), app, output)
        assert anonymous.status_code == 401, output
        assert anonymous.get_json()["error"] == "authentication required"
    for name in ("vera", "anna", "scoped"):
        client = login(app, name)
        for button in (ADD, RESET, SET_OFFICES):
            response = _act(client, app, button, user="vera", offices="THS", new_name="mallory")
            assert response.status_code == 403, (name, button)
            assert response.get_json() == {
                "error": "your role does not allow this action",
                "required": "admin",
            }
        for output in _new_outputs(app)[1:]:
            assert call(client, app, output).status_code == 403, (name, output)
    assert state.find_user("mallory") is None
    assert state.get_user("vera").offices == () and not state.get_user("vera").must_change_password
    denied = state.audit_entries(action_prefix="access.denied", limit=100)
    assert {e.user_name for e in denied} == {"vera", "anna", "scoped"}


def test_the_new_callbacks_need_the_csrf_token(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    admin = login(app, "adam")
    key = _key(app, ACCOUNT)
    inputs, states = [1, None, None], ["mallory", "admin", None, None, None, 0]
    response = call(admin, app, key, inputs, states, changed=[f"{ADD}.n_clicks"], csrf=False)
    assert response.status_code == 403
    assert response.get_json() == {"error": "missing or invalid CSRF token"}
    assert state.find_user("mallory") is None


def test_an_admin_who_must_change_the_password_cannot_use_the_page(settings: Settings) -> None:
    app, state, passwords = make_app(settings)
    state.add_user("ada", Role.ADMIN, passwords.hash(PASSWORD), must_change_password=True)
    client = client_from(app)
    assert post_login(client, "ada").headers["Location"] == "/account/password"
    _assert_only_password_page(client, app)
    response = _act(client, app, ADD, new_name="mallory")
    assert response.status_code == 403
    assert response.get_json()["error"] == "password change required"
    assert state.find_user("mallory") is None


# --- Lock-outs: administrators are told ----------------------------------------------------------
def test_lock_outs_are_shown_to_administrators_and_end_by_themselves(settings: Settings) -> None:
    """Issue 11.12: a lock notifies administrators (audit entry and this page) and ends."""
    import time_machine

    app, state, _ = make_app(settings)
    policy = state.policy
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        admin = login(app, "adam")
        notice = call(admin, app, "admin-lock-notice.children", [0]).get_json()["response"]
        assert notice["admin-lock-notice"]["children"] == (
            "No sign-in lock-outs in the last 24 hours."
        )
        guesser = client_from(app, "10.0.0.66")
        for _ in range(policy.lockout_after):
            clock.shift(policy.max_delay_seconds)
            post_login(guesser, "vera", "not the password")
        admin = login(app, "adam")  # the first session has timed out meanwhile
        assert _user_states(admin, app)["vera"] == "active, locked out"
        tables = call(admin, app, TABLES, [0]).get_json()["response"]
        rows = tables["admin-locks-grid"]["rowData"]
        locked = [r for r in rows if r["kind"] == "pair"]
        assert [(r["by"], r["shown"], r["failures"]) for r in locked] == [
            ("account from address", "vera from 10.0.0.66", policy.lockout_after)
        ]
        assert locked[0]["state"] == "locked out until 2026-03-02 11:45:00 UTC"
        text = call(admin, app, "admin-lock-notice.children", [1]).get_json()["response"]
        message = text["admin-lock-notice"]["children"]
        assert message.startswith("1 sign-in lock-out or alert in the last 24 hours; latest: ")
        assert "vera (account from address) locked after 10 failures, from 10.0.0.66" in message
        assert "Locks end by themselves" in message

        clock.shift(policy.lock_seconds)
        assert _user_states(admin, app)["vera"] == "active"
        assert post_login(client_from(app, "10.0.0.66"), "vera", PASSWORD).status_code == 302
        # The lock has ended, the notice still reports it for the day.
        later = call(admin, app, "admin-lock-notice.children", [2]).get_json()["response"]
        assert later["admin-lock-notice"]["children"].startswith("1 sign-in lock-out")
    assert callback_role(app, "admin-lock-notice.children") is Role.ADMIN
