"""The request guard: runs before EVERY Flask request of the app.

* Public: the login/logout routes and the few static files the login page needs.
* Anonymous: pages redirect to /login?next=…; everything else (Dash API, callbacks, assets,
  downloads, any route a page author adds) answers 401 JSON. New routes are therefore closed
  by default.
* A method a route does not take (PUT, PATCH, DELETE …; routes take GET and/or POST) is 405.
* State-changing requests (any method but GET/HEAD/OPTIONS) need the session's CSRF token and,
  when the browser sends one, a same-origin Origin (scheme and host).
* Roles: a page GET or a callback POST needs the role of the page (or callback) behind it. A
  callback request is read as Dash binds it, by position: its inputs and state must be the
  callback's declared ones, in order, and the page router's pathname is taken from its place.
* A user whose password an administrator set must change it first: pages redirect to the
  password page, everything else but that page and sign-out answers 403 JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dash
from flask import Response, jsonify, redirect, request
from flask_login import current_user
from werkzeug.exceptions import MethodNotAllowed

from appstate.roles import Role
from dashboard.access import callback_role, page_role
from dashboard.audit import audit
from dashboard.auth.account import HTML_ENDPOINTS, PASSWORD_PATH
from dashboard.auth.csrf import SAFE_METHODS, origin_is_same, token_is_valid
from dashboard.auth.session import session_just_expired
from dashboard.auth.views import LOGIN_PATH, LOGOUT_PATH, login_url, render_message

log = logging.getLogger(__name__)

# Static files the login page uses: served to anyone.
PUBLIC_PATHS = frozenset({"/assets/app.css", "/_favicon.ico"})
PUBLIC_ENDPOINTS = frozenset({"auth.login", "auth.logout"})
# What a user who must change their password may reach (besides the public endpoints).
PASSWORD_CHANGE_ENDPOINTS = frozenset({"account.change_password"})
MUST_CHANGE_ERROR = "password change required"
# The dcc.Location of dash.page_container (dash._pages).
PAGES_LOCATION_ID = "_pages_location"


def _json(status: int, error: str, **extra: object) -> Response:
    response = jsonify(error=error, **extra)
    response.status_code = status
    return response


def make_guard(app: dash.Dash) -> Callable[[], Response | None]:
    prefix = app.config.routes_pathname_prefix
    page_rules = frozenset({prefix, prefix + "<path:path>"})
    dispatch_path = prefix + "_dash-update-component"

    def guard() -> Response | None:
        if isinstance(request.routing_exception, MethodNotAllowed):
            # Routes take only the methods they mean (GET/POST): anything else is 405 for
            # everyone, before any view could read a body.
            raise request.routing_exception
        rule = request.url_rule
        is_page = request.method in ("GET", "HEAD") and (
            (rule is not None and rule.rule in page_rules) or request.endpoint in HTML_ENDPOINTS
        )
        if request.endpoint in PUBLIC_ENDPOINTS or request.path in PUBLIC_PATHS:
            return _check_public()
        if not current_user.is_authenticated:
            expired = session_just_expired()
            if is_page:
                return redirect(login_url(request.full_path.rstrip("?"), expired=expired))  # type: ignore[return-value]
            return _json(
                401,
                "session expired" if expired else "authentication required",
                login=login_url(expired=True),
            )
        if request.method not in SAFE_METHODS and not _csrf_ok():
            return _csrf_refused()
        if current_user.user.must_change_password:
            return _check_password_change(is_page)
        if is_page:
            return _check_page()
        if request.path == dispatch_path and request.method == "POST":
            return _check_callback(app)
        return None

    return guard


def _check_public() -> Response | None:
    if request.method in SAFE_METHODS:
        return None
    if request.endpoint == "auth.logout" and not current_user.is_authenticated:
        return None  # nothing to end: the view just sends the browser to the login page
    if not _csrf_ok():
        if request.endpoint == "auth.login":
            from dashboard.auth.views import render_login, safe_next

            audit("csrf.refused", request.path)
            return render_login(
                safe_next(request.form.get("next")),
                error="The sign-in form had expired. Please try again.",
                status=403,
            )
        return _csrf_refused()
    return None


def _csrf_ok() -> bool:
    return origin_is_same() and token_is_valid()


def _csrf_refused() -> Response:
    audit("csrf.refused", request.path, {"method": request.method})
    if request.path in (LOGIN_PATH, LOGOUT_PATH) or request.mimetype != "application/json":
        return render_message(
            "Request refused",
            "The form was missing its security token or it had expired. Reload the page and "
            "try again.",
            403,
        )
    return _json(403, "missing or invalid CSRF token")


def _check_password_change(is_page: bool) -> Response | None:
    """Only the password page until the user has replaced the password an admin handed out."""
    if request.endpoint in PASSWORD_CHANGE_ENDPOINTS:
        return None
    if is_page:
        return redirect(PASSWORD_PATH)  # type: ignore[return-value]
    return _json(403, MUST_CHANGE_ERROR, password=PASSWORD_PATH)


def _check_page() -> Response | None:
    required = page_role(request.path)
    if current_user.role.covers(required):
        return None
    audit("access.denied", request.path, {"required": required.value})
    return render_message(
        "Not available", "Your role does not give access to this page.", status=403
    )


def _check_callback(app: dash.Dash) -> Response | None:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return _json(400, "malformed callback request")
    output = body["output"]
    required = callback_role(app, output)
    if required is None:
        log.warning("callback request for unknown output %r from %s", output, current_user.name)
        return _json(400, "unknown callback")
    bound = _bound_arguments(app.callback_map[output], body)
    if bound is None:
        log.warning(
            "callback request for %r with mismatched inputs from %s", output, current_user.name
        )
        return _json(400, "malformed callback request")
    routed = _routed_page_role(bound)
    if routed is not None and routed.covers(required):
        # Dash's page router renders the layout of whatever path the browser names: it needs
        # the role of that page, not just of the router.
        required = routed
    if current_user.role.covers(required):
        return None
    audit("access.denied", output, {"required": required.value, "kind": "callback"})
    return _json(403, "your role does not allow this action", required=required.value)


def _bound_arguments(
    entry: dict[str, Any], body: dict[str, Any]
) -> list[tuple[dict[str, Any], object]] | None:
    """(declared spec, submitted entry) for each argument, paired the way Dash binds them.

    Dash hands the callback ``inputs + state`` by position and never looks at the ids the
    request names, so the request is read the same way: each declared input and state is paired
    with the submitted entry at its position. A request whose entries do not match the declared
    ones (count, or the id and property of a plain, non-pattern input) is refused: it was not
    built by the renderer.
    """
    pairs: list[tuple[dict[str, Any], object]] = []
    for group in ("inputs", "state"):
        declared = entry.get(group) or []
        submitted = body.get(group, [])
        if not isinstance(submitted, list) or len(submitted) != len(declared):
            return None
        for spec, item in zip(declared, submitted, strict=True):
            if not _matches(spec, item):
                return None
            pairs.append((spec, item))
    return pairs


def _matches(spec: dict[str, Any], item: object) -> bool:
    spec_id = spec.get("id")
    if isinstance(spec_id, str) and spec_id.startswith("{"):
        # A pattern-matching input: one entry (MATCH) or a list of entries (ALL, ALLSMALLER)
        # with concrete ids; the renderer fills in which components match.
        entries = item if isinstance(item, list) else [item]
        return all(
            isinstance(e, dict) and e.get("property") == spec.get("property") for e in entries
        )
    return (
        isinstance(item, dict)
        and item.get("id") == spec_id
        and item.get("property") == spec.get("property")
    )


def _routed_page_role(bound: list[tuple[dict[str, Any], object]]) -> Role | None:
    """The role of the page a callback request names through Dash's page location.

    Any callback reading the router's ``pathname`` (Dash's own router, or a page's) is held to
    the role of the page at that path, so a crafted pathname cannot fetch a higher page's layout.
    The value is the one Dash will pass for that argument (by position), whatever the request
    labels it; several such arguments are held to the highest of their pages.
    """
    roles = []
    for spec, item in bound:
        if spec.get("id") == PAGES_LOCATION_ID and spec.get("property") == "pathname":
            value = item.get("value") if isinstance(item, dict) else None
            roles.append(page_role(value if isinstance(value, str) else "/"))
    if not roles:
        return None
    return max(roles, key=lambda role: role.rank)
