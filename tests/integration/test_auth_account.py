"""A signed-in user changes their own password."""

from __future__ import annotations

from auth_helpers import (
    PASSWORD,
    SHELL_OUTPUT,
    audit_actions,
    call,
    client_from,
    csrf_headers,
    login,
    make_app,
    post_login,
)
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from appstate.passwords import Passwords
from appstate.roles import Role
from customs_kpi.settings import Settings

NEW = "a brand new passphrase"


def _change(
    client: FlaskClient, current: str, new: str, confirm: str | None = None, token: bool = True
) -> TestResponse:
    data = {"current_password": current, "new_password": new, "confirm_password": confirm or new}
    cookie = client.get_cookie("_csrf_token")
    if token and cookie is not None:
        data["csrf_token"] = cookie.value
    return client.post("/account/password", data=data)


def test_change_password_keeps_this_session_and_ends_the_others(settings: Settings) -> None:
    app, state, passwords = make_app(settings)
    here, elsewhere = login(app, "anna"), login(app, "anna", address="10.0.0.2")
    form = here.get("/account/password")
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert "Signed in as anna" in page and 'name="csrf_token"' in page
    response = _change(here, PASSWORD, NEW)
    assert response.status_code == 200
    assert "Your password has been changed." in response.get_data(as_text=True)
    assert passwords.verify(state.get_user("anna").password_hash, NEW)
    assert call(here, app, SHELL_OUTPUT, ["/"]).status_code == 200
    assert call(elsewhere, app, SHELL_OUTPUT, ["/"]).status_code == 401
    assert post_login(client_from(app), "anna", PASSWORD).status_code == 401
    assert post_login(client_from(app), "anna", NEW).status_code == 302
    entry = state.audit_entries(action_prefix="user.password_change", limit=1)[0]
    assert (entry.user_name, entry.details) == ("anna", {"other_sessions_ended": 1})


def test_change_password_refusals(settings: Settings) -> None:
    app, state, passwords = make_app(settings)
    client = login(app, "anna")
    cases = [
        (_change(client, PASSWORD, NEW, confirm=NEW + "x"), 400, "The two new passwords differ."),
        (_change(client, PASSWORD, "short"), 400, "Not changed: a password needs at least 12"),
        (_change(client, PASSWORD, PASSWORD), 400, "must differ from the current one"),
        (_change(client, "wrong current password", NEW), 403, "The current password is wrong."),
        (_change(client, PASSWORD, NEW, token=False), 403, "security token"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, message
        assert message in response.get_data(as_text=True)
    assert passwords.verify(state.get_user("anna").password_hash, PASSWORD)
    assert "user.password_change" not in audit_actions(state)
    # The wrong current password counts like a failed sign-in.
    throttle = state.throttle_state("account", "anna")
    assert throttle is not None and throttle.failures == 1


def test_anonymous_visitors_are_sent_to_sign_in(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    client = client_from(app)
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Faccount%2Fpassword"
    assert _change(client, PASSWORD, NEW, token=False).status_code == 401


def test_header_links_to_the_password_page(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    layout = str(login(app, "vera").get("/_dash-layout").get_json())
    assert "'href': '/account/password', 'target': '_self'" in layout


def test_a_password_set_by_an_admin_must_be_changed_first(settings: Settings) -> None:
    app, state, passwords = make_app(settings)
    # Hashed with other costs than the app's: the sign-in rehashes it, and keeps the flag.
    state.add_user(
        "nora", Role.VIEWER, Passwords().hash(PASSWORD), ("THS",), must_change_password=True
    )
    client = client_from(app)
    response = post_login(client, "nora", next_path="/offices")
    assert response.headers["Location"] == "/account/password"
    user = state.get_user("nora")
    assert user.must_change_password and not passwords.needs_rehash(user.password_hash)
    assert client.get("/offices").headers["Location"] == "/account/password"
    assert client.get("/login").headers["Location"] == "/"  # already signed in …
    assert client.get("/").headers["Location"] == "/account/password"  # … but not past here
    refused = call(client, app, SHELL_OUTPUT, ["/"])
    assert (refused.status_code, refused.get_json()["error"]) == (403, "password change required")
    assert client.post("/auth/keepalive", headers=csrf_headers(client)).status_code == 403
    page = client.get("/account/password").get_data(as_text=True)
    assert "An administrator set your password." in page and "Back to the overview" not in page
    assert 'action="/logout"' in page  # the way out that does not need the new password

    assert _change(client, "wrong current password", NEW).status_code == 403
    assert state.get_user("nora").must_change_password
    done = _change(client, PASSWORD, NEW)
    assert done.status_code == 200
    assert "Back to the overview" in done.get_data(as_text=True)
    assert "An administrator set your password." not in done.get_data(as_text=True)
    assert 'action="/logout"' not in done.get_data(as_text=True)
    assert state.get_user("nora").must_change_password is False
    assert client.get("/offices").status_code == 200
    assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 200


def test_a_user_who_must_change_the_password_can_sign_out(settings: Settings) -> None:
    app, state, passwords = make_app(settings)
    state.add_user("nora", Role.VIEWER, passwords.hash(PASSWORD), must_change_password=True)
    client = login(app, "nora")
    token = client.get_cookie("_csrf_token")
    assert token is not None
    out = client.post("/logout", data={"csrf_token": token.value})
    assert (out.status_code, out.headers["Location"]) == (302, "/login?signed_out=1")
    assert client.get("/account/password").headers["Location"].startswith("/login")
    assert audit_actions(state) == ["login.success", "logout"]
