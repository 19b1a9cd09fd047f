"""The signed-in user's own account: changing their password (server-rendered form).

Administrators hand out random passwords (the Users page, ``customs-kpi users add`` /
``reset-password``); this is where users replace them. Such a user must do it first: the request
guard sends them here from every page and refuses everything else until the password is changed.
The current password is checked like a sign-in (same throttling and lock-out), so a borrowed
session cannot be turned into the password itself.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from appstate.passwords import MIN_PASSWORD_LENGTH, check_new_password
from dashboard.audit import audit
from dashboard.auth.csrf import CSRF_FIELD
from dashboard.auth.login import Outcome, attempt_login
from dashboard.auth.views import LOGOUT_PATH, PASSWORD_PATH, PRODUCT_NAME
from dashboard.context import current_passwords, current_state

account_bp = Blueprint("account", __name__, template_folder="templates")

# Server-rendered pages of this blueprint: anonymous visitors are sent to the sign-in page.
HTML_ENDPOINTS = frozenset({"account.change_password"})


def _render(
    *,
    error: str | None = None,
    info: str | None = None,
    status: int = 200,
    must_change: bool | None = None,
) -> Response:
    if must_change is None:
        must_change = current_user.user.must_change_password
    html = render_template(
        "password.html",
        product=PRODUCT_NAME,
        action=PASSWORD_PATH,
        logout_action=LOGOUT_PATH,
        user_name=current_user.name,
        csrf_field=CSRF_FIELD,
        csrf_token=current_user.csrf_token,
        min_length=MIN_PASSWORD_LENGTH,
        must_change=must_change,
        error=error,
        info=info,
    )
    return Response(html, status=status, mimetype="text/html")


@account_bp.route(PASSWORD_PATH, methods=["GET", "POST"])
def change_password() -> Response:
    # The request guard has made sure someone is signed in and checked this form's CSRF token.
    if request.method != "POST":
        return _render()  # GET, or HEAD: Flask answers it with this view, never a change
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return _render(error="The two new passwords differ.", status=400)
    if new == current:
        return _render(error="The new password must differ from the current one.", status=400)
    try:
        check_new_password(new)
    except ValueError as exc:
        return _render(error=f"Not changed: {exc}.", status=400)
    result = attempt_login(current_user.name, current)
    if result.outcome is not Outcome.OK:
        if result.outcome is Outcome.BAD_CREDENTIALS:
            message = "The current password is wrong."
            if result.retry_after_seconds:
                message += f" Wait {result.retry_after_seconds} seconds before trying again."
            return _render(error=message, status=403)
        return _render(error=result.message, status=403)
    state = current_state()
    state.set_password_hash(
        current_user.name,
        current_passwords().hash(new),
        must_change_password=False,
    )
    # Whoever else may know the old password is signed out; this browser stays signed in.
    ended = state.end_other_sessions(
        current_user.user.user_id, current_user.record.session_hash, "password changed"
    )
    audit("user.password_change", current_user.name, {"other_sessions_ended": ended})
    return _render(
        info="Your password has been changed. Other sessions have been signed out.",
        must_change=False,
    )
