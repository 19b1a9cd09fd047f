"""CSRF on login, logout and callbacks; idle and absolute time-outs; cookies; security headers;
the secret key."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import time_machine
from auth_helpers import (
    PASSWORD,
    SHELL_OUTPUT,
    audit_actions,
    call,
    callback_body,
    client_from,
    form_token,
    login,
    make_app,
    post_login,
)

from customs_kpi.settings import Settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- CSRF ---------------------------------------------------------------------------------------
def test_login_needs_the_forms_csrf_token(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    client = app.server.test_client()
    form_token(client)  # the session now has a token, which the posts below do not send
    credentials = {"username": "anna", "password": PASSWORD, "next": "/"}
    missing = client.post("/login", data=credentials)
    wrong = client.post("/login", data={**credentials, "csrf_token": "forged"})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "The sign-in form had expired" in response.get_data(as_text=True)
        assert client.get_cookie("_csrf_token") is None  # not signed in
    # A token from another browser's form does not work either.
    other_token = form_token(app.server.test_client())
    assert client.post("/login", data={**credentials, "csrf_token": other_token}).status_code == 403
    assert post_login(client, "anna").status_code == 302
    assert audit_actions(state) == ["csrf.refused"] * 3 + ["login.success"]


def test_logout_needs_the_sessions_csrf_token(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    client = login(app, "anna")
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    other = login(app, "vera").get_cookie("_csrf_token")
    assert other is not None
    assert client.post("/logout", data={"csrf_token": other.value}).status_code == 403
    # Still signed in after the refused attempts.
    assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 200
    token = client.get_cookie("_csrf_token")
    assert token is not None
    assert client.post("/logout", data={"csrf_token": token.value}).status_code == 302
    assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 401
    assert audit_actions(state, "csrf").count("csrf.refused") == 3
    assert audit_actions(state, "logout") == ["logout"]


def test_the_logout_form_in_the_header_carries_the_token(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    client = login(app, "anna")
    layout = client.get("/_dash-layout").get_json()
    token = client.get_cookie("_csrf_token")
    assert token is not None
    text = str(layout)
    assert "'action': '/logout'" in text and "'method': 'POST'" in text
    assert f"'value': '{token.value}'" in text


def test_callbacks_need_the_csrf_header(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    client = login(app, "anna")
    body = callback_body(app, SHELL_OUTPUT, ["/"])
    token = client.get_cookie("_csrf_token")
    assert token is not None
    missing = client.post("/_dash-update-component", json=body)
    wrong = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": "x" * 43})
    cross_site = client.post(
        "/_dash-update-component",
        json=body,
        headers={"X-CSRFToken": token.value, "Origin": "https://evil.example"},
    )
    for response in (missing, wrong, cross_site):
        assert response.status_code == 403
        assert response.get_json() == {"error": "missing or invalid CSRF token"}
    ok = client.post(
        "/_dash-update-component",
        json=body,
        headers={"X-CSRFToken": token.value, "Origin": "http://localhost"},
    )
    assert ok.status_code == 200
    assert audit_actions(state, "csrf") == ["csrf.refused"] * 3


def test_csrf_cookie_is_the_sessions_token_and_changes_with_the_session(
    settings: Settings,
) -> None:
    app, _, _ = make_app(settings)
    first = login(app, "anna").get_cookie("_csrf_token")
    second = login(app, "anna").get_cookie("_csrf_token")
    assert first is not None and second is not None
    assert first.value != second.value and len(first.value) >= 40
    assert first.same_site == "Strict" and not first.http_only


# --- Time-outs ------------------------------------------------------------------------------------
def test_idle_timeout_ends_the_session(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    idle = timedelta(minutes=settings.idle_timeout_minutes)
    with time_machine.travel(START, tick=False) as clock:
        client = login(app, "anna")
        clock.shift(idle - timedelta(seconds=30))
        assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 200  # activity...
        clock.shift(idle - timedelta(seconds=30))
        assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 200  # ...keeps it alive
        status = client.get("/auth/session").get_json()
        assert status["idle_seconds_left"] == idle.total_seconds()
        clock.shift(idle + timedelta(seconds=1))
        expired = call(client, app, SHELL_OUTPUT, ["/"])
        assert expired.status_code == 401
        assert expired.get_json() == {"error": "session expired", "login": "/login?expired=1"}
        # Once ended, it stays ended, and a page sends the browser to the sign-in form.
        clock.shift(timedelta(seconds=5))
        page = client.get("/clearance")
        assert page.status_code == 302
        assert page.headers["Location"] == "/login?next=%2Fclearance&expired=1"
    expired_rows = state.audit_entries(action_prefix="session.expired", limit=10)
    assert [(e.user_name, e.details) for e in expired_rows] == [
        ("anna", {"reason": "idle timeout"})
    ]


def test_polling_the_session_status_does_not_keep_it_alive(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    with time_machine.travel(START, tick=False) as clock:
        client = login(app, "anna")
        for _ in range(settings.idle_timeout_minutes - 1):
            clock.shift(60)
            assert client.get("/auth/session").status_code == 200
        left = client.get("/auth/session").get_json()["idle_seconds_left"]
        assert left == 60
        clock.shift(61)
        assert client.get("/auth/session").status_code == 401


def test_keepalive_counts_as_activity_and_needs_csrf(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    idle = settings.idle_timeout_minutes * 60
    with time_machine.travel(START, tick=False) as clock:
        client = login(app, "anna")
        clock.shift(idle - 60)
        assert client.post("/auth/keepalive").status_code == 403
        token = client.get_cookie("_csrf_token")
        assert token is not None
        kept = client.post("/auth/keepalive", headers={"X-CSRFToken": token.value})
        assert kept.status_code == 200 and kept.get_json()["idle_seconds_left"] == idle
        clock.shift(idle - 60)
        assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 200


def test_absolute_timeout_ends_even_an_active_session(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    with time_machine.travel(START, tick=False) as clock:
        client = login(app, "anna")
        step = timedelta(minutes=settings.idle_timeout_minutes - 1)
        elapsed = timedelta(0)
        limit = timedelta(hours=settings.absolute_timeout_hours)
        while elapsed + step < limit:
            clock.shift(step)
            elapsed += step
            assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 200, elapsed
        clock.shift(limit - elapsed)
        assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 401
    entry = state.audit_entries(action_prefix="session.expired", limit=1)[0]
    assert entry.details == {"reason": "absolute timeout"}


def test_shorter_timeouts_from_settings_apply(settings: Settings) -> None:
    short = replace(settings, idle_timeout_minutes=2, absolute_timeout_hours=1)
    app, _, _ = make_app(short)
    with time_machine.travel(START, tick=False) as clock:
        client = login(app, "anna")
        clock.shift(119)
        assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 200
        clock.shift(121)
        assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 401


# --- Cookies, headers, secret key ---------------------------------------------------------------
def _set_cookie_headers(settings: Settings) -> list[str]:
    app, _, _ = make_app(settings)
    client = client_from(app)
    response = post_login(client, "anna")
    assert response.status_code == 302
    return response.headers.getlist("Set-Cookie")


def test_session_cookie_flags(settings: Settings) -> None:
    plain = [c for c in _set_cookie_headers(settings) if c.startswith("customs_kpi_session=")]
    assert len(plain) == 1
    assert "HttpOnly" in plain[0] and "SameSite=Lax" in plain[0]
    assert "Secure" not in plain[0]
    assert "Expires" not in plain[0]  # ends with the browser; the server times it out anyway


def test_secure_cookies_when_configured(settings: Settings) -> None:
    secure = replace(settings, secure_cookies=True)
    cookies = _set_cookie_headers(secure)
    session_cookie = next(c for c in cookies if c.startswith("customs_kpi_session="))
    csrf_cookie = next(c for c in cookies if c.startswith("_csrf_token="))
    assert "Secure" in session_cookie and "Secure" in csrf_cookie


def test_security_headers_on_every_kind_of_response(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    anonymous = app.server.test_client()
    client = login(app, "anna")
    responses = {
        "login page": anonymous.get("/login"),
        "refused api": anonymous.get("/_dash-layout"),
        "page": client.get("/"),
        "callback": call(client, app, SHELL_OUTPUT, ["/"]),
        "asset": client.get("/assets/app.css"),
    }
    for what, response in responses.items():
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["frame-ancestors"] == "'none'", what
        assert directives["object-src"] == "'none'", what
        assert directives["default-src"] == "'self'", what
        script_src = directives["script-src"]
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, what
        assert "http" not in csp, what
        assert headers["X-Frame-Options"] == "DENY", what
        assert headers["X-Content-Type-Options"] == "nosniff", what
        assert headers["Referrer-Policy"] == "same-origin", what
    # The inline scripts of Dash's index page are allowed by hash, and only those.
    script_src = dict(
        d.strip().split(" ", 1)
        for d in responses["page"].headers["Content-Security-Policy"].split(";")
    )["script-src"]
    for digest in app.csp_hashes():
        assert digest in script_src
    assert responses["page"].headers["Cache-Control"] == "no-store"
    assert "no-store" not in responses["asset"].headers.get("Cache-Control", "")
    assert "Strict-Transport-Security" not in responses["page"].headers


def test_secret_key_is_generated_once_and_private(settings: Settings) -> None:
    assert not settings.secret_key_path.exists()
    app, _, _ = make_app(settings)
    path = settings.secret_key_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    assert len(key) >= 64
    assert app.server.secret_key == key
    client = login(app, "anna")
    # A restart (a new app on the same HOME) keeps the key: the session survives it.
    path.chmod(0o644)  # and a key someone made readable is tightened again
    restarted, _, _ = make_app(settings, users={})
    assert path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    other = restarted.server.test_client()
    cookie = client.get_cookie("customs_kpi_session")
    csrf = client.get_cookie("_csrf_token")
    assert cookie is not None and csrf is not None
    other.set_cookie("customs_kpi_session", cookie.value)
    other.set_cookie("_csrf_token", csrf.value)
    assert call(other, restarted, SHELL_OUTPUT, ["/"]).status_code == 200


def test_no_secret_in_the_code(settings: Settings) -> None:
    """Two HOMEs get two different keys: nothing is baked into the code."""
    first, _, _ = make_app(settings)
    second_home = replace(settings, home=settings.home.parent / "other-home")
    second, _, _ = make_app(second_home, users={})
    assert first.server.secret_key != second.server.secret_key
