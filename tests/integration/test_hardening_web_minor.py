"""Minor ways in (issue 11.15): unknown component-suite files are 404 (not 500), a CR/LF in
``?next=`` goes to a safe place (not 500), the Origin check compares the scheme as well as the
host, and the development server sends no version banner. (Bounded throttle rows for unknown
user names: tests/integration/test_auth_login.py.)"""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from dataclasses import replace
from typing import Any

import pytest
from auth_helpers import PASSWORD, SHELL_OUTPUT, call, client_from, form_token, login, make_app

from customs_kpi.settings import Settings


@pytest.mark.parametrize(
    "url",
    [
        "/_dash-component-suites/dash/nope.js",
        "/_dash-component-suites/no_such_package/x.js",
        "/_dash-component-suites/dash/dash-renderer/build/nope.v1_0m1.js",
    ],
)
def test_unknown_component_suite_files_are_not_found(settings: Settings, url: str) -> None:
    app, _, _ = make_app(settings)
    response = login(app, "anna").get(url)
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("next_path", ["/%0d%0aSet-Cookie:x=1", "/profiles%0a", "/a%09b", "/%7f"])
def test_control_characters_in_next_go_home(settings: Settings, next_path: str) -> None:
    app, _, _ = make_app(settings)
    # Signed in: the login page sends the browser on at once.
    signed_in = login(app, "anna").get(f"/login?next={next_path}")
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    # Signing in through the form.
    client = client_from(app)
    response = client.post(
        "/login",
        data={
            "username": "anna",
            "password": PASSWORD,
            "csrf_token": form_token(client),
            "next": urllib.parse.unquote(next_path),
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    # The sign-in form itself carries no control character into its hidden field.
    page = client_from(app).get(f"/login?next={next_path}")
    assert page.status_code == 200


def _shell_call(client: Any, app: Any, origin: str, scheme: str = "http") -> int:
    response = client.post(
        "/_dash-update-component",
        json={
            "output": SHELL_OUTPUT,
            "outputs": [
                {"id": "shell-nav", "property": "children"},
                {"id": "shell-data-as-of", "property": "children"},
            ],
            "inputs": [{"id": "shell-url", "property": "pathname", "value": "/"}],
            "state": [],
            "changedPropIds": [],
        },
        headers={"X-CSRFToken": client.get_cookie("_csrf_token").value, "Origin": origin},
        environ_overrides={"wsgi.url_scheme": scheme},
    )
    return int(response.status_code)


def test_the_origin_check_compares_the_scheme(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    client = login(app, "anna")
    assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 200
    assert _shell_call(client, app, "http://localhost") == 200
    assert _shell_call(client, app, "https://localhost") == 403
    assert _shell_call(client, app, "http://localhost", scheme="https") == 403
    assert _shell_call(client, app, "https://localhost", scheme="https") == 200
    assert _shell_call(client, app, "http://evil.example") == 403


def test_behind_https_the_origin_must_be_https(settings: Settings) -> None:
    """Secure cookies mean the browser talks HTTPS, even when a proxy hands on plain HTTP."""
    app, _, _ = make_app(replace(settings, secure_cookies=True))
    client = client_from(app)
    client.environ_base["wsgi.url_scheme"] = "https"
    response = client.post(
        "/login",
        data={"username": "anna", "password": PASSWORD, "csrf_token": form_token(client)},
    )
    assert response.status_code == 302
    assert _shell_call(client, app, "https://localhost") == 200
    assert _shell_call(client, app, "http://localhost") == 403
    # A proxy without X-Forwarded-Proto: the server sees http, the browser says https.
    assert _shell_call(client, app, "https://localhost", scheme="http") == 200


def test_the_development_server_sends_no_version_banner(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``app.run`` (``customs-kpi serve``) is served with a handler that names no versions."""
    from werkzeug import serving

    app, _, _ = make_app(settings)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(serving, "run_simple", lambda *a, **kw: seen.update(kw))
    app.run(host="127.0.0.1", port=8050, debug=False, threaded=True)
    handler = seen.get("request_handler")
    httpd = serving.make_server("127.0.0.1", 0, app.server, threaded=True, request_handler=handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{httpd.server_port}/login") as response:
            server_header = response.headers["Server"]
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
    assert server_header == "customs-kpi"
    assert "Werkzeug" not in server_header and "Python" not in server_header
