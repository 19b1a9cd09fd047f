"""The audit trail: who did what, when, from where.

Page code calls :func:`audit` for every export, download, profile review decision and load
triggered from the UI; the auth layer records logins, logouts, lock-outs and user changes.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from dashboard.context import current_state

log = logging.getLogger(__name__)


def audit(
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    user_name: str | None = None,
) -> int:
    """Record ``action`` (dotted, e.g. ``"export.csv"``) on ``target`` by the current user.

    Call it inside a request or callback: the user, their role and the remote address come
    from the request. ``user_name`` names the actor when nobody is logged in yet (failed login).
    Returns the audit row id.
    """
    role: str | None = None
    remote_addr: str | None = None
    if has_request_context():
        remote_addr = request.remote_addr
        if current_user.is_authenticated:
            user_name = current_user.name
            role = current_user.role.value
    entry_id = current_state().record_audit(
        action,
        user_name=user_name,
        role=role,
        remote_addr=remote_addr,
        target=target,
        details=details,
    )
    log.info("audit %s target=%s user=%s addr=%s", action, target, user_name, remote_addr)
    return entry_id
