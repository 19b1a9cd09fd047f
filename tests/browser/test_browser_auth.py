"""Signing in and out in a real browser, and what the browser does when the session ends.

Playwright drives Debian's Chromium against the real app served on a local port.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from browser_helpers import (
    PASSWORD,
    Server,
    new_page,
    open_browser,
    require_chromium,
    serve_app,
    sign_in,
    signed_in_page,
    wait_for_shell,
)

from customs_kpi.settings import load_settings

pytestmark = pytest.mark.browser
require_chromium()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("browser-auth"))
    # A one-minute idle time-out: the expiry warning shows at once, and the tests make the
    # session idle by moving its last activity back rather than waiting.
    with serve_app(replace(settings, idle_timeout_minutes=1)) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with open_browser() as launched:
        yield launched


def _idle_for(server: Server, user: str, seconds: int) -> None:
    """Pretend the user's sessions have been idle for ``seconds`` (no waiting in tests)."""
    with sqlite3.connect(server.settings.app_db_path) as con:
        con.execute(
            "UPDATE sessions SET last_seen_at = last_seen_at - ?, created_at = created_at - ? "
            "WHERE user_id = (SELECT user_id FROM users WHERE name = ?) AND ended_at IS NULL",
            (seconds, seconds, user),
        )


def test_sign_in_lands_on_the_page_asked_for_without_console_errors(
    server: Server, browser: Any
) -> None:
    page, errors = new_page(browser)
    page.goto(server.url + "/clearance?from=2025-01")
    assert page.url == server.url + "/login?next=%2Fclearance%3Ffrom%3D2025-01"
    assert page.locator("h1").inner_text() == "Customs KPI"
    sign_in(page, server, "analyst")
    page.wait_for_url(server.url + "/clearance?from=2025-01")
    wait_for_shell(page)
    assert page.locator(".ck-user-name").inner_text() == "analyst"
    assert page.locator(".ck-user-role").inner_text() == "Analyst"
    nav = page.locator(".ck-nav-link").all_inner_texts()
    assert nav[0] == "Overview" and "Users" not in nav
    # Lit from the first paint (the layout request's Referer names the page).
    assert page.locator(".ck-nav-link-active").inner_text() == "Clearance times"
    page.locator(".ck-nav-link", has_text="Offices").click()
    # Same-document navigation; the page may add its filters to the query string.
    page.wait_for_url(re.compile(r"/offices(\?|$)"))
    page.wait_for_selector(".ck-nav-link-active:has-text('Offices')")
    assert errors == []


def test_wrong_password_is_refused_with_a_message(server: Server, browser: Any) -> None:
    page, _ = new_page(browser)
    page.goto(server.url + "/login")
    sign_in(page, server, "analyst", "not the password")
    page.wait_for_selector(".ck-auth-error")
    assert page.locator(".ck-auth-error").inner_text() == "Wrong user name or password."
    assert page.url == server.url + "/login"
    server.state.clear_login_failures("account", "analyst")
    server.state.clear_login_failures("address", "127.0.0.1")


def test_sign_out(server: Server, browser: Any) -> None:
    page, errors = signed_in_page(browser, server, "viewer")
    page.click(".ck-logout-button")
    page.wait_for_url(server.url + "/login?signed_out=1")
    assert page.locator(".ck-auth-info").inner_text() == "You are signed out."
    page.goto(server.url + "/")
    assert page.url == server.url + "/login"
    assert errors == []


def test_admin_sees_the_users_page(server: Server, browser: Any) -> None:
    page, errors = signed_in_page(browser, server, "admin", path="/admin/users")
    page.wait_for_selector("#admin-users-grid .ag-row")
    names = page.locator("#admin-users-grid .ag-row [col-id=name]").all_inner_texts()
    assert sorted(names) == ["admin", "analyst", "viewer"]
    assert page.locator(".ck-nav-link-active").inner_text() == "Users"
    page.wait_for_selector("#admin-audit-grid .ag-row")
    # Administrators are told about sign-in lock-outs of the last day (none here).
    page.wait_for_selector("#admin-lock-notice:has-text('lock-outs in the last 24 hours')")
    assert errors == []


def test_expiry_warning_and_staying_signed_in(server: Server, browser: Any) -> None:
    page, errors = signed_in_page(browser, server, "viewer")
    banner = page.locator(".ck-session-banner")
    banner.wait_for()  # idle time-out of one minute: the warning shows at the first check
    assert "Your session ends in 1 minute" in banner.inner_text()
    _idle_for(server, "viewer", 30)
    with page.expect_response(lambda r: r.url.endswith("/auth/keepalive")) as kept:
        banner.locator("button").click()
    assert kept.value.status == 200  # the CSRF header was added by assets/session.js
    assert kept.value.json()["idle_seconds_left"] in (59, 60)  # a full minute again
    assert errors == []


def test_an_idle_session_ends_on_the_sign_in_page(server: Server, browser: Any) -> None:
    page, _ = signed_in_page(browser, server, "analyst", path="/offices")
    _idle_for(server, "analyst", 61)
    # The next thing the user does talks to the server: the answer is 401, and the browser
    # goes to the sign-in page, which explains why and comes back to where the user was.
    page.locator(".ck-nav-link", has_text="Clearance times").click()
    page.wait_for_url("**/login?**")
    assert "expired=1" in page.url and "next=%2Fclearance" in page.url
    assert page.locator(".ck-auth-info").inner_text() == (
        "Your session has ended. Please sign in again."
    )
    sign_in(page, server, "analyst", PASSWORD)
    page.wait_for_url(server.url + "/clearance")
    wait_for_shell(page)


def test_an_idle_session_ends_without_a_click(server: Server, browser: Any) -> None:
    """Coming back to the tab is enough: the page checks the session and leaves."""
    page, _ = signed_in_page(browser, server, "admin", path="/data")
    _idle_for(server, "admin", 61)
    page.evaluate("window.dispatchEvent(new Event('focus'))")
    page.wait_for_url("**/login?**")
    assert "expired=1" in page.url and "next=%2Fdata" in page.url


def test_a_password_to_replace_takes_an_open_page_to_the_password_form(
    server: Server, browser: Any
) -> None:
    """If the account must replace its password while a page is open, the page goes there."""
    page, _ = signed_in_page(browser, server, "analyst", path="/offices")
    with sqlite3.connect(server.settings.app_db_path) as con:
        con.execute("UPDATE users SET must_change_password = 1 WHERE name = 'analyst'")
    try:
        page.evaluate("window.dispatchEvent(new Event('focus'))")  # the session check
        page.wait_for_url(server.url + "/account/password")
        assert page.locator("h1").count() == 1
    finally:
        with sqlite3.connect(server.settings.app_db_path) as con:
            con.execute("UPDATE users SET must_change_password = 0 WHERE name = 'analyst'")


def test_a_refused_callback_explains_itself(server: Server, browser: Any) -> None:
    """A viewer who reaches the users page inside the app is told why nothing shows."""
    page, _ = signed_in_page(browser, server, "viewer")
    with page.expect_response(
        lambda r: "_dash-update-component" in r.url and r.status == 403
    ) as refused:
        page.evaluate(
            "window.history.pushState({}, '', '/admin/users');"
            "window.dispatchEvent(new PopStateEvent('popstate'))"
        )
    assert refused.value.json() == {
        "error": "your role does not allow this action",
        "required": "admin",
    }
    notice = page.locator(".ck-notice")
    notice.wait_for()
    assert notice.inner_text().startswith("Your role does not allow this (it needs admin).")
    assert page.locator("#admin-users-grid").count() == 0
