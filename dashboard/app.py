"""The Dash application shell: ``create_app(settings)`` builds a fully wired, secured app.

Nothing is read from the environment or a database at import time; everything comes from the
``Settings`` passed in, so tests build as many apps as they like.

Extension points for page authors (see ``dashboard/access.py`` for the full API):

* A page is a module in ``dashboard/pages/`` calling ``dash.register_page(__name__, path=...,
  name=..., order=..., min_role="viewer"|"analyst"|"admin", nav=True|False)``. The header's
  navigation lists the pages with ``nav`` not False, in ``order``, that the user's role covers;
  the request guard refuses the page (403) and every callback defined in its module to lower
  roles.
* A callback that needs more than its page: ``@require_role(Role.ANALYST)`` under ``@callback``.
* Every data query reads the cube of ``dashboard.data.request_context()``, cut to the user's
  office scope (``current_viewer()``).
* Audited actions (exports, downloads, review decisions, loads): ``dashboard.audit.audit``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from html import escape as html_escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dash
import dash_mantine_components as dmc
from dash import Input, Output, dcc, html
from flask import Flask, has_request_context, request
from flask_login import current_user

from appstate import AppState
from appstate.passwords import Passwords
from appstate.roles import Role, parse_role
from customs_kpi.settings import Settings
from dashboard import saved_views
from dashboard.access import page_entry
from dashboard.auth.account import PASSWORD_PATH
from dashboard.auth.csrf import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER
from dashboard.auth.setup import install_auth
from dashboard.auth.views import LOGOUT_PATH, PRODUCT_NAME

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
PAGES_FOLDER = PACKAGE_DIR / "pages"
# The product's top-level assets/ folder (served locally; nothing comes from a CDN).
ASSETS_FOLDER = PACKAGE_DIR.parent / "assets"

# System fonts only: offline networks have no web fonts, and these render well everywhere.
SYSTEM_FONTS = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", '
    '"Liberation Sans", Arial, sans-serif'
)
MONO_FONTS = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace'
THEME: dict[str, Any] = {
    "fontFamily": SYSTEM_FONTS,
    "fontFamilyMonospace": MONO_FONTS,
    "headings": {"fontFamily": SYSTEM_FONTS},
    "primaryColor": "blue",
    "defaultRadius": "sm",
}

# Component ids of the shell (constants, never repeated literals).
URL_ID = "shell-url"
NAV_ID = "shell-nav"
DATA_AS_OF_ID = "shell-data-as-of"
USER_ID = "shell-user"
HEADER_MENU_ID = "shell-header-menu"

ROLE_LABELS: dict[Role, str] = {
    Role.VIEWER: "Viewer",
    Role.ANALYST: "Analyst",
    Role.ADMIN: "Administrator",
}


def _aria(attributes: dict[str, str]) -> dict[str, Any]:
    """ARIA attributes for a Dash html component (its wildcard ``aria-*`` properties)."""
    return attributes


def page_language() -> str:
    """The language of the pages (``<html lang>``), the one place a later language switch
    (a setting, the user's choice, ``Accept-Language``) changes."""
    return "en"


SKIP_LINK = '<a class="ck-skip-link" href="#shell-main">Skip to main content</a>'


def first_paint_skeleton() -> str:
    """What the browser shows before the app's scripts have drawn the page: the header bar and
    grey blocks where the content comes, not a bare "Loading…" (static markup, no data)."""
    blocks = "".join('<span class="ck-skeleton-block"></span>' for _ in range(4))
    return (
        '<div class="ck-skeleton ck-skeleton-page" aria-busy="true">'
        '<div class="ck-skeleton-bar"></div>'
        '<div class="ck-skeleton-title"></div>'
        f'<div class="ck-skeleton-grid">{blocks}</div>'
        '<span class="sr-only" role="status">Loading the page</span>'
        "</div>"
    )


class CustomsDash(dash.Dash):
    """Dash with the product's page frame: ``<html lang>``, a skip link and a skeleton."""

    def interpolate_index(self, **kwargs: Any) -> Any:  # type: ignore[override]
        entry = kwargs.get("app_entry", "")
        kwargs["app_entry"] = re.sub(
            r'<div class="_dash-loading">\s*Loading\.\.\.\s*</div>', first_paint_skeleton(), entry
        )
        page = super().interpolate_index(**kwargs)
        body = page.replace("<body>", "<body>\n" + SKIP_LINK, 1)
        return body.replace("<html>", f'<html lang="{html_escape(page_language())}">', 1)


def create_app(
    settings: Settings,
    *,
    state: AppState | None = None,
    passwords: Passwords | None = None,
) -> dash.Dash:
    """The dashboard for ``settings``: pages, login, request guard, headers, shell callbacks.

    ``state`` and ``passwords`` default to the app-state database at ``settings.app_db_path``
    and argon2id with the library's recommended parameters; tests pass cheaper hashers.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    state = state or AppState(settings.app_db_path)
    passwords = passwords or Passwords()
    app = CustomsDash(
        "dashboard",
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        assets_folder=str(ASSETS_FOLDER),
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        title=PRODUCT_NAME,
        update_title=None,  # type: ignore[arg-type]  # None = keep the title (documented)
        # Pages build their layouts per request (functions), so callbacks refer to components
        # that are not in the initial layout.
        suppress_callback_exceptions=True,
        csrf_token_name=CSRF_COOKIE,
        csrf_header_name=CSRF_HEADER,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
        compress=False,  # enabled below, for scripts and style sheets only
    )
    _compress_static(app.server)
    app.layout = shell_layout
    _register_shell_callbacks(app)
    saved_views.register(app)
    install_auth(app, settings, state, passwords)
    _finish_setup(app)
    return app


# Only the bundles (plotly alone is 4.6 MB, 1.4 MB compressed): pages and callback answers are
# left alone, so no response carrying a CSRF token or reflecting input is compressed (BREACH).
COMPRESSED_TYPES = ["application/javascript", "text/javascript", "text/css"]


def _compress_static(server: Flask) -> None:
    """Compress scripts and style sheets (brotli, zstd or gzip, as the browser accepts)."""
    from flask_compress import Compress

    server.config.update(COMPRESS_MIMETYPES=COMPRESSED_TYPES, COMPRESS_MIN_SIZE=1024)
    Compress(server)


def wsgi() -> Flask:
    """The WSGI application for a production server, settings from ``CUSTOMS_KPI_*``.

    A factory (called by the server, never at import): ``gunicorn 'dashboard.app:wsgi()'`` or
    ``waitress-serve --call dashboard.app:wsgi``.
    """
    from customs_kpi.settings import load_settings

    settings = load_settings()
    settings.ensure_home()
    server: Flask = create_app(settings).server
    return server


def _finish_setup(app: dash.Dash) -> None:
    """Let Dash finish its own set-up now (it does so on the first request otherwise).

    Dash moves the callbacks that pages register with ``dash.callback`` into this app's
    ``callback_map`` and defines the page router on its first request. Doing it here means
    the app is complete when ``create_app`` returns: the request guard and the tests see
    every callback, and a second app built in the same process gets its own copy. The
    favicon is the one public URL, so this request needs no user.
    """
    with app.server.test_client() as client:
        response = client.get(app.config.routes_pathname_prefix + "_favicon.ico")
        if response.status_code != 200:
            raise RuntimeError(f"dashboard set-up request failed: {response.status_code}")


# --- Layout ---------------------------------------------------------------------------------------
def nav_pages(role: Role | None) -> list[dict[str, Any]]:
    """Registry entries of the pages in the navigation for ``role``, in their ``order``."""
    if role is None:
        return []
    pages = [
        page
        for page in dash.page_registry.values()
        if page.get("nav", True) is not False
        and not page.get("path_template")
        and role.covers(parse_role(page.get("min_role") or Role.VIEWER))
    ]
    return sorted(pages, key=lambda p: (p.get("order") is None, p.get("order") or 0, p["name"]))


def _is_active(page: dict[str, Any], pathname: str | None) -> bool:
    """The link of the page showing ``pathname`` (sub-pages such as a profile's detail light
    up their parent: /profiles/P1 → Profiles). No link is active while the path is unknown."""
    if pathname is None:
        return False
    path = pathname or "/"
    target = str(page.get("path") or "/")
    if target == "/":
        entry = page_entry(path)
        return entry is not None and entry.get("module") == page.get("module")
    return path == target or path.startswith(target.rstrip("/") + "/")


def nav_links(role: Role | None, pathname: str | None) -> list[Any]:
    links = []
    for page in nav_pages(role):
        active = _is_active(page, pathname)
        links.append(
            dcc.Link(
                page["name"],
                href=page["relative_path"],
                className="ck-nav-link" + (" ck-nav-link-active" if active else ""),
            )
        )
    return links


def _logout_form(csrf_token: str) -> html.Form:
    # A real form POST: logout works without JavaScript and carries the session's CSRF token.
    return html.Form(
        [
            dcc.Input(type="hidden", name=CSRF_FIELD, value=csrf_token),
            html.Button("Sign out", type="submit", className="ck-logout-button"),
        ],
        method="POST",
        action=LOGOUT_PATH,
        className="ck-logout-form",
    )


def _user_block() -> list[Any]:
    if not has_request_context() or not current_user.is_authenticated:
        return []
    offices = current_user.offices
    scope = f" · offices {', '.join(offices)}" if offices else ""
    return [
        html.Span(
            [
                html.Span(current_user.name, className="ck-user-name"),
                html.Span(f"{ROLE_LABELS[current_user.role]}{scope}", className="ck-user-role"),
            ],
            className="ck-user",
            title="Signed in",
        ),
        # A server-rendered page, not a Dash page: target _self keeps in-app link handlers
        # (which turn same-origin links into page-router navigation) away from it.
        saved_views.menu(),
        html.A("Password", href=PASSWORD_PATH, target="_self", className="ck-account-link"),
        _logout_form(current_user.csrf_token),
    ]


def _page_path() -> str | None:
    """The path of the page asking for the layout, from its same-origin ``Referer``.

    The layout is fetched by the page's script, so the request's own path is the layout's;
    the page's path lets the first paint light up the right link instead of waiting for
    the navigation callback. ``None`` when unknown (the callback then sets it).
    """
    if not has_request_context() or not request.referrer:
        return None
    referrer = urlsplit(request.referrer)
    if referrer.netloc != request.host:
        return None
    return referrer.path or "/"


def header() -> html.Header:
    role = current_user.role if has_request_context() and current_user.is_authenticated else None
    # Under 768 px the menu folds behind the burger button (assets/header.js toggles its
    # aria-expanded; the style sheet shows the menu that follows an expanded button).
    return html.Header(
        [
            dcc.Link(PRODUCT_NAME, href="/", className="ck-brand"),
            html.Button(
                [html.Span(className="ck-burger-icon", **_aria({"aria-hidden": "true"})), "Menu"],
                type="button",
                className="ck-burger",
                **_aria({"aria-expanded": "false", "aria-controls": HEADER_MENU_ID}),
            ),
            html.Div(
                [
                    html.Nav(
                        nav_links(role, _page_path()),
                        id=NAV_ID,
                        className="ck-nav",
                        **_aria({"aria-label": "Pages"}),
                    ),
                    html.Span(
                        id=DATA_AS_OF_ID, className="ck-data-as-of", title="Latest successful load"
                    ),
                    html.Div(_user_block(), id=USER_ID, className="ck-user-block"),
                ],
                id=HEADER_MENU_ID,
                className="ck-header-menu",
            ),
        ],
        className="ck-header",
    )


def shell_layout() -> Any:
    """The frame of every page, built per request (the header shows the signed-in user)."""
    return dmc.MantineProvider(
        html.Div(
            [
                dcc.Location(id=URL_ID, refresh=False),
                header(),
                # tabIndex -1: the skip link moves the keyboard focus here.
                html.Main(dash.page_container, className="ck-main", id="shell-main", tabIndex="-1"),
            ],
            className="ck-shell",
        ),
        theme=THEME,
        forceColorScheme="light",
    )


# --- Shell callbacks ------------------------------------------------------------------------------
def data_as_of_text(settings: Settings, now: datetime | None = None) -> str:
    """'Data as of …' of the current published version, for the header, with "· stale" when
    :func:`customs_kpi.published.freshness` (the Data page's verdict) says so."""
    from customs_kpi.published import (
        PublishedVersionError,
        current_version,
        freshness,
        publish_failure,
    )
    from dashboard.components.format import format_stamp

    try:
        published = current_version(settings)
    except PublishedVersionError:
        log.exception("the current published version is unreadable")
        return "Data: unavailable"
    if published is None or published.data_as_of is None:
        text = "No data loaded yet"
    else:
        text = f"Data as of {format_stamp(published.data_as_of)}"
        if freshness(published.data_as_of, settings.freshness_hours, now).stale:
            text += " · stale"
    # Publishing trouble (issue 11.1, 11.4): the data shown is older than the warehouse's.
    notice = getattr(published, "notice", None)
    if notice:
        log.warning("%s", notice)
        text += " · older version shown (published data pointer broken)"
    if publish_failure(settings) is not None:
        text += " · last publish failed: newer data not shown yet"
    return text


def _register_shell_callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output(NAV_ID, "children"),
        Output(DATA_AS_OF_ID, "children"),
        Input(URL_ID, "pathname"),
    )
    def refresh_header(pathname: str | None) -> tuple[list[Any], str]:
        # Re-read on every navigation: the role may have changed and a new published version may be
        # published since the page was loaded.
        from dashboard.context import current_settings

        role = current_user.role if current_user.is_authenticated else None
        return nav_links(role, pathname), data_as_of_text(current_settings())
