"""Checking a login attempt: throttling per (address, account), per account and per address,
locks that expire, audit rows (the policy: ``appstate.throttle.ThrottlePolicy``).

Growing delays are enforced by refusing attempts that come too early, answered "try again in
N s" (no sleeping in the server, which would let a few clients tie up every worker). Unknown
user names are throttled and answered exactly like known ones, so responses do not reveal which
accounts exist; they share a bounded number of salted buckets.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

from flask import request

from appstate import AppState
from appstate.throttle import normalise_name, pair_key
from appstate.users import User
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
                    "Sign-in is locked after repeated failures. Try again in "
                    f"{_duration(self.retry_after_seconds)}, or ask an administrator to unlock it."
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
    address = remote_address()
    now = time.time()
    user = state.find_user(name) if name else None
    account_key = normalise_name(user.name) if user else state.unknown_name_key(name)
    keys = (
        ("pair", pair_key(address, account_key)),
        ("account", account_key),
        ("address", address),
    )

    for kind, key in keys:
        throttle = state.throttle_state(kind, key, now)
        if throttle is None:
            continue
        if throttle.is_locked_at(now):
            outcome, reason, until = Outcome.LOCKED, "locked", throttle.locked_until or now
        elif now < throttle.next_allowed_at:
            outcome, reason, until = Outcome.THROTTLED, "throttled", throttle.next_allowed_at
        else:
            continue
        wait = math.ceil(until - now)
        audit(
            "login.refused",
            name,
            {"reason": reason, "by": kind, "wait_seconds": wait},
            user_name=name,
        )
        return LoginResult(outcome, retry_after_seconds=wait)

    # Verify even for unknown names (against a dummy hash) so timing does not tell them apart.
    if not passwords.verify(user.password_hash if user else None, password):
        return _record_failure(state, name, keys, now)
    assert user is not None
    if user.is_disabled:
        audit("login.failure", user.name, {"reason": "disabled"}, user_name=user.name)
        return LoginResult(Outcome.DISABLED)

    # The right password ends this account's delays; the address ceiling stays (a valid
    # account of its own must not let a sprayer reset it).
    state.clear_login_failures("pair", pair_key(address, account_key))
    state.clear_login_failures("account", account_key)
    if passwords.needs_rehash(user.password_hash):
        state.set_password_hash(
            user.name,
            passwords.hasher.hash(password),
            must_change_password=user.must_change_password,
        )
    return LoginResult(Outcome.OK, user=user)


def _record_failure(
    state: AppState, name: str, keys: tuple[tuple[str, str], ...], now: float
) -> LoginResult:
    recorded = [(kind, *state.record_login_failure(kind, key, now)) for kind, key in keys]
    pair = recorded[0][1]
    audit(
        "login.failure",
        name or None,
        {"reason": "bad credentials", "failures": pair.failures},
        user_name=name or None,
    )
    locked_until = 0.0
    for kind, throttle, just_locked in recorded:
        if not just_locked:
            continue
        details: dict[str, object] = {"by": kind, "failures": throttle.failures}
        if throttle.locked_until is not None:
            locked_until = max(locked_until, throttle.locked_until)
            details["locked_seconds"] = round(throttle.locked_until - now)
            audit("login.lockout", _target(throttle.key, kind), details, user_name=name or None)
        else:
            # Failures for one account from many addresses: delayed, never locked; said so.
            audit("login.alert", _target(throttle.key, kind), details, user_name=name or None)
    if locked_until:
        return LoginResult(Outcome.LOCKED, retry_after_seconds=math.ceil(locked_until - now))
    wait = max(throttle.next_allowed_at for _, throttle, _ in recorded) - now
    return LoginResult(Outcome.BAD_CREDENTIALS, retry_after_seconds=max(0, math.ceil(wait)))


def _target(key: str, kind: str) -> str:
    """What an audit row names: the account (of a pair, too) or the address."""
    if kind == "pair":
        return key.split("|", 1)[1]
    return key
