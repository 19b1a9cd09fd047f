"""A signed-in user changes their own password."""

from __future__ import annotations

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
