"""CSRF tokens: per session (synchroniser token), checked on every state-changing request.

Logged-in users: the token lives in the server-side session row. The browser gets it in a
readable cookie (``_csrf_token``): Dash's renderer sends that cookie's value back as the
``X-CSRFToken`` header on every callback POST, and assets/session.js does the same for other
same-origin requests; server-rendered forms carry it in a hidden ``csrf_token`` field. The
server compares against the session's own copy, so a cookie planted by another site (cookie
tossing) does not help an attacker.

Before login: the login form's token lives in the signed Flask session cookie.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import request, session
from flask_login import current_user

CSRF_COOKIE = "_csrf_token"  # the name Dash's renderer reads (Dash(csrf_token_name=...))
CSRF_HEADER = "X-CSRFToken"  # the header it sends (Dash(csrf_header_name=...))
CSRF_FIELD = "csrf_token"  # hidden field of server-rendered forms
_LOGIN_KEY = "_login_csrf"

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def login_form_token() -> str:
    """The token for an anonymous form (the login page), created on first use."""
    token = session.get(_LOGIN_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[_LOGIN_KEY] = token
    return str(token)


def expected_token() -> str | None:
    if current_user.is_authenticated:
        return str(current_user.csrf_token)
    token = session.get(_LOGIN_KEY)
    return str(token) if token else None


def submitted_token() -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if not token and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        token = request.form.get(CSRF_FIELD)
    return token or None


def token_is_valid() -> bool:
    expected = expected_token()
    submitted = submitted_token()
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def origin_is_same() -> bool:
    """A present Origin header must name this server (a second check against cross-site posts)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return (
        parts.scheme.lower() == expected_scheme() and parts.netloc.lower() == request.host.lower()
    )


def expected_scheme() -> str:
    """The scheme the browser uses: https when the site is served over HTTPS (secure cookies:
    a TLS-terminating proxy in front, whether or not it says so), else the request's own
    (behind a trusted proxy, ProxyFix has set it from X-Forwarded-Proto)."""
    from dashboard.context import current_settings

    if current_settings().secure_cookies:
        return "https"
    return request.scheme.lower()
