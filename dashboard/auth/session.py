"""Server-side sessions behind flask-login, with idle and absolute time-outs.

The browser's (signed, HttpOnly) session cookie carries only a random session token; the
session itself lives in the app-state database, so logging out, disabling a user or resetting a
password ends it everywhere at once, and a role change applies on the next request. The token
is what flask-login calls the user id ("alternative token" pattern), so its user loader is
where time-outs are enforced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import g, request
from flask_login import UserMixin

from appstate.audit import Actor
from appstate.roles import Role
from appstate.sessions import SessionRecord
from appstate.users import User
from dashboard.context import current_settings, current_state

# last_seen_at is written at most this often per session (fewer SQLite writes per callback
# burst); idle time-outs are therefore exact to within this many seconds.
TOUCH_INTERVAL_SECONDS = 10.0

# Requests that report on a session without counting as activity (the expiry poll).
PASSIVE_ENDPOINTS = frozenset({"auth.session_status"})


class SessionUser(UserMixin):
    """The logged-in user of one request: the user row plus the session it came with."""

    def __init__(self, user: User, record: SessionRecord, token: str) -> None:
        self.user = user
        self.record = record
        self.token = token

    def get_id(self) -> str:
        return self.token

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def offices(self) -> tuple[str, ...]:
        return self.user.offices

    @property
    def scope(self) -> frozenset[str] | None:
        return self.user.scope

    @property
    def csrf_token(self) -> str:
        return self.record.csrf_token


@dataclass(frozen=True)
class Expiry:
    idle_seconds_left: float
    absolute_seconds_left: float


def expiry_of(record: SessionRecord, now: float) -> Expiry:
    settings = current_settings()
    idle = settings.idle_timeout_minutes * 60.0
    absolute = settings.absolute_timeout_hours * 3600.0
    return Expiry(
        idle_seconds_left=record.last_seen_at + idle - now,
        absolute_seconds_left=record.created_at + absolute - now,
    )


def load_session_user(token: str) -> SessionUser | None:
    """flask-login's user loader: the live session behind ``token``, or None (anonymous)."""
    state = current_state()
    record = state.get_session(token)
    if record is None:
        return None
    if record.ended_at is not None:
        # Logging out clears the cookie, so an ended session seen here has timed out or been
        # ended by an admin: the login page says so.
        g.session_expired = True
        return None
    now = time.time()
    expiry = expiry_of(record, now)
    reason = None
    if expiry.absolute_seconds_left <= 0:
        reason = "absolute timeout"
    elif expiry.idle_seconds_left <= 0:
        reason = "idle timeout"
    user = state.user_by_id(record.user_id)
    if reason is None and (user is None or user.is_disabled):
        reason = "user disabled"
    if reason is not None:
        if state.end_session(record.session_hash, reason) and user is not None:
            state.record_audit(
                "session.expired" if "timeout" in reason else "session.ended",
                Actor(user.name, user.role.value, request.remote_addr),
                user.name,
                {"reason": reason},
            )
        g.session_expired = True
        return None
    assert user is not None
    if (
        request.endpoint not in PASSIVE_ENDPOINTS
        and now - record.last_seen_at >= TOUCH_INTERVAL_SECONDS
    ):
        state.touch_session(record.session_hash, now)
    return SessionUser(user, record, token)


def session_just_expired() -> bool:
    """True when this request came with a session that has just timed out or been ended."""
    return bool(g.get("session_expired", False))
