"""Checking a login attempt: throttling per account and per address, lock-out, audit rows.

Growing delays are enforced by refusing attempts that come too early (no sleeping in the
server, which would let a few clients tie up every worker). Unknown user names are throttled
and answered exactly like known ones, so responses do not reveal which accounts exist.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

from flask import request

from dashboard.appstate import User, normalise_name
from dashboard.audit import audit
from dashboard.context import current_passwords, current_state

MAX_NAME_LENGTH = 64


class Outcome(StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    THROTTLED = "throttled"
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    user: User | None = None
    retry_after_seconds: int = 0

    @property
    def message(self) -> str:
        match self.outcome:
            case Outcome.OK:
                return ""
            case Outcome.BAD_CREDENTIALS:
                if self.retry_after_seconds:
                    return (
                        "Wrong user name or password. Wait "
                        f"{_duration(self.retry_after_seconds)} before trying again."
                    )
                return "Wrong user name or password."
            case Outcome.THROTTLED:
                return (
                    "Too many failed sign-ins. Wait "
                    f"{_duration(self.retry_after_seconds)} before trying again."
                )
            case Outcome.LOCKED:
                return (
                    "Sign-in is locked after repeated failures. Ask an administrator to unlock it."
                )
            case Outcome.DISABLED:
                return "This account is disabled. Ask an administrator."


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def remote_address() -> str:
    return request.remote_addr or "unknown"


def attempt_login(name: str, password: str) -> LoginResult:
    """Check one attempt and record it; on OK the caller starts the session."""
    state = current_state()
    passwords = current_passwords()
    name = name.strip()[:MAX_NAME_LENGTH]
    account_key = normalise_name(name)
    address = remote_address()
    now = time.time()

    for kind, key in (("account", account_key), ("address", address)):
        throttle = state.throttle_state(kind, key)
        if throttle is None:
            continue
        if throttle.is_locked:
            audit("login.refused", name, {"reason": "locked", "by": kind}, user_name=name)
            return LoginResult(Outcome.LOCKED)
        if now < throttle.next_allowed_at:
            wait = math.ceil(throttle.next_allowed_at - now)
            audit(
                "login.refused",
                name,
                {"reason": "throttled", "by": kind, "wait_seconds": wait},
                user_name=name,
            )
            return LoginResult(Outcome.THROTTLED, retry_after_seconds=wait)

    user = state.find_user(name) if name else None
    # Verify even for unknown names (against a dummy hash) so timing does not tell them apart.
    if not passwords.verify(user.password_hash if user else None, password):
        return _record_failure(name, account_key, address, now)
    assert user is not None
    if user.is_disabled:
        audit("login.failure", user.name, {"reason": "disabled"}, user_name=user.name)
        return LoginResult(Outcome.DISABLED)

    state.clear_login_failures("account", account_key)
    state.clear_login_failures("address", address)
    if passwords.needs_rehash(user.password_hash):
        state.set_password_hash(
            user.name,
            passwords.hasher.hash(password),
            must_change_password=user.must_change_password,
        )
    return LoginResult(Outcome.OK, user=user)


def _record_failure(name: str, account_key: str, address: str, now: float) -> LoginResult:
    state = current_state()
    account, account_locked = state.record_login_failure("account", account_key, now)
    addr, address_locked = state.record_login_failure("address", address, now)
    audit(
        "login.failure",
        name or None,
        {"reason": "bad credentials", "failures": account.failures},
        user_name=name or None,
    )
    for locked, kind, key, failures in (
        (account_locked, "account", account_key, account.failures),
        (address_locked, "address", address, addr.failures),
    ):
        if locked:
            audit("login.lockout", key, {"by": kind, "failures": failures}, user_name=name or None)
    if account_locked or address_locked:
        return LoginResult(Outcome.LOCKED)
    wait = max(account.next_allowed_at, addr.next_allowed_at) - now
    return LoginResult(Outcome.BAD_CREDENTIALS, retry_after_seconds=max(0, math.ceil(wait)))
