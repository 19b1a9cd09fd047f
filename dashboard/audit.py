"""The web side of the audit trail (``appstate.audit``): the actor comes from the request.

Page code calls :func:`audit` for every export, download, profile review decision and load
triggered from the UI; the auth layer records logins, logouts, lock-outs and user changes.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from appstate.audit import Actor
from dashboard.context import current_state


def request_actor(user_name: str | None = None) -> Actor:
    """The signed-in user of the current request, with role and remote address.
    ``user_name`` names the actor when nobody is signed in yet (a failed sign-in)."""
    role: str | None = None
    remote_addr: str | None = None
    if has_request_context():
        remote_addr = request.remote_addr
        if current_user.is_authenticated:
            user_name = current_user.name
            role = current_user.role.value
    return Actor(user_name, role, remote_addr)


def audit(
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    user_name: str | None = None,
) -> int:
    """Record ``action`` (dotted, e.g. ``"export.csv"``) on ``target`` by the current user
    (inside a request or callback); the audit row id."""
    return current_state().record_audit(action, request_actor(user_name), target, details)
