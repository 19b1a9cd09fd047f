"""Shared pieces for browser tests: the real app served on a free local port in a thread, and
Debian's Chromium driven by Playwright, signed in through the real form.

Use in a test module::

    from browser_helpers import require_chromium, serve_app, open_browser, signed_in_page
    require_chromium()                      # skips the module cleanly when Chromium is absent

    with serve_app(settings, users={"ann": Role.ANALYST}) as server:
        with open_browser() as browser:
            page, errors = signed_in_page(browser, server, "ann")
            page.goto(server.url + "/profiles")
            assert errors == []

or the ready-made fixtures ``browser_server`` (module scope; users ``viewer``, ``analyst``,
``admin`` with :data:`PASSWORD`) and ``analyst_page`` by importing them into the test module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appstate import AppState
from appstate.roles import Role
from customs_kpi.settings import Settings, load_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
PASSWORD = "a long browser passphrase"
TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1366, "height": 768}
DEFAULT_USERS: Mapping[str, Role | tuple[Role, tuple[str, ...]]] = {
    "viewer": Role.VIEWER,
    "analyst": Role.ANALYST,
    "admin": Role.ADMIN,
}


def require_chromium() -> None:
    """Skip the calling test module when Debian's Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True
        )
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@dataclass(frozen=True)
class Server:
    url: str
    app: Any  # dash.Dash
    state: AppState
    settings: Settings


@contextmanager
def serve_app(
    settings: Settings,
    users: Mapping[str, Role | tuple[Role, tuple[str, ...]]] = DEFAULT_USERS,
    password: str = PASSWORD,
) -> Iterator[Server]:
    """The real app (create_app) on 127.0.0.1 and a free port, served by a thread."""
    from argon2 import PasswordHasher
    from werkzeug.serving import make_server

    from appstate.passwords import Passwords
    from dashboard.app import create_app

    settings.ensure_home()
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    state = AppState(settings.app_db_path)
    for name, spec in users.items():
        role, offices = spec if isinstance(spec, tuple) else (spec, ())
        if state.find_user(name) is None:
            state.add_user(name, role, passwords.hash(password), offices)
    app = create_app(settings, state=state, passwords=passwords)
    httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_port}", app, state, settings)
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()


@contextmanager
def open_browser() -> Iterator[Any]:
    """Headless Chromium (Debian's, never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any) -> tuple[Any, list[str]]:
    """A page in a fresh context (own cookies) and the list its console errors go to."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return page, errors


def sign_in(page: Any, server: Server, name: str, password: str = PASSWORD) -> None:
    """Fill and submit the sign-in form on the current page (the login page)."""
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")


def wait_for_shell(page: Any) -> None:
    """Until the Dash shell has rendered its header for a signed-in user."""
    page.wait_for_selector(".ck-user-name")


def wait_for_callbacks(page: Any) -> None:
    """Until the page's first callbacks have been answered and nothing is loading.

    The shell header is in the layout itself, so it shows before the page's callbacks are
    even sent; a test that changes the session must wait for them, or they race it.
    """
    page.wait_for_load_state("networkidle")
    # A locator wait, not wait_for_function: the app's content security policy forbids the
    # eval that Playwright's polling of a JavaScript string needs.
    page.locator("[data-dash-is-loading]").first.wait_for(state="detached")


def signed_in_page(
    browser: Any, server: Server, name: str, password: str = PASSWORD, path: str = "/"
) -> tuple[Any, list[str]]:
    """A page signed in as ``name`` through the real form, showing ``path``."""
    page, errors = new_page(browser)
    page.goto(server.url + "/login")
    sign_in(page, server, name, password)
    page.wait_for_url(server.url + "/")
    if path != "/":
        page.goto(server.url + path)
    wait_for_shell(page)
    wait_for_callbacks(page)
    return page, errors


@pytest.fixture(scope="module")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("browser-home"))
    with serve_app(settings) as server:
        yield server


@pytest.fixture
def analyst_page(browser_server: Server) -> Iterator[tuple[Any, list[str]]]:
    with open_browser() as browser:
        yield signed_in_page(browser, browser_server, "analyst")
