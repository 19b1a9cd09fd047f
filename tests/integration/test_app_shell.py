"""The application shell: create_app, the header (navigation by role, user, sign-out, data as
of), everything served locally, and the serve command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import dash
import pytest
from auth_helpers import SHELL_OUTPUT, call, client_from, find_prop, login, make_app
from typer.testing import CliRunner

from appstate.roles import Role
from customs_kpi.settings import Settings

USERS = {
    "vera": (Role.VIEWER, ()),
    "anna": (Role.ANALYST, ()),
    "adam": (Role.ADMIN, ()),
    "scoped": (Role.ANALYST, ("THS", "DKR")),
}


def _links(children: Any) -> list[tuple[str, str, bool]]:
    return [
        (
            c["props"]["children"],
            c["props"]["href"],
            "ck-nav-link-active" in c["props"]["className"],
        )
        for c in children
    ]


def _header(app: dash.Dash, user: str) -> Any:
    response = login(app, user).get("/_dash-layout")
    assert response.status_code == 200
    return response.get_json()


def test_navigation_lists_the_pages_the_role_may_open(settings: Settings) -> None:
    app, _, _ = make_app(settings, users=USERS)
    registry = sorted(dash.page_registry.values(), key=lambda p: p.get("order", 0))
    names: dict[str, list[str]] = {}
    for user in ("vera", "anna", "adam"):
        layout = _header(app, user)
        names[user] = [name for name, _, _ in _links(find_prop(layout, "shell-nav", "children"))]
        role = USERS[user][0]
        expected = [
            p["name"]
            for p in registry
            if p.get("nav", True) is not False and role.covers(Role(p.get("min_role") or "viewer"))
        ]
        assert names[user] == expected, user
    assert names["vera"][0] == "Overview"
    assert {"Overview", "Profiles", "Clearance times", "Offices", "Data"} <= set(names["vera"])
    assert "Users" not in names["vera"] and "Users" not in names["anna"]
    assert names["adam"][-1] == "Users"
    # A profile's detail page is reached from the grid, not the navigation.
    assert "Profile" not in names["adam"]


def test_header_shows_the_user_role_scope_and_sign_out(settings: Settings) -> None:
    app, _, _ = make_app(settings, users=USERS)
    text = str(_header(app, "scoped"))
    assert "'children': 'scoped', 'className': 'ck-user-name'" in text
    assert "Analyst · offices DKR, THS" in text
    assert "Sign out" in text
    admin = str(_header(app, "adam"))
    assert "Administrator" in admin and "offices" not in admin.split("ck-user-role")[0][-60:]


def test_first_paint_marks_the_page_the_layout_was_asked_for(settings: Settings) -> None:
    """The layout is fetched by the page's script: its Referer names the page, so the right
    link is lit before any callback runs, and none is lit when the page is unknown."""
    app, _, _ = make_app(settings, users=USERS)
    client = login(app, "anna")

    def active(headers: dict[str, str]) -> list[str]:
        layout = client.get("/_dash-layout", headers=headers).get_json()
        return [n for n, _, lit in _links(find_prop(layout, "shell-nav", "children")) if lit]

    assert active({"Referer": "http://localhost/clearance?from=2025-01"}) == ["Clearance times"]
    assert active({"Referer": "http://localhost/profiles/P-1"}) == ["Profiles"]
    assert active({"Referer": "http://localhost/"}) == ["Overview"]
    assert active({}) == []
    assert active({"Referer": "http://elsewhere.example/clearance"}) == []


def test_header_callback_marks_the_current_page_and_data_as_of(settings: Settings) -> None:
    app, _, _ = make_app(settings, users=USERS)
    client = login(app, "anna")
    for path, active in (
        ("/", "Overview"),
        ("/profiles", "Profiles"),
        ("/profiles/P-1", "Profiles"),
        ("/clearance", "Clearance times"),
        ("/nowhere", None),
    ):
        response = call(client, app, SHELL_OUTPUT, [path])
        assert response.status_code == 200
        body = response.get_json()["response"]
        links = _links(body["shell-nav"]["children"])
        assert [name for name, _, is_active in links if is_active] == ([active] if active else [])
        assert body["shell-data-as-of"]["children"] == "No data loaded yet"


def test_data_as_of_comes_from_the_published_version(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    import customs_kpi.published as published

    class PublishedVersion:
        data_as_of = datetime(2026, 3, 31, 18, 5)

    monkeypatch.setattr(published, "current_version", lambda _settings: PublishedVersion())
    app, _, _ = make_app(settings, users=USERS)
    client = login(app, "vera")

    def shown() -> str:
        response = call(client, app, SHELL_OUTPUT, ["/"])
        return str(response.get_json()["response"]["shell-data-as-of"]["children"])

    # Loaded long before now: the header says stale, as the Data page does.
    assert shown() == "Data as of 31 Mar 2026 18:05 UTC · stale"
    recent = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0) - timedelta(hours=1)
    PublishedVersion.data_as_of = recent
    assert shown() == f"Data as of {recent:%d %b %Y %H:%M} UTC"


def test_everything_is_served_locally(settings: Settings) -> None:
    app, _, _ = make_app(settings, users=USERS)
    client = login(app, "vera")
    index = client.get("/").get_data(as_text=True)
    # In-page links (the skip link to #shell-main) fetch nothing.
    sources = [s for s in re.findall(r'(?:src|href)="([^"]+)"', index) if not s.startswith("#")]
    assert sources, index
    assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert any(s.startswith("/assets/app.css") for s in sources)
    assert any(s.startswith("/assets/session.js") for s in sources)
    for source in sources:
        assert client.get(source).status_code == 200, source
    config = app.config
    assert config.serve_locally and not config.external_stylesheets
    assert not config.external_scripts


def test_two_apps_in_one_process_each_get_every_callback(
    settings: Settings, tmp_path: Path
) -> None:
    from dataclasses import replace

    first, _, _ = make_app(settings, users=USERS)
    second, _, _ = make_app(replace(settings, home=tmp_path / "second"), users=USERS)
    callbacks = [k for k, v in first.callback_map.items() if "callback" in v]
    assert len(callbacks) >= 15
    assert sorted(callbacks) == sorted(k for k, v in second.callback_map.items() if "callback" in v)
    # The second app's callbacks run against its own database.
    assert call(login(second, "adam"), second, SHELL_OUTPUT, ["/"]).status_code == 200


def test_nothing_is_read_or_written_at_import_time(tmp_path: Path) -> None:
    env = {**os.environ, "CUSTOMS_KPI_HOME": str(tmp_path / "home")}
    code = "import dashboard.app, dashboard.access, dashboard.pages.admin_users"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    # Importing a page module outside create_app fails loudly in Dash (no app yet), or works;
    # either way nothing may be created from the environment.
    assert not (tmp_path / "home").exists(), result.stderr
    result = subprocess.run(
        [sys.executable, "-c", "import dashboard.app"], cwd=tmp_path, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "home").exists()


def test_bundles_are_compressed_pages_and_answers_are_not(settings: Settings) -> None:
    import gzip

    app, _, _ = make_app(settings, users=USERS)
    client = login(app, "anna")
    gzip_only = {"Accept-Encoding": "gzip"}
    page = client.get("/", headers=gzip_only)
    assert page.status_code == 200 and "Content-Encoding" not in page.headers
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+\.js[^"]*)"', page.get_data(True))
    renderer = next(s for s in scripts if "dash_renderer" in s)
    plain = client.get(renderer).get_data()
    packed = client.get(renderer, headers=gzip_only)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.get_data()) == plain
    assert len(packed.get_data()) < len(plain) / 2
    big = [s for s in scripts if "plotly" in s or "dash_ag_grid" in s or "mantine" in s]
    assert big and all(
        client.get(s, headers=gzip_only).headers.get("Content-Encoding") == "gzip" for s in big
    )
    # Anything that may carry a CSRF token or reflect input stays uncompressed (BREACH).
    sign_in_page = client_from(app).get("/login", headers=gzip_only)
    assert "csrf_token" in sign_in_page.get_data(True)
    assert "Content-Encoding" not in sign_in_page.headers
    answer = call(client, app, SHELL_OUTPUT, ["/"])
    assert answer.status_code == 200 and "Content-Encoding" not in answer.headers


def test_serve_command_builds_the_app_and_runs_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from customs_kpi.cli import app as cli

    calls: list[dict[str, Any]] = []

    def fake_run(self: dash.Dash, **kwargs: Any) -> None:
        calls.append({"app": self, **kwargs})

    monkeypatch.setattr(dash.Dash, "run", fake_run)
    result = CliRunner().invoke(
        cli, ["serve", "--home", str(settings.home), "--host", "0.0.0.0", "--port", "8123"]
    )
    assert result.exit_code == 0, result.output
    assert "no users yet" in result.output
    assert "serving on http://0.0.0.0:8123" in result.output
    assert len(calls) == 1
    assert (calls[0]["host"], calls[0]["port"], calls[0]["debug"]) == ("0.0.0.0", 8123, False)
    served = calls[0]["app"]
    assert isinstance(served, dash.Dash)
    assert served.server.config["SESSION_COOKIE_HTTPONLY"] is True
    assert settings.secret_key_path.exists()


def test_wsgi_factory_reads_settings_when_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask import Flask

    from dashboard.app import wsgi

    monkeypatch.setenv("CUSTOMS_KPI_HOME", str(tmp_path / "wsgi-home"))
    monkeypatch.setenv("CUSTOMS_KPI_IDLE_TIMEOUT_MINUTES", "7")
    server = wsgi()
    assert isinstance(server, Flask)
    assert (tmp_path / "wsgi-home" / "secret_key").exists()
    assert server.extensions["customs_kpi.settings"].idle_timeout_minutes == 7
    assert server.test_client().get("/").headers["Location"] == "/login"


def test_first_paint_has_lang_skip_link_and_a_skeleton(settings: Settings) -> None:
    from dashboard.app import page_language

    app, _, _ = make_app(settings, users=USERS)
    index = login(app, "vera").get("/").get_data(as_text=True)
    assert f'<html lang="{page_language()}">' in index and page_language() == "en"
    assert '<a class="ck-skip-link" href="#shell-main">' in index
    assert "ck-skeleton" in index and "Loading..." not in index
