"""Wires authentication, the request guard, CSRF and security headers into a Dash app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
from dash.exceptions import DependencyException
from flask import Flask, Response, request
from flask_login import LoginManager, current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

from appstate import AppState
from appstate.passwords import Passwords
from customs_kpi.settings import Settings
from dashboard.auth.account import account_bp
from dashboard.auth.csrf import CSRF_COOKIE
from dashboard.auth.guard import make_guard
from dashboard.auth.headers import apply_security_headers, content_security_policy
from dashboard.auth.secret import load_or_create_secret_key
from dashboard.auth.session import load_session_user
from dashboard.auth.views import bp
from dashboard.context import attach

SESSION_COOKIE = "customs_kpi_session"
PRODUCT_SERVER = "customs-kpi"  # the development server's Server header (no versions)
# Callback payloads carry whole tables for some components; anything bigger is refused.
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def install_auth(app: dash.Dash, settings: Settings, state: AppState, passwords: Passwords) -> None:
    server = app.server
    server.secret_key = load_or_create_secret_key(settings.secret_key_path)
    server.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # A browser-session cookie: closing the browser on a shared office PC ends the session.
        SESSION_PERMANENT=False,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    attach(server, settings, state, passwords)
    if settings.proxy_hops > 0:
        # Behind a proxy every request comes from the proxy: without this, one address would
        # collect everybody's failed sign-ins and the audit trail would name only the proxy.
        # Only as many hops as configured are trusted, so clients cannot forge their address.
        hops = settings.proxy_hops
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    login_manager = LoginManager()
    # Our sessions are server-side with their own time-outs; flask-login's IP/agent hashing
    # would only log out tablets whose address changes.
    login_manager.session_protection = None
    login_manager.user_loader(load_session_user)
    login_manager.init_app(server)

    server.register_error_handler(DependencyException, _not_found)
    _quiet_development_server(server)

    server.register_blueprint(bp)
    server.register_blueprint(account_bp)
    server.before_request(make_guard(app))
    server.after_request(_csrf_cookie(settings))
    server.after_request(_security_headers(app, settings))


def _not_found(_exc: Exception) -> Response:
    """An unknown file under /_dash-component-suites/ (Dash raises; that was a 500)."""
    return Response("Not found\n", status=404, mimetype="text/plain")


class QuietRequestHandler(WSGIRequestHandler):
    """The development server's handler without its version banner (``Server: Werkzeug/3.1.9
    Python/3.11.2`` tells an attacker which known flaws to try)."""

    def version_string(self) -> str:
        return PRODUCT_SERVER


def _quiet_development_server(server: Flask) -> None:
    """``app.run`` (``customs-kpi serve`` without workers) uses :class:`QuietRequestHandler`."""
    run = server.run

    def run_quietly(*args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("request_handler", QuietRequestHandler)
        run(*args, **kwargs)

    server.run = run_quietly  # type: ignore[method-assign]


def _csrf_cookie(settings: Settings) -> Callable[[Response], Response]:
    def set_cookie(response: Response) -> Response:
        if current_user.is_authenticated:
            token = current_user.csrf_token
            if request.cookies.get(CSRF_COOKIE) != token:
                # Readable by scripts on purpose: Dash's renderer echoes it as a header.
                response.set_cookie(
                    CSRF_COOKIE,
                    token,
                    path="/",
                    secure=settings.secure_cookies,
                    httponly=False,
                    samesite="Strict",
                )
        elif CSRF_COOKIE in request.cookies:
            response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    return set_cookie


def _security_headers(app: dash.Dash, settings: Settings) -> Callable[[Response], Response]:
    cache: dict[str, str] = {}

    def policy() -> str:
        # The inline scripts Dash writes are known once its first request has set it up
        # (create_app does that), so the hashes are computed once.
        if "csp" not in cache:
            cache["csp"] = content_security_policy(app.csp_hashes())
        return cache["csp"]

    def add_headers(response: Response) -> Response:
        return apply_security_headers(response, policy(), https=settings.secure_cookies)

    return add_headers
