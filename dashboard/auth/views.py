"""Login, logout and session-status routes (server-rendered HTML forms, no JavaScript needed)."""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, jsonify, redirect, render_template, request, session
from flask_login import current_user, login_user, logout_user

from dashboard.audit import audit
from dashboard.auth.csrf import CSRF_FIELD, login_form_token
from dashboard.auth.login import LoginResult, Outcome, attempt_login
from dashboard.auth.session import SessionUser, expiry_of
from dashboard.context import current_settings, current_state

bp = Blueprint("auth", __name__, template_folder="templates")

PRODUCT_NAME = "Customs KPI"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
PASSWORD_PATH = "/account/password"  # the user's own password (dashboard.auth.account)
STATUS_PATH = "/auth/session"
KEEPALIVE_PATH = "/auth/keepalive"

_STATUS_CODES = {
    Outcome.BAD_CREDENTIALS: 401,
    Outcome.THROTTLED: 429,
    Outcome.LOCKED: 403,
    Outcome.DISABLED: 403,
}


def safe_next(value: str | None) -> str:
    """A local path to go to after login; anything else (other hosts, odd schemes, control
    characters such as CR/LF, which cannot go into a Location header) is '/'."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in (LOGIN_PATH, LOGOUT_PATH):
        return "/"
    return value


def login_url(next_path: str | None = None, *, expired: bool = False) -> str:
    params: dict[str, str] = {}
    if next_path and safe_next(next_path) != "/":
        params["next"] = safe_next(next_path)
    if expired:
        params["expired"] = "1"
    return LOGIN_PATH + ("?" + urlencode(params) if params else "")


def render_login(
    next_path: str, *, error: str | None = None, info: str | None = None, status: int = 200
) -> Response:
    html = render_template(
        "login.html",
        product=PRODUCT_NAME,
        csrf_field=CSRF_FIELD,
        csrf_token=login_form_token(),
        next_path=next_path,
        error=error,
        info=info,
    )
    return Response(html, status=status, mimetype="text/html")


def render_message(title: str, message: str, status: int) -> Response:
    html = render_template("message.html", product=PRODUCT_NAME, title=title, message=message)
    return Response(html, status=status, mimetype="text/html")


@bp.route(LOGIN_PATH, methods=["GET", "POST"])
def login() -> Response:
    next_path = safe_next(request.values.get("next"))
    if request.method != "POST":
        # GET, or HEAD (Flask answers HEAD with this view too): never a sign-in attempt.
        if current_user.is_authenticated:
            return redirect(next_path)  # type: ignore[return-value]
        info = None
        if request.args.get("expired"):
            info = "Your session has ended. Please sign in again."
        elif request.args.get("signed_out"):
            info = "You are signed out."
        return render_login(next_path, info=info)

    # The request guard has already checked the CSRF token of this form.
    result = attempt_login(request.form.get("username", ""), request.form.get("password", ""))
    if result.outcome is not Outcome.OK:
        return _refused(result, next_path)
    assert result.user is not None
    state = current_state()
    token, record = state.create_session(
        result.user.user_id, request.remote_addr, request.headers.get("User-Agent")
    )
    # A fresh cookie for the new session: nothing from the anonymous one carries over.
    session.clear()
    login_user(SessionUser(result.user, record, token))
    state.record_login(result.user.user_id)
    details: dict[str, object] = {"role": result.user.role.value}
    if result.user.must_change_password:
        details["must_change_password"] = True
    audit("login.success", result.user.name, details)
    _purge_old_sessions()
    if result.user.must_change_password:
        # A password an administrator handed out: the user replaces it before anything else.
        return redirect(PASSWORD_PATH)  # type: ignore[return-value]
    return redirect(next_path)  # type: ignore[return-value]


def _refused(result: LoginResult, next_path: str) -> Response:
    response = render_login(
        next_path, error=result.message, status=_STATUS_CODES.get(result.outcome, 401)
    )
    if result.retry_after_seconds:
        response.headers["Retry-After"] = str(result.retry_after_seconds)
    return response


def _purge_old_sessions() -> None:
    settings = current_settings()
    keep_seconds = settings.absolute_timeout_hours * 3600 + 7 * 24 * 3600
    current_state().purge_sessions(time.time() - keep_seconds)


@bp.route(LOGOUT_PATH, methods=["POST"])
def logout() -> Response:
    if current_user.is_authenticated:
        # The request guard has checked this form's CSRF token against the session's.
        current_state().end_session(current_user.record.session_hash, "logout")
        audit("logout", current_user.name)
        logout_user()
    session.clear()
    return redirect(LOGIN_PATH + "?signed_out=1")  # type: ignore[return-value]


@bp.route(STATUS_PATH, methods=["GET"])
def session_status() -> Response:
    """Seconds left before the session ends; polled by assets/session.js without extending it."""
    return _status(current_user.record.last_seen_at)


@bp.route(KEEPALIVE_PATH, methods=["POST"])
def keepalive() -> Response:
    """'Stay signed in': counts as activity (CSRF-checked by the guard like every POST)."""
    now = time.time()
    current_state().touch_session(current_user.record.session_hash, now)
    return _status(now)


def _status(last_seen_at: float) -> Response:
    record = current_user.record
    expiry = expiry_of(replace(record, last_seen_at=last_seen_at), time.time())
    return jsonify(
        authenticated=True,
        user=current_user.name,
        idle_seconds_left=max(0, int(expiry.idle_seconds_left)),
        absolute_seconds_left=max(0, int(expiry.absolute_seconds_left)),
    )
