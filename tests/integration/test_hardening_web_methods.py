"""CSRF on every method that changes state (issue 11.13): the sign-in and password views act on
POST only; HEAD is answered like GET (Flask routes it to the same view), any other method is 405;
the CSRF check covers every method but GET, HEAD and OPTIONS."""

from __future__ import annotations

import pytest
from auth_helpers import PASSWORD, audit_actions, client_from, login, make_app

from customs_kpi.settings import Settings
from dashboard.auth.csrf import SAFE_METHODS

NEW = "a brand new passphrase"
UNSAFE = ["PUT", "PATCH", "DELETE"]


def test_only_get_head_and_options_skip_the_csrf_check() -> None:
    assert frozenset({"GET", "HEAD", "OPTIONS"}) == SAFE_METHODS


@pytest.mark.parametrize("method", ["HEAD", *UNSAFE])
def test_sign_in_form_body_with_other_methods_signs_nobody_in(
    settings: Settings, method: str
) -> None:
    """A form body without the form's token, sent with another method than POST."""
    app, state, _ = make_app(settings)
    client = client_from(app)
    response = client.open(
        "/login", method=method, data={"username": "anna", "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == (200 if method == "HEAD" else 405), method
    assert response.headers.get("Location") is None
    assert client.get_cookie("_csrf_token") is None
    assert "login.success" not in audit_actions(state)
    assert state.get_user("anna").last_login_at is None
    # Nor was the attempt counted as a failure.
    assert state.throttled_keys() == []


@pytest.mark.parametrize("method", ["HEAD", *UNSAFE])
def test_password_form_body_with_other_methods_changes_nothing(
    settings: Settings, method: str
) -> None:
    app, state, passwords = make_app(settings)
    client = login(app, "anna")
    token = client.get_cookie("_csrf_token")
    assert token is not None
    form = {"current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW}
    for with_token in (False, True):
        data = dict(form, csrf_token=token.value) if with_token else form
        response = client.open("/account/password", method=method, data=data)
        assert response.status_code == (200 if method == "HEAD" else 405), (method, with_token)
    assert passwords.verify(state.get_user("anna").password_hash, PASSWORD)
    assert "user.password_change" not in audit_actions(state)


@pytest.mark.parametrize("method", UNSAFE)
@pytest.mark.parametrize("path", ["/logout", "/auth/keepalive", "/_dash-update-component", "/"])
def test_other_methods_are_refused_everywhere(settings: Settings, method: str, path: str) -> None:
    app, state, _ = make_app(settings)
    client = login(app, "anna")
    response = client.open(path, method=method, data={"csrf_token": "x"})
    assert response.status_code == 405, (method, path)
    anonymous = client_from(app).open(path, method=method, json={})
    assert anonymous.status_code == 405, (method, path)
    assert state.active_session_count(state.get_user("anna").user_id) == 1


def test_every_route_takes_only_get_and_post(settings: Settings) -> None:
    """HEAD and OPTIONS come with GET (Flask); no route takes PUT, PATCH or DELETE."""
    app, _, _ = make_app(settings)
    for rule in app.server.url_map.iter_rules():
        assert (rule.methods or set()) <= {"GET", "HEAD", "OPTIONS", "POST"}, rule.rule
